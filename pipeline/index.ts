export { openPatchSource, type PatchSource, type PatchSourceOptions } from './patch-source.js';
export { analyzeSlide, type AnalyzeOptions, type Analysis, type Overlay } from './analyze.js';
export { writeAnalysis, type Manifest, type OverlayEntry } from './outputs.js';
