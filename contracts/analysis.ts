/**
 * The analysis request: what a whole-slide analysis computes, with every default stated once.
 * The CLI (`analyze`, `batch`, `start`), the server's analysis form, queue jobs and the pipeline
 * all carry an AnalysisSpec; `parseAnalysisSpec` fills the defaults and checks each field. Checks
 * that need the model (layer names, layer scales) are pipeline/check-spec.ts `checkSpec`.
 */
import { z } from 'zod';
import { modelSpecSchema } from './model-spec.js';
import { MAP_METHODS, VARIANTS, type MapMethod, type Variant } from './names.js';
import { parseContract } from './parse.js';

/** Integrated Gradients' default number of steps (Captum's). */
export const DEFAULT_IG_STEPS = 50;

/**
 * The coarsest layer scale (analysis px per map value) the default overlap keeps whole: the last
 * stage of ResNet, VGG and U-Net encoders (`4_1`, `layer4`).
 */
export const OVERLAP_UNIT = 32;

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

/**
 * The default overlap of neighbouring patches (blended with the Hann window, maps/stitcher.ts): a
 * quarter of the patch, rounded down to a multiple of `gcd(patch, scale)`, so that patch - overlap
 * stays a multiple of every layer scale up to `scale` that divides the patch (check-spec.ts): 256 ->
 * 64, 224 -> 32, 512 -> 128, 100 -> 24, 64 and 96 -> 0. Measured (README "Seams at full zoom"): at
 * 256 px patches 64 brings every seam ratio near 1.0 where 0 and 32 leave a grid at some layer; it
 * costs (256 / 192)^2 = 1.78x the patches. It depends on the patch only, not on the layers: the CLI, the server's form, the queue and
 * `start` resolve the same value before any model is opened, and analyses of one slide with other
 * layers keep the same grid. `scale`: a model whose coarsest requested layer is coarser than 32
 * (check-spec.ts suggests this with its scale).
 */
export function defaultOverlap(patch: number, scale: number = OVERLAP_UNIT): number {
  const unit = gcd(patch, scale);
  return Math.floor(patch / 4 / unit) * unit;
}

/** The schema's stand-in for "no overlap given": replaced by `defaultOverlap(patch)` when the spec is parsed (never valid input). */
const OVERLAP_FROM_PATCH = -1;

export const ANALYSIS_DEFAULTS = {
  layers: ['1_1', '2_1'] as string[],
  methods: ['grad'] as MapMethod[],
  variants: ['original', 'backward-hook'] as Variant[],
  /** patch side in analysis pixels */
  patch: 256,
  /** slide level read (when no target MPP is given) */
  level: 0,
  /** patches per worker task and journal entry */
  batch: 8,
  /** least tissue fraction for a patch to be analysed */
  minTissue: 0.5,
  /** also map the model's own class probabilities */
  outputs: true,
  steps: DEFAULT_IG_STEPS,
} as const;

/** Layer names as models give them (`1_1`, `input`; module paths like `layer3.1` for imported graphs). */
export const layerNameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'must be a layer name such as 1_1');
export const layerListSchema = z.array(layerNameSchema).min(1, 'give at least one layer').max(64);
export const mapMethodListSchema = z.array(z.enum(MAP_METHODS)).min(1, 'give at least one method');
export const variantListSchema = z.array(z.enum(VARIANTS)).min(1, 'give at least one variant');
export const patchSchema = z.number().int().min(32).max(4096);
export const overlapSchema = z.number().int().min(0).max(4095);

export const analysisSpecSchema = z.object({
  model: modelSpecSchema,
  /** surrogate paths (safetensors), for the surrogate variant */
  surrogate: z.string().min(1).optional(),
  layers: layerListSchema.default(() => [...ANALYSIS_DEFAULTS.layers]),
  methods: mapMethodListSchema.default(() => [...ANALYSIS_DEFAULTS.methods]),
  variants: variantListSchema.default(() => [...ANALYSIS_DEFAULTS.variants]),
  patch: patchSchema.default(ANALYSIS_DEFAULTS.patch),
  level: z.number().int().min(0).max(64).default(ANALYSIS_DEFAULTS.level),
  /** target microns per pixel: read at the nearest finer level and resized (instead of `level`) */
  mpp: z.number().positive().max(100).optional(),
  /** pixels shared by neighbouring patches (default: `defaultOverlap(patch)`, filled below) */
  overlap: overlapSchema.default(OVERLAP_FROM_PATCH),
  batch: z.number().int().min(1).max(256).default(ANALYSIS_DEFAULTS.batch),
  minTissue: z.number().min(0).max(1).default(ANALYSIS_DEFAULTS.minTissue),
  /** the class explained in every patch (default: each patch its own prediction) */
  target: z.number().int().min(0).optional(),
  outputs: z.boolean().default(ANALYSIS_DEFAULTS.outputs),
  /** Integrated Gradients steps */
  steps: z.number().int().min(1).max(10_000).default(ANALYSIS_DEFAULTS.steps),
  /**
   * regions of interest: the path of a GeoJSON file (QuPath's annotation export, contracts/roi.ts);
   * only tissue patches whose centre lies inside them are analysed. A path, not the geometry: queue
   * payloads and manifests stay small, and the file is read when the slide is planned (on every
   * machine at the same path, like the weights); the plan's fingerprint and the manifest's record
   * carry a digest of its regions, so a changed file is another analysis.
   */
  roi: z.string().min(1).optional(),
})
  // the overlap's default depends on the patch: filled here, so every path (CLI, server, queue payloads,
  // `start`, manifests' records) resolves it before planning, and the plan's fingerprint and the
  // manifest record the overlap used. An object check, not a transform: `.shape` and `.extend` stay.
  .overwrite((s) => (s.overlap === OVERLAP_FROM_PATCH ? { ...s, overlap: defaultOverlap(s.patch) } : s));

export type AnalysisSpec = z.output<typeof analysisSpecSchema>;
/** What callers may give: defaults may be left out. */
export type AnalysisSpecInput = z.input<typeof analysisSpecSchema>;

/** The spec with its defaults filled, or a BAD_ARGUMENT error naming each bad field. */
export function parseAnalysisSpec(input: unknown, where = 'analysis'): AnalysisSpec {
  return parseContract(analysisSpecSchema, input, where);
}

/** Only the spec's own fields of a larger object (options objects carry callbacks and paths too). */
export function pickAnalysisSpec(o: AnalysisSpecInput & Record<string, unknown>): AnalysisSpecInput {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(analysisSpecSchema.shape)) if (o[k] !== undefined) out[k] = o[k];
  return out as AnalysisSpecInput;
}
