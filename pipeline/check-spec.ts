/**
 * The checks of an analysis spec that need the model: its layers exist, and every patch's map lands
 * on whole overlay pixels. One function, so the CLI, the server (400 naming the field) and queue
 * planning refuse the same requests with the same words.
 */
import { SdsError } from '../core/errors.js';
import { defaultOverlap, type AnalysisSpec } from '../contracts/index.js';
import type { ModelDescription } from '../models/index.js';

/** A patch and overlap that a layer of `s` px per value takes: the nearest multiple of s, with its default overlap for that scale. */
function suggestPatch(patch: number, s: number): string {
  const p = Math.max(s, Math.round(patch / s) * s);
  return `e.g. patch ${p}, overlap ${defaultOverlap(p, s)} (or 0)`;
}

export function checkSpec(model: ModelDescription, spec: Pick<AnalysisSpec, 'layers' | 'methods' | 'variants' | 'patch' | 'overlap' | 'surrogate' | 'target'>): void {
  const bad = (field: string, message: string, suggestion?: string) => new SdsError('BAD_ARGUMENT', `${field}: ${message}`, { suggestion, context: { field } });
  const lists: [string, readonly string[]][] = [['layers', spec.layers], ['methods', spec.methods], ['variants', spec.variants]];
  for (const [field, list] of lists) {
    const dup = list.find((v, i) => list.indexOf(v) !== i);
    if (dup) throw bad(field, `"${dup}" is given twice`);
  }
  for (const l of spec.layers) {
    if (!model.layers.includes(l)) throw bad('layers', `${model.arch === 'onnx' ? 'the model' : model.arch} has no layer "${l}"`, `use one of: ${model.layers.join(', ')} (sds layers <weights> lists them with their shapes)`);
  }
  if (spec.methods.includes('deeplift') && model.deepLiftObstacle) {
    throw bad('methods', `DeepLift (Rescale) needs a network whose only nonlinearities are ReLUs; this model has ${model.deepLiftObstacle}`, 'use grad or ig for this model');
  }
  if (spec.variants.includes('surrogate') && !spec.surrogate && model.hookPoints.length > 1) throw bad('variants', 'the surrogate variant needs surrogate paths', 'give the surrogate weights (sds train-surrogate makes them), or leave out "surrogate"');
  if (spec.target !== undefined && spec.target >= model.numClasses) throw bad('target', `class ${spec.target} does not exist (the model has ${model.numClasses})`, `use 0..${model.numClasses - 1}`);
  if (model.fixedPatch !== undefined && spec.patch !== model.fixedPatch) {
    throw bad('patch', `the model runs only on ${model.fixedPatch} px patches (its ONNX graph has fixed dimensions), not ${spec.patch}`, `use patch ${model.fixedPatch}, or export the model with dynamic height and width`);
  }
  const stride = spec.patch - spec.overlap;
  if (stride <= 0) throw bad('overlap', `${spec.overlap} must be smaller than patch ${spec.patch}`);
  for (const l of spec.layers) {
    const s = model.scales.get(l) ?? 1;
    // each patch's map must land on whole overlay pixels
    if (spec.patch % s || stride % s) {
      throw bad('patch', `layer ${l} has one value per ${s} px; patch (${spec.patch}) and patch - overlap (${stride}) must be multiples of ${s}`, suggestPatch(spec.patch, s));
    }
  }
}
