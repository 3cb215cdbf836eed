/** Map output: stitch patch maps into slide-sized float stores, render colour-mapped Deep Zoom pyramids. */
export { Stitcher, hannWindow } from './stitcher.js';
export { FloatStore, valueRange, symmetricRange, type FloatStoreOptions, type LevelShape, type StoredChunk, type ValueRange } from './float-store.js';
export { writeDzi, dziLevels, dziXml, colorize, renderTileValues, DZI_COLORMAPS, SEQUENTIAL_ANCHORS, type DziOptions, type DziResult, type DziColormap } from './dzi.js';
export { absQuantile, divergingRgb, resizeNearestRgb } from './colormap.js';
