import { SdsError } from '../core/errors.js';
import { loadWeights, type Model } from '../models/index.js';
import { SurrogatePaths, VariantModel, type Variant } from './variants.js';

/** The explained model for a variant: loads surrogate paths when the variant needs them. */
export async function explainedModel(model: Model, variant: Variant, surrogatePath?: string): Promise<{ model: Model; surrogate?: SurrogatePaths }> {
  if (variant !== 'surrogate') return { model: new VariantModel(model, variant) };
  if (!surrogatePath) {
    throw new SdsError('BAD_ARGUMENT', 'the surrogate variant needs trained surrogate paths', {
      suggestion: 'pass --surrogate PATHS.safetensors (made by `sds train-surrogate`)',
    });
  }
  const w = await loadWeights(surrogatePath);
  const surrogate = SurrogatePaths.fromStateDict(model, w.tensors, w.source);
  return { model: new VariantModel(model, variant, surrogate), surrogate };
}
