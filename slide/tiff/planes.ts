/**
 * Colour kept in separate planes, read as RGB tiles: a PlanarConfiguration 2 directory (all of R's blocks, then
 * all of G's, then B's) and OME-TIFF's brightfield stored as three single-sample directories (one per channel).
 * Each plane becomes a directory of its own with one sample per pixel, so every decoder (and its output bound)
 * applies to it unchanged; a tile is the same tile of each plane, decoded, its sample put in its channel.
 * Also the one place that picks the reader for any directory, so vendors need not care how colour is stored.
 */
import { SdsError } from '../../core/errors.js';
import { createTileDecoder } from '../decoders/index.js';
import type { FileSource } from '../file-source.js';
import { describePixels, MAX_ASSOCIATED_PIXELS } from '../limits.js';
import { blankTile, composeRegion, isBlank, WHITE } from '../region.js';
import type { AssociatedReader, LevelReader } from '../source-parts.js';
import type { RgbImage } from '../types.js';
import { codecSettings, readBlock, tiffCompressionName, tiffLevelReader, type TiffLevelOptions } from './blocks.js';
import type { TiffDirectory } from './directory.js';

/** Photometric interpretations whose samples are R, G, B (2) or, for OME's separate channels, grey levels (0, 1). */
const RGB = 2;
const GREY = new Set([0, 1]);

/** The samples of a PlanarConfiguration 2 directory, each as a one-sample directory (grey) over its own blocks. */
export function splitPlanes(dir: TiffDirectory): TiffDirectory[] {
  const perPlane = dir.blocksAcross * dir.blocksDown;
  return Array.from({ length: dir.samplesPerPixel }, (_, s) => ({
    ...dir,
    samplesPerPixel: 1,
    planarConfiguration: 1,
    photometric: 1,
    bitsPerSample: [dir.bitsPerSample[s] ?? dir.bitsPerSample[0] ?? 8],
    offsets: dir.offsets.subarray(s * perPlane, (s + 1) * perPlane),
    byteCounts: dir.byteCounts.subarray(s * perPlane, (s + 1) * perPlane),
    subIfds: [],
  }));
}

/**
 * The reader for one directory however its colour is stored: interleaved (any codec), or PlanarConfiguration 2
 * with RGB samples (photometric 2, or `rgb` where the format says the three samples are R, G, B: OME SizeC=3)
 * as three planes, or with grey samples as its first plane.
 */
export function directoryLevelReader(file: FileSource, dir: TiffDirectory, options: TiffLevelOptions & { rgb?: boolean }): LevelReader {
  if (dir.planarConfiguration !== 2 || dir.samplesPerPixel === 1) return tiffLevelReader(file, dir, options);
  const planes = splitPlanes(dir);
  if ((dir.photometric === RGB || options.rgb) && planes.length >= 3) return rgbPlanesReader(file, planes.slice(0, 3), options);
  if (GREY.has(dir.photometric)) return tiffLevelReader(file, { ...planes[0]!, photometric: dir.photometric }, options);
  throw new SdsError('SLIDE_UNSUPPORTED', `${file.name}: TIFF directory ${dir.index} keeps ${dir.samplesPerPixel} samples with photometric interpretation ${dir.photometric} in separate planes (PlanarConfiguration 2); sds reads separate planes of RGB or grey only`, {
    suggestion: 'convert the slide to interleaved RGB, e.g. `vips tiffsave in out.tif --tile --pyramid --compression jpeg`',
    context: { path: file.path, directory: dir.index, photometric: dir.photometric, samplesPerPixel: dir.samplesPerPixel },
  });
}

/**
 * Three single-sample directories of one geometry (R, G, B) as one RGB level. A tile is empty when no plane
 * stores it; a plane that stores nothing for a tile another plane stores counts as white in that channel.
 */
