/**
 * Tiles and strips of TIFF directories as level and associated-image readers: the building blocks every TIFF
 * vendor (Aperio, generic, OME, Philips, Leica, Ventana, Hamamatsu) assembles its source from.
 */
import { SdsError } from '../../core/errors.js';
import { compressionName, createTileDecoder, type CodecSettings, type TileDecoder } from '../decoders/index.js';
import type { FileSource } from '../file-source.js';
import { describePixels, MAX_ASSOCIATED_PIXELS, MAX_BLOCK_PIXELS } from '../limits.js';
import { blankTile, composeRegion, type TileGrid } from '../region.js';
import type { AssociatedReader, LevelReader } from '../source-parts.js';
import type { RgbImage } from '../types.js';
import type { TiffDirectory } from './directory.js';

export function codecSettings(dir: TiffDirectory): CodecSettings {
  return {
    compression: dir.compression,
    photometric: dir.photometric,
    blockWidth: dir.blockWidth,
    blockHeight: dir.blockHeight,
    samplesPerPixel: dir.samplesPerPixel,
    bitsPerSample: dir.bitsPerSample,
    planarConfiguration: dir.planarConfiguration,
    predictor: dir.predictor,
    jpegTables: dir.jpegTables,
  };
}

/** 'JPEG', 'WebP', ... for a directory's compression code. */
export function tiffCompressionName(dir: TiffDirectory): string {
  return compressionName(dir.compression);
}

export interface TiffLevelOptions {
  /** Level index, for messages. */
  index: number;
  /** Tiles with no bytes (0) are background; some vendors also mark them otherwise (Philips: a shared tile). */
  isEmpty?: (block: number) => boolean;
  downsample?: number;
}

/** A tiled directory as one level. Unsupported compressions fail here, at open, naming the code and the file. */
export function tiffLevelReader(file: FileSource, dir: TiffDirectory, options: TiffLevelOptions): LevelReader {
  const decoder = createTileDecoder(codecSettings(dir), file.name);
  const empty = (block: number) => dir.byteCounts[block] === 0 || (options.isEmpty?.(block) ?? false);
  return {
    level: {
      width: dir.width,
      height: dir.height,
      tileWidth: dir.blockWidth,
      tileHeight: dir.blockHeight,
      compression: tiffCompressionName(dir),
      downsample: options.downsample,
    },
    isEmpty: (col, row) => empty(row * dir.blocksAcross + col),
    async readTile(col, row, signal) {
      const block = row * dir.blocksAcross + col;
      if (empty(block)) return undefined;
      signal?.throwIfAborted();
      return readBlock(file, dir, decoder, block, `tile (${col}, ${row}) of level ${options.index}`);
    },
  };
}

/** A directory (tiled or stripped) read whole as an associated image, within MAX_ASSOCIATED_PIXELS. */
export function tiffAssociatedReader(file: FileSource, name: string, dir: TiffDirectory, concurrency = 8): AssociatedReader {
  return {
    info: { name, width: dir.width, height: dir.height, compression: tiffCompressionName(dir) },
    async read(signal) {
      const pixels = dir.width * dir.height;
      if (pixels > MAX_ASSOCIATED_PIXELS) {
        throw new SdsError(
          'SLIDE_TOO_LARGE',
          `${file.name}: its ${name} image declares ${dir.width}x${dir.height} px (${describePixels(pixels)}), more than the ${describePixels(MAX_ASSOCIATED_PIXELS)} sds decodes for an associated image`,
          {
            suggestion: 'the file is probably corrupt; its pyramid levels can still be read',
            context: { path: file.path, image: name, width: dir.width, height: dir.height, budget: MAX_ASSOCIATED_PIXELS, directory: dir.index },
          },
        );
      }
      const decoder = createTileDecoder(codecSettings(dir), file.name);
      const grid: TileGrid = { width: dir.width, height: dir.height, tileWidth: dir.blockWidth, tileHeight: dir.blockHeight };
      const data = await composeRegion(grid, 0, 0, dir.width, dir.height, (col, row) => readBlock(file, dir, decoder, row * dir.blocksAcross + col, `${name} ${dir.tiled ? 'tile' : 'strip'} ${row * dir.blocksAcross + col}`, MAX_ASSOCIATED_PIXELS), {
        signal,
        concurrency,
      });
      return { width: dir.width, height: dir.height, data };
    },
  };
}

/** One tile or strip: its bytes, decoded; errors name the file and the block. */
export async function readBlock(file: FileSource, dir: TiffDirectory, decoder: TileDecoder, index: number, what: string, budget = MAX_BLOCK_PIXELS): Promise<RgbImage> {
  const count = dir.byteCounts[index]!;
  // Writers leave empty tiles (0 bytes) where there is nothing to store: white, as OpenSlide shows them.
  if (count === 0) return blankTile(dir.blockWidth, dir.blockHeight);
  // Checked before a byte is read: every decoder's output is bounded by this declared size.
  const pixels = dir.blockWidth * dir.blockHeight;
  if (pixels > budget) {
    throw new SdsError('SLIDE_TOO_LARGE', `${file.name}: ${what} is ${dir.blockWidth}x${dir.blockHeight} px (${describePixels(pixels)}), more than the ${describePixels(budget)} sds decodes at once`, {
      suggestion: 'the file is corrupt, or its tiles are far larger than slides use; re-tile it, e.g. `vips tiffsave in out.tif --tile --pyramid`',
      context: { path: file.path, directory: dir.index, block: index, width: dir.blockWidth, height: dir.blockHeight, budget },
    });
  }
  // Uncompressed data past the block's own size is never used: do not read it.
  const length = dir.compression === 1 ? Math.min(count, pixels * dir.samplesPerPixel) : count;
  const bytes = await file.read(dir.offsets[index]!, length, what);
  try {
    return await decoder.decode(bytes);
  } catch (cause) {
    const code = cause instanceof SdsError ? cause.code : 'SLIDE_UNREADABLE';
    // libvips repeats its message once per line; one copy of each line is enough.
    const reason = [...new Set(String((cause as Error).message ?? cause).split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
    throw new SdsError(code, `${file.name}: ${what} cannot be decoded (${compressionName(dir.compression)}): ${reason}`, {
      suggestion: cause instanceof SdsError && cause.suggestion ? cause.suggestion : 'the slide is corrupt; copy or download it again',
      context: { path: file.path, directory: dir.index, block: index },
      cause,
    });
  }
}
