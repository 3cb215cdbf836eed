/**
 * Exports of a finished analysis for QuPath and OpenSlide, stated once for `sds export` (its
 * flags pipe through these schemas) and the server's POST /api/analyses/:aid/exports (its body is
 * `exportRequestSchema`): one overlay as a pyramidal TIFF, or the analysed patches as detection
 * tiles (GeoJSON). The colour map names are the maps/ module's (DZI_COLORMAPS); contracts cannot
 * import maps/, so the server checks the name against that list.
 */
import { z } from 'zod';

export const EXPORT_KINDS = ['tiff', 'detections'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];
export const EXPORT_COMPRESSIONS = ['deflate', 'jpeg'] as const;

export const EXPORT_DEFAULTS = {
  /** lossless RGBA, no data transparent (jpeg: smaller, RGB, no data white) */
  compression: 'deflate' as (typeof EXPORT_COMPRESSIONS)[number],
  quality: 90,
  tileSize: 256,
  fullResolution: false,
} as const;

export const exportCompressionSchema = z.enum(EXPORT_COMPRESSIONS);
/** JPEG quality */
export const exportQualitySchema = z.number().int().min(1).max(100);
/** TIFF tile side: a multiple of 16 (the TIFF rule for tiles) */
export const exportTileSizeSchema = z.number().int().min(16).max(4096).multipleOf(16);
/** values mapped to the colour map's ends */
export const exportRangeSchema = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && hi > lo, 'must be [lo, hi] with lo < hi');

/** An overlay key (`variant/method/layer`, `model/output/<class>`): three parts of URL-safe characters. */
const overlayKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}\/[A-Za-z0-9._-]{1,128}\/[A-Za-z0-9._-]{1,128}$/, 'must be an overlay key variant/method/layer')
  .refine((k) => !k.split('/').some((p) => p === '.' || p === '..'), 'must be an overlay key variant/method/layer');

/** POST /api/analyses/:aid/exports */
export const exportRequestSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('tiff'),
      overlay: overlayKeySchema,
      compression: exportCompressionSchema.default(EXPORT_DEFAULTS.compression),
      quality: exportQualitySchema.default(EXPORT_DEFAULTS.quality),
      tileSize: exportTileSizeSchema.default(EXPORT_DEFAULTS.tileSize),
      fullResolution: z.boolean().default(EXPORT_DEFAULTS.fullResolution),
      /** default: as the analysis drew it (diverging for saliency, viridis for outputs) */
      colormap: z.string().max(32).optional(),
      /** default: the analysis' own range (the viewer's "auto") */
      range: exportRangeSchema.optional(),
    }),
    z.strictObject({ kind: z.literal('detections') }),
  ],
  { error: `must be one of: ${EXPORT_KINDS.join(', ')}` },
);
export type ExportRequest = z.output<typeof exportRequestSchema>;
export type ExportRequestInput = z.input<typeof exportRequestSchema>;

export type ExportState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** GET /api/exports/:id and the export's SSE events. */
export interface ExportStatus {
  id: string;
  analysis: string;
  kind: ExportKind;
  /** the overlay of a TIFF export */
  overlay?: string;
  state: ExportState;
  /** tiles (TIFF) or patches (detections) written, of `total` */
  done: number;
  total: number;
  unit: 'tiles' | 'patches';
  /** per second since it started (0 before the first) */
  rate: number;
  /** seconds left at that rate; null while unknown */
  eta: number | null;
  error?: string;
  /** when done: the download URL and the file's name and size */
  file?: string;
  name?: string;
  bytes?: number;
}