export function rgbPlanesReader(file: FileSource, planes: TiffDirectory[], options: TiffLevelOptions): LevelReader {
  const [first] = planes;
  if (planes.length !== 3 || !first) throw new Error(`rgbPlanesReader: 3 planes needed, got ${planes.length}`);
  for (const p of planes) {
    if (p.samplesPerPixel !== 1) {
      throw new SdsError('SLIDE_UNSUPPORTED', `${file.name}: a colour plane (TIFF directory ${p.index}) holds ${p.samplesPerPixel} samples per pixel; separate channel planes must hold one each`, {
        suggestion: 'convert the slide to interleaved RGB',
        context: { path: file.path, directory: p.index },
      });
    }
    if (p.width !== first.width || p.height !== first.height || p.blockWidth !== first.blockWidth || p.blockHeight !== first.blockHeight || p.tiled !== first.tiled) {
      throw new SdsError('SLIDE_UNREADABLE', `${file.name}: the R, G and B planes of level ${options.index} differ in size or tiling (${planes.map((d) => `${d.width}x${d.height}/${d.blockWidth}x${d.blockHeight}`).join(', ')})`, {
        suggestion: 'the file is corrupt or its channels are not one RGB image; convert it to interleaved RGB',
        context: { path: file.path, level: options.index },
      });
    }
  }
  const decoders = planes.map((p) => createTileDecoder(codecSettings(p), file.name));
  const stored = (block: number) => planes.some((p) => p.byteCounts[block]! > 0);
  const empty = (block: number) => !stored(block) || (options.isEmpty?.(block) ?? false);
  return {
    level: {
      width: first.width,
      height: first.height,
      tileWidth: first.blockWidth,
      tileHeight: first.blockHeight,
      compression: `${tiffCompressionName(first)}, separate R/G/B planes`,
      downsample: options.downsample,
    },
    isEmpty: (col, row) => empty(row * first.blocksAcross + col),
    async readTile(col, row, signal) {
      const block = row * first.blocksAcross + col;
      if (empty(block)) return undefined;
      signal?.throwIfAborted();
      const what = (c: number) => `${'RGB'[c]} plane of ${first.tiled ? 'tile' : 'strip'} (${col}, ${row}) of level ${options.index}`;
      const channels = await Promise.all(planes.map((p, c) => readBlock(file, p, decoders[c]!, block, what(c))));
      return mergeChannels(channels);
    },
  };
}

/** Channel c of the result from the first sample of channels[c] (grey: all three equal); a blank plane is white. */
function mergeChannels(channels: RgbImage[]): RgbImage {
  // Planes of one block decode to one size; should a corrupt one not, the common part is what all three hold.
  const width = Math.min(...channels.map((c) => c.width));
  const height = Math.min(...channels.map((c) => c.height));
  const out = new Uint8Array(width * height * 3);
  channels.forEach((plane, c) => {
    if (isBlank(plane)) {
      for (let i = c; i < out.length; i += 3) out[i] = WHITE;
      return;
    }
    for (let y = 0; y < height; y++) {
      let s = y * plane.width * 3;
      let o = y * width * 3 + c;
      for (let x = 0; x < width; x++, s += 3, o += 3) out[o] = plane.data[s]!;
    }
  });
  return { width, height, data: out };
}

/** A level reader's whole image as an associated image (OME's label or macro kept as a planar or tiled image), within MAX_ASSOCIATED_PIXELS. */
export function levelAsAssociated(file: FileSource, name: string, reader: LevelReader, concurrency = 8): AssociatedReader {
  const { width, height, compression } = reader.level;
  return {
    info: { name, width, height, compression },
    async read(signal) {
      const pixels = width * height;
      if (pixels > MAX_ASSOCIATED_PIXELS) {
        throw new SdsError('SLIDE_TOO_LARGE', `${file.name}: its ${name} image declares ${width}x${height} px (${describePixels(pixels)}), more than the ${describePixels(MAX_ASSOCIATED_PIXELS)} sds decodes for an associated image`, {
          suggestion: 'the file is probably corrupt; its pyramid levels can still be read',
          context: { path: file.path, image: name, width, height, budget: MAX_ASSOCIATED_PIXELS },
        });
      }
      const grid = { width, height, tileWidth: reader.level.tileWidth, tileHeight: reader.level.tileHeight };
      const data = await composeRegion(grid, 0, 0, width, height, async (col, row) => (await reader.readTile(col, row, signal)) ?? blankTile(grid.tileWidth, grid.tileHeight), { signal, concurrency });
      return { width, height, data };
    },
  };
}
