/**
 * The HTTP contract between server/ and viewer/ (server/API.md in prose): the analysis request as
 * a zod schema (the server parses every body with it), and the JSON shapes the server answers
 * with. The viewer's JSDoc imports these types; GET /api/config serves the lists and defaults.
 */
import { z } from 'zod';
import { ANALYSIS_DEFAULTS, defaultOverlap, layerListSchema, mapMethodListSchema, overlapSchema, patchSchema, variantListSchema } from './analysis.js';
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
  /** absent: `defaultOverlap(patch)` (parseAnalysisSpec fills it, so it follows the patch) */
  overlap: overlapSchema.optional(),
  /** regions of interest: the content of QuPath's GeoJSON export, inline (checked with contracts/roi.ts by the server) */
  roi: z.unknown().optional(),
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

/** `cancelled`: stopped by DELETE /api/jobs/:job (finished batches stay journalled: the same request again resumes) */
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

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
  /** of `done`, the batches taken from the journal of an earlier, stopped run (a resumed job); worked here only */
  reused?: number;
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
  return { methods: MAP_METHODS, variants: VARIANTS, defaults: { layers: d.layers, methods: d.methods, variants: d.variants, patch: d.patch, overlap: defaultOverlap(d.patch) }, colormaps };
}

// ---- viewer tools (server/API.md "Viewer tools"): saliency regions and statistics inside a shape ----

/** Bounds of what the viewer tools send and get back: a hand-drawn shape has tens of vertices, a QuPath annotation a few thousand. */
export const REGION_TOOL_LIMITS = {
  /** vertices over all rings of a shape sent for statistics */
  vertices: 5000,
  rings: 32,
  /** |coordinate| in level-0 pixels */
  coordinate: 1e9,
  /** request body of POST .../stats */
  bodyBytes: 256 * 1024,
  /** regions sent by GET .../regions (the strongest first; `truncated` says when more were found) */
  regions: 500,
  /** and their outline vertices in all: the answer stays a few MB whatever the map */
  regionVertices: 200_000,
} as const;

/** A number in a query string (decimal, optional exponent), finite. */
const queryNumber = z
  .string()
  .regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'must be a number')
  .transform(Number)
  .refine(Number.isFinite, 'must be finite');

/** GET /api/analyses/:aid/overlays/:variant/:method/:layer/regions: the `sds regions` options a viewer may set. */
export const regionsQuerySchema = z
  .strictObject({
    quantile: queryNumber.refine((q) => q > 0 && q < 1, 'must be in (0, 1)').optional(),
    threshold: queryNumber.refine((t) => t >= 0, 'must be a magnitude >= 0').optional(),
    sign: z.enum(['positive', 'negative', 'abs']).optional(),
  })
  .refine((q) => q.quantile === undefined || q.threshold === undefined, { message: 'give quantile or threshold, not both', path: ['threshold'] });
export type RegionsQuery = z.output<typeof regionsQuerySchema>;

const coordinate = z.number().min(-REGION_TOOL_LIMITS.coordinate).max(REGION_TOOL_LIMITS.coordinate);
const statsRing = z.array(z.tuple([coordinate, coordinate])).min(3, 'a ring needs at least 3 positions').max(REGION_TOOL_LIMITS.vertices);

/** POST .../stats: a GeoJSON Polygon in level-0 pixels (exterior ring, then holes) and the threshold. */
export const regionStatsRequestSchema = z.strictObject({
  geometry: z.strictObject({
    type: z.literal('Polygon'),
    coordinates: z
      .array(statsRing)
      .min(1, 'a polygon needs its exterior ring')
      .max(REGION_TOOL_LIMITS.rings)
      .refine((rings) => rings.reduce((n, r) => n + r.length, 0) <= REGION_TOOL_LIMITS.vertices, `at most ${REGION_TOOL_LIMITS.vertices} vertices in all`),
  }),
  /** a map pixel is "above" when its value >= threshold; default: the overlay's upper range value (the 99th percentile of |value|) */
  threshold: z.number().min(-1e30).max(1e30).optional(),
});
export type RegionStatsRequest = z.output<typeof regionStatsRequestSchema>;

/** Saliency statistics inside a shape (results/region-stats.ts computes them). */
export interface RegionStats {
  /** map pixels inside with a value (not NaN) */
  pixels: number;
  /** map pixels inside without tissue (NaN) */
  noTissue: number;
  /** null when no pixel inside has a value */
  mean: number | null;
  min: number | null;
  max: number | null;
  threshold: number;
  /** pixels with value >= threshold */
  above: number;
  /** above / pixels (null without pixels) */
  aboveShare: number | null;
  /** level-0 px² of the counted pixels: pixels * downsample² */
  areaPx: number;
  /** µm² (null when the slide has no MPP) */
  areaUm2: number | null;
  /** the map pixels read: [x0, y0, x1, y1) of the bounding box, clipped to the map */
  mapBox: [number, number, number, number];
}

/** POST .../stats answer: the statistics and the overlay key. */
export interface RegionStatsResponse extends RegionStats {
  key: string;
}

/** A region polygon as `sds regions` writes it (results/geojson.ts), the fields the viewer reads. */
export interface RegionFeatureJson {
  type: 'Feature';
  geometry: { type: 'Polygon'; coordinates: number[][][] };
  properties: { name: string; measurements: { max: number; mean: number; area_px: number; area_um2?: number; peak_x: number; peak_y: number } } & Record<string, unknown>;
}

/** GET .../:layer/regions */
export interface RegionsResponse {
  key: string;
  threshold: number;
  sign: 'positive' | 'negative' | 'abs';
  /** regions found; `features` holds the strongest of them, at most REGION_TOOL_LIMITS.regions with REGION_TOOL_LIMITS.regionVertices vertices in all */
  count: number;
  truncated: boolean;
  features: RegionFeatureJson[];
}

/** GET /api/analyses/:aid/regions: the `sds regions` files of an analysis. */
export interface RegionsFileInfo {
  key: string;
  variant: string;
  method: string;
  layer: string;
  /** GET this for the FeatureCollection */
  url: string;
  /** features in the file; null when the file is too large to count */
  count: number | null;
}
