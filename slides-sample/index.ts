/** Synthetic H&E: a deterministic scene, a pyramidal TIFF writer and the sample slide with its ground truth. */
import { fileURLToPath } from 'node:url';

export { createScene, type Scene, type SceneOptions, type SceneRegion } from './scene.js';
export { writePyramidTiff, type PyramidTiffInfo, type PyramidTiffOptions } from './tiff-writer.js';
export { PngStreamWriter } from './png-stream.js';
export {
  ensureSample,
  GENERATOR_VERSION,
  majorityDown,
  manifestPath,
  MASK_DOWNSAMPLE,
  sampleStem,
  validSample,
  writeSample,
  type EnsureSampleOptions,
  type MaskInfo,
  type SampleManifest,
  type SampleOptions,
} from './write-sample.js';

/** Where `sds sample` puts the default sample: beside this module, whatever the working directory (made on first use; not committed). */
export const DEFAULT_SAMPLE_PATH = fileURLToPath(new URL('./sample.svs', import.meta.url));
