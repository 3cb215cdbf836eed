export { openPatchSource, type PatchSource, type PatchSourceOptions } from './patch-source.js';
export { claimAnalysisDir } from './results-dir.js';
export { analyzeSlideToDir, computeBatches, AnalysisSession, analysisDir, type AnalyzeOptions, type AnalyzeProgress, type AnalyzeResult, type AnalyzeStats } from './analyze.js';
export { planAnalysis, chooseGeometry, type Plan, type Geometry, type OverlaySpec } from './plan.js';
export { checkSpec } from './check-spec.js';
export { BatchJournal, atomicWrite, type BatchMaps } from './journal.js';
export { OverlayWriter } from './overlay-writer.js';
export { writeManifest } from './outputs.js';
