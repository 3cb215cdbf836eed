export { openPatchSource, type PatchSource, type PatchSourceOptions } from './patch-source.js';
export { analyzeSlideToDir, computeBatches, AnalysisSession, analysisDir, type AnalyzeOptions, type AnalyzeProgress, type AnalyzeResult, type AnalyzeStats } from './analyze.js';
export { planAnalysis, chooseGeometry, describeModel, type Plan, type PlanOptions, type Geometry, type OverlaySpec } from './plan.js';
export { BatchJournal, atomicWrite, type BatchMaps } from './journal.js';
export { OverlayWriter } from './overlay-writer.js';
export { writeManifest, type Manifest, type OverlayEntry } from './outputs.js';
export { ContourTracer, traceContours, simplifyRing, ringArea, type Component, type Point, type Ring, type TraceOptions } from './contours.js';
export { exportSaliencyGeoJson, readManifest, findOverlay, type RegionOptions, type RegionExport, type RegionFeature, type RegionCollection, type RegionSign, type RegionMeasurements, type PolygonGeometry } from './geojson.js';
export { localisation, maskCoverage, readBinaryMask, type GroundTruthMask, type LocalisationOptions, type LocalisationRow, type LocalisationScore, type BinaryMask } from './localisation.js';
