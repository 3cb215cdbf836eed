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

export const ANALYSIS_DEFAULTS = {
  layers: ['1_1', '2_1'] as string[],
  methods: ['grad'] as MapMethod[],
  variants: ['original', 'backward-hook'] as Variant[],
  /** patch side in analysis pixels */
  patch: 256,
  /** slide level read (when no target MPP is given) */
  level: 0,
  /** pixels shared by neighbouring patches */
  overlap: 0,
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
  overlap: overlapSchema.default(ANALYSIS_DEFAULTS.overlap),
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
});

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
