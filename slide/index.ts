/** Slide input: open a slide of any supported format, read regions and associated images, find tissue, lay the patch grid. */
export { openSlide, Slide, type OpenSlideOptions } from './slide.js';
export { TileCache, DEFAULT_CACHE_BYTES } from './tile-cache.js';
export { compressionName, isSupportedCompression, registerTileDecoder } from './decoders/index.js';
export type { CodecSettings, DecodedBlock, TileDecoder, TileDecoderFactory } from './decoders/index.js';
export type { AssociatedImageInfo, Mpp, ReadOptions, RgbImage, SlideInfo, SlideLevel } from './types.js';
export type { FolderClaim, FolderEntry, SlideFormat, SlideSource, SourceLevel } from './source.js';
export { detectTissue, tissueFromRgb, saturation, writeMaskPng, type TissueMask } from './tissue.js';
export { otsuThreshold } from './otsu.js';
export { patchGrid, tissuePatches, type Patch, type PatchSpec } from './grid.js';
export { halve } from './downsample.js';
export { SLIDE_EXTENSIONS, SLIDE_FORMATS, claimFolder, isSlidePath, listSlides } from './formats.js';
export { MAX_ASSOCIATED_PIXELS, MAX_BLOCK_PIXELS, MAX_IMAGE_SIDE, MAX_TILE_SIDE } from './limits.js';
