export { openPatchSource, type PatchSource, type PatchSourceOptions } from './patch-source.js';
export { analyzeSlide, type AnalyzeOptions, type Analysis, type Overlay } from './analyze.js';
