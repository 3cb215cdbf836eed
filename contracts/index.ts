/**
 * The contracts: every fact that crosses a folder boundary, stated once (zod schemas with their
 * inferred types). Imports nothing but zod and core/.
 */
export { METHODS, MAP_METHODS, VARIANTS, OUTPUT_VARIANT, OUTPUT_METHOD, isMethod, isVariant, type MethodName, type MapMethod, type Variant } from './names.js';
export { overlayKey, parseOverlayKey, type OverlayId } from './overlay-key.js';
export { modelSpecSchema, type ModelSpec } from './model-spec.js';
export {
  analysisSpecSchema,
  parseAnalysisSpec,
  pickAnalysisSpec,
  ANALYSIS_DEFAULTS,
  DEFAULT_IG_STEPS,
  defaultOverlap,
  OVERLAP_UNIT,
  layerNameSchema,
  layerListSchema,
  mapMethodListSchema,
  variantListSchema,
  patchSchema,
  overlapSchema,
  type AnalysisSpec,
  type AnalysisSpecInput,
} from './analysis.js';
export { manifestSchema, overlayEntrySchema, analysisRecordSchema, MANIFEST_FILE, type Manifest, type OverlayEntry, type AnalysisRecord } from './manifest.js';
export { slideAnalysisSchema, slideTaskSchema, chunkJobSchema, finalizeJobSchema, type SlideAnalysisOptions, type SlideAnalysisInput, type SlideTask, type ChunkJobData, type FinalizeJobData } from './queue.js';
export { analysisRequestSchema, idSchema, viewerConfig, type AnalysisRequest, type AnalysisSummary, type OverlayInfo, type SlideSummary, type SlideDetail, type ModelInfo, type JobState, type JobStatus, type Mpp, type ColormapTable, type ViewerConfig } from './api.js';
export { parseContract, describeIssues } from './parse.js';
export { EXPORT_COMPRESSIONS, EXPORT_DEFAULTS, EXPORT_KINDS, exportCompressionSchema, exportQualitySchema, exportRangeSchema, exportRequestSchema, exportTileSizeSchema, type ExportKind, type ExportRequest, type ExportRequestInput, type ExportState, type ExportStatus } from './export.js';
