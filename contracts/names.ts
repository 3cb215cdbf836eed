/**
 * The names every layer of sds agrees on: attribution methods, model variants, and what the
 * model's own output is called among the overlays. Stated here once; the saliency code, the CLI,
 * the server and (through GET /api/config) the viewer take them from here.
 */

/** Every attribution method (SPEC 6). */
export const METHODS = ['grad', 'deeplift', 'ig', 'gradcam'] as const;
export type MethodName = (typeof METHODS)[number];

/** Methods a whole-slide analysis maps (GradCAM is a coarse baseline for `sds evaluate`, not an overlay). */
export const MAP_METHODS = ['grad', 'deeplift', 'ig'] as const;
export type MapMethod = (typeof MAP_METHODS)[number];

/** The model as it is, and the three ways of removing the stride-2 checkerboard (SPEC 2-4). */
export const VARIANTS = ['original', 'backward-hook', 'forward-hook', 'surrogate'] as const;
export type Variant = (typeof VARIANTS)[number];

/** An overlay of the model's own output (class probability) is keyed `model/output/<class>`. */
export const OUTPUT_VARIANT = 'model';
export const OUTPUT_METHOD = 'output';

export function isMethod(s: string): s is MethodName {
  return (METHODS as readonly string[]).includes(s);
}

export function isVariant(s: string): s is Variant {
  return (VARIANTS as readonly string[]).includes(s);
}
