/**
 * What an analysis leaves on disk, per slide: `manifest.json` listing the tissue mask and, for each
 * overlay, its raw floats (an OME-Zarr multiscale store: QuPath, napari) and its colour-mapped Deep
 * Zoom pyramid, with their geometry and value ranges. The pipeline writes it last and atomically
 * (its presence means the analysis is complete); results/ and the server read it through this
 * schema, so a half-written or foreign file is refused, never trusted. Unknown fields pass (a newer
 * writer may add some).
 */
import { z } from 'zod';
import { analysisSpecSchema } from './analysis.js';
import { OUTPUT_METHOD } from './names.js';

export const MANIFEST_FILE = 'manifest.json';

export const overlayEntrySchema = z.looseObject({
  /** a saliency variant, or 'model' for the model's own output */
  variant: z.string().min(1),
  /** grad / deeplift / ig, or 'output' */
  method: z.string().min(1).default(OUTPUT_METHOD),
  /** a layer name, or for outputs the class name / `class-<k>` / `probability` */
  layer: z.string().min(1),
  /** level-0 pixels per overlay pixel */
  downsample: z.number().positive(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** colour scale: saliency symmetric around 0 at the 99th percentile of |value|; outputs [0, 1] */
  range: z.tuple([z.number(), z.number()]),
  /** the float store and the Deep Zoom descriptor, relative to the analysis folder */
  store: z.string().min(1),
  dzi: z.string().min(1),
});

const mppSchema = z.object({ x: z.number().positive(), y: z.number().positive() });

/**
 * What the analysis was asked to compute (its AnalysisSpec, file paths absolute) and which version
 * of the weights answered (`modelIdentity`): a rerun with other settings is told apart from a
 * finished one. Optional: manifests written before it lack it.
 */
export const analysisRecordSchema = analysisSpecSchema.extend({
  modelIdentity: z.string(),
  /** with `roi` (then an absolute path): a digest of its regions (slide/roi.ts roiIdentity), so an ROI used is recorded and a changed one told apart */
  roiIdentity: z.string().optional(),
});
export type AnalysisRecord = z.output<typeof analysisRecordSchema>;

export const manifestSchema = z.looseObject({
  version: z.literal(1),
  slide: z.looseObject({ path: z.string(), name: z.string(), vendor: z.string().optional(), width: z.number().int().positive(), height: z.number().int().positive(), mpp: mppSchema.optional(), magnification: z.number().optional() }),
  model: z.looseObject({ weights: z.string(), arch: z.string(), kind: z.string().optional(), classes: z.number().int().optional(), surrogate: z.string().optional() }),
  /** size in analysis pixels; `downsample` level-0 px per analysis px; read from `level` */
  patches: z.looseObject({ size: z.number().int().positive(), level: z.number().int().min(0), downsample: z.number().positive().optional(), mpp: z.number().positive().optional(), overlap: z.number().int().min(0), count: z.number().int().min(0) }),
  tissueMask: z.string(),
  overlays: z.array(overlayEntrySchema),
  /** the model's own output (class probabilities), same shape as overlays */
  outputs: z.array(overlayEntrySchema).optional(),
  analysis: analysisRecordSchema.optional(),
  seconds: z.number(),
  created: z.string(),
});

export type Manifest = z.output<typeof manifestSchema>;
export type OverlayEntry = z.output<typeof overlayEntrySchema>;
