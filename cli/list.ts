import { SdsError } from '../core/errors.js';
import { METHODS, VARIANTS, type MethodName, type Variant } from '../contracts/index.js';

/** Comma-separated CLI values. */
export function splitList(s: string | undefined): string[] {
  return (s ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

/** `--methods` for whole-image evaluation: grad, deeplift, ig (GradCAM is a fixed baseline). */
export function parseMethods(s: string): MethodName[] {
  const out = splitList(s);
  for (const m of out) if (!(METHODS as readonly string[]).includes(m) || m === 'gradcam') throw new SdsError('BAD_ARGUMENT', `--methods: "${m}" is not one of grad, deeplift, ig`);
  return out as MethodName[];
}

export function parseVariants(s: string): Variant[] {
  const out = splitList(s);
  for (const v of out) if (!(VARIANTS as readonly string[]).includes(v)) throw new SdsError('BAD_ARGUMENT', `--variants: unknown variant "${v}"`, { suggestion: `use ${VARIANTS.join(', ')}` });
  return out as Variant[];
}
