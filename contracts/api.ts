/**
 * The HTTP contract between server/ and viewer/ (server/API.md in prose): the analysis request as
 * a zod schema (the server parses every body with it), and the JSON shapes the server answers
 * with. The viewer's JSDoc imports these types; GET /api/config serves the lists and defaults.
 */
import { z } from 'zod';
import { ANALYSIS_DEFAULTS, layerListSchema, mapMethodListSchema, overlapSchema, patchSchema, variantListSchema } from './analysis.js';
import { MAP_METHODS, VARIANTS, type MapMethod, type Variant } from './names.js';

/** Slide, analysis, model and job ids as they appear in URLs. */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,512}$/, 'must be an id (letters, digits, . _ -)')
  .refine((s) => s !== '.' && s !== '..', 'must be an id');

/** POST /api/analyses: which slide and model (by id), and the analysis spec's fields a person chooses. */
export const analysisRequestSchema = z.strictObject({
  slide: idSchema,
  model: idSchema,
  layers: layerListSchema,
  methods: mapMethodListSchema,
  variants: variantListSchema,
  patch: patchSchema.default(ANALYSIS_DEFAULTS.patch),
  overlap: overlapSchema.default(ANALYSIS_DEFAULTS.overlap),
});
export type AnalysisRequest = z.output<typeof analysisRequestSchema>;

export interface Mpp {
  x: number;
  y: number;
}

export interface OverlayInfo {
  /** `<variant>/<method>/<layer>` (contracts/overlay-key.ts) */
  key: string;
  variant: string;
  /** 'output' for the model's own outputs */
  method: string;
  layer: string;
  /** overlay pixels */
  width: number;
  height: number;
  /** level-0 pixels per overlay pixel */
  downsample: number;
  /** the manifest's colour scale */
  range: [number, number];
  /** pre-rendered Deep Zoom (the manifest's colour map) */
  dzi: string;
  /** Deep Zoom rendered on request from the float store */
  live: string;
}

export interface AnalysisSummary {
  id: string;
  /** the analysed slide's id; null when that slide is not in the slide folders */
  slide: string | null;
  created: string;
  seconds: number;
  model: { weights: string; arch: string; surrogate?: string };
  patches: { size: number; level: number; overlap: number; count: number };
  tissueMask: string;
  overlays: OverlayInfo[];
  outputs: OverlayInfo[];
}

export interface SlideSummary {
  id: string;
  name: string;
  width: number;
  height: number;
  levels: number;
  /** Who made the file, with OpenSlide's vendor names ('aperio', 'hamamatsu', 'mirax', ...; 'ome-tiff', 'dicom'). */
  vendor: string;
  mpp: Mpp | null;
  magnification: number | null;
  dzi: string;
  thumbnail: string;
  analyses: AnalysisSummary[];
}

export interface SlideDetail extends SlideSummary {
  associated: { name: string; width: number; height: number; url: string }[];
}

export interface ModelInfo {
  id: string;
  name: string;
  arch: string;
  classes: number;
  surrogate: boolean;
  layers: string[];
  /** the layers the analysis form preselects (the model's own defaults; module paths for ONNX models) */
  defaultLayers: string[];
  /** patch side the model's configuration asks for (WSInfer), else absent */
  patch?: number;
}

export type JobState = 'queued' | 'running' | 'done' | 'failed';

/** GET /api/jobs/:job, and the SSE events' payloads. */
export interface JobStatus {
  id: string;
  slide: string;
  state: JobState;
  done: number;
  total: number;
  /** patches per second since the job started (0 before the first batch) */
  rate: number;
  /** seconds left at that rate; null while unknown */
  eta: number | null;
  error?: string;
  analysis?: string;
}

/** Colour map anchors, evenly spaced from the low end to the high end (RGB 0..255). */
export type ColormapTable = Record<string, [number, number, number][]>;

/** GET /api/config: what the viewer offers and preselects, and how overlay tiles are coloured. */
export interface ViewerConfig {
  methods: readonly MapMethod[];
  variants: readonly Variant[];
  defaults: { layers: readonly string[]; methods: readonly MapMethod[]; variants: readonly Variant[]; patch: number; overlap: number };
  colormaps: ColormapTable;
}

export function viewerConfig(colormaps: ColormapTable): ViewerConfig {
  const d = ANALYSIS_DEFAULTS;
  return { methods: MAP_METHODS, variants: VARIANTS, defaults: { layers: d.layers, methods: d.methods, variants: d.variants, patch: d.patch, overlap: d.overlap }, colormaps };
}
