/**
 * A whole-slide image opened from a TIFF/SVS file: its levels (stored, plus virtual ones where the stored
 * pyramid stops early), region reads in OpenSlide's coordinates, and its associated images.
 */
import { SdsError } from '../core/errors.js';
import { compressionName, createTileDecoder, type CodecSettings, type TileDecoder } from './decoders/index.js';
import { halve } from './downsample.js';
import { FileSource } from './file-source.js';
import { describePixels, MAX_ASSOCIATED_PIXELS, MAX_BLOCK_PIXELS, VIRTUAL_TILE_MAX, VIRTUAL_TILE_MIN } from './limits.js';
import { blankTile, composeRegion, composeTiles, type TileGrid } from './region.js';
import { layoutSlide } from './slide-metadata.js';
import { readDirectories, type TiffDirectory } from './tiff-directory.js';
import { DEFAULT_CACHE_BYTES, TileCache } from './tile-cache.js';
import type { AssociatedImageInfo, Mpp, ReadOptions, RgbImage, SlideInfo, SlideLevel } from './types.js';

export interface OpenSlideOptions {
  /** Bytes of decoded tiles kept in memory (default 256 MiB). */
  cacheBytes?: number;
  /** Add virtual levels (downsample x2 each) until the smallest level's longer side is at most this; 0: none. Default 512. */
  smallestLevelSize?: number;
  /** Decode one tile at open, so a slide whose tiles cannot be decoded fails there and not mid-run. Default true. */
  probe?: boolean;
  /** Tiles decoded at once within one read (default 8). */
  concurrency?: number;
}

/** One region read may not allocate more than this; larger areas go through tiles or a lower level. */
const MAX_REGION_BYTES = 1 << 30;

/** A level's tiles, however they are made. */
interface LevelSource {
  level: SlideLevel;
  tile(col: number, row: number): Promise<RgbImage>;
}

/** The smallest stored level: virtual levels below it ask its tile table which of their tiles are blank. */
interface StoredBase {
  dir: TiffDirectory;
  level: SlideLevel;
}

export class Slide {
  private closed = false;
  private readonly associatedFailures = new Map<string, SdsError>();

  private constructor(
    private readonly file: FileSource,
    readonly info: SlideInfo,
    private readonly sources: LevelSource[],
    private readonly associatedDirs: Map<string, TiffDirectory>,
    /** Decoded tiles of all levels; exposed so callers can watch or clear it. */
    readonly cache: TileCache,
    private readonly concurrency: number,
  ) {}

  /** Open and check a slide. Errors are SdsError: FILE_NOT_FOUND, SLIDE_UNREADABLE, SLIDE_UNSUPPORTED. */
  static async open(path: string, options: OpenSlideOptions = {}): Promise<Slide> {
    const file = await FileSource.open(path);
    try {
      return await Slide.build(file, options);
    } catch (err) {
      await file.close().catch(() => undefined);
      if (err instanceof SdsError) throw err;
      throw new SdsError('SLIDE_UNREADABLE', `${file.name} cannot be read: ${(err as Error).message}`, {
        suggestion: 'the file is corrupt or not a slide',
        context: { path },
        cause: err,
      });
    }
  }

  private static async build(file: FileSource, options: OpenSlideOptions): Promise<Slide> {
    const dirs = await readDirectories(file);
    const layout = layoutSlide(dirs);
    if (layout.levels.length === 0) {
      throw new SdsError('SLIDE_UNSUPPORTED', `${file.name} has no tiled image; sds reads tiled pyramidal TIFF and Aperio SVS slides`, {
        suggestion: 'convert it, e.g. `vips tiffsave in.tif out.tif --tile --pyramid --compression jpeg`',
        context: { path: file.path },
      });
    }
    const cache = new TileCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
    const concurrency = options.concurrency ?? 8;
    const base = layout.levels[0]!;
    const sources: LevelSource[] = layout.levels.map((dir, index) => {
      // Unsupported compression fails here, at open, naming the code and the file.
      const decoder = createTileDecoder(codecSettings(dir), file.name);
      const level: SlideLevel = {
        index,
        width: dir.width,
        height: dir.height,
        downsample: (base.width / dir.width + base.height / dir.height) / 2,
        tileWidth: dir.blockWidth,
        tileHeight: dir.blockHeight,
        compression: dir.compression,
        compressionName: compressionName(dir.compression),
        virtual: false,
      };
      return tiffLevel(file, dir, decoder, level, cache);
    });
    const smallest = options.smallestLevelSize ?? 512;
    const stored: StoredBase = { dir: layout.levels.at(-1)!, level: sources.at(-1)!.level };
    while (smallest > 0 && Math.max(sources.at(-1)!.level.width, sources.at(-1)!.level.height) > smallest) {
      sources.push(virtualLevel(sources.at(-1)!, sources.length, cache, concurrency, stored));
    }
    if (options.probe ?? true) await sources[layout.levels.length - 1]!.tile(0, 0);

    const associatedDirs = new Map(layout.associated.map(({ name, dir }) => [name, dir]));
    const associated: AssociatedImageInfo[] = layout.associated.map(({ name, dir }) => ({
      name,
      width: dir.width,
      height: dir.height,
      compression: dir.compression,
      compressionName: compressionName(dir.compression),
    }));
    const info: SlideInfo = {
      path: file.path,
      vendor: layout.vendor,
      levels: sources.map((s) => s.level),
      mpp: layout.mpp,
      magnification: layout.magnification,
      associated,
    };
    return new Slide(file, info, sources, associatedDirs, cache, concurrency);
  }

  get path(): string {
    return this.info.path;
  }

  get levels(): SlideLevel[] {
    return this.info.levels;
  }

  get mpp(): Mpp | undefined {
    return this.info.mpp;
  }

  get magnification(): number | undefined {
    return this.info.magnification;
  }

  get associated(): AssociatedImageInfo[] {
    return this.info.associated;
  }

  /**
   * RGB pixels (width * height * 3) of a level, as OpenSlide's read_region: `x`, `y` are LEVEL-0 pixels of the
   * top-left corner, `width`, `height` are pixels of `level`. Pixels outside the slide are white.
   */
  async readRegion(level: number, x: number, y: number, width: number, height: number, options: ReadOptions = {}): Promise<Uint8Array> {
    this.assertOpen();
    const source = this.sources[level];
    if (!Number.isInteger(level) || !source) {
      throw new SdsError('BAD_ARGUMENT', `level ${level} does not exist in ${this.file.name} (levels 0..${this.sources.length - 1})`, { suggestion: 'see `sds info <slide>`' });
    }
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new SdsError('BAD_ARGUMENT', `bad region x=${x} y=${y} ${width}x${height}: width and height must be positive integers`, { suggestion: 'pass whole pixels' });
    }
    if (width * height * 3 > MAX_REGION_BYTES) {
      throw new SdsError('BAD_ARGUMENT', `a ${width}x${height} region needs ${Math.ceil((width * height * 3) / 2 ** 20)} MiB; at most ${MAX_REGION_BYTES / 2 ** 20} MiB per read`, {
        suggestion: 'read it in tiles, or from a lower-resolution level',
      });
    }
    const { downsample } = source.level;
    // Level coordinates rounded to whole pixels: an exact decode, where OpenSlide resamples fractional positions.
    const lx = Math.round(x / downsample);
    const ly = Math.round(y / downsample);
    return composeRegion(gridOf(source.level), lx, ly, width, height, (c, r) => source.tile(c, r), { signal: options.signal, concurrency: this.concurrency });
  }

  /**
   * RGB of an associated image ('thumbnail', 'label', 'macro'), read strip by strip; not cached. One larger than
   * MAX_ASSOCIATED_PIXELS is refused (SLIDE_TOO_LARGE) before anything is read; a refusal or a decode failure is
   * remembered, so asking again costs nothing.
   */
  async readAssociated(name: string, options: ReadOptions = {}): Promise<RgbImage> {
    this.assertOpen();
    const dir = this.associatedDirs.get(name);
    if (!dir) {
      const have = [...this.associatedDirs.keys()];
      throw new SdsError('BAD_ARGUMENT', `${this.file.name} has no associated image "${name}"${have.length ? ` (it has: ${have.join(', ')})` : ''}`, {
        suggestion: 'see `sds info <slide>`',
      });
    }
    const failed = this.associatedFailures.get(name);
    if (failed) throw failed;
    try {
      const pixels = dir.width * dir.height;
      if (pixels > MAX_ASSOCIATED_PIXELS) {
        throw new SdsError(
          'SLIDE_TOO_LARGE',
          `${this.file.name}: its ${name} image declares ${dir.width}x${dir.height} px (${describePixels(pixels)}), more than the ${describePixels(MAX_ASSOCIATED_PIXELS)} sds decodes for an associated image`,
          {
            suggestion: 'the file is probably corrupt; its pyramid levels can still be read',
            context: { path: this.file.path, image: name, width: dir.width, height: dir.height, budget: MAX_ASSOCIATED_PIXELS, directory: dir.index },
          },
        );
      }
      const decoder = createTileDecoder(codecSettings(dir), this.file.name);
      const grid: TileGrid = { width: dir.width, height: dir.height, tileWidth: dir.blockWidth, tileHeight: dir.blockHeight };
      const data = await composeRegion(grid, 0, 0, dir.width, dir.height, (col, row) => readBlock(this.file, dir, decoder, row * dir.blocksAcross + col, `${name} strip ${row}`, MAX_ASSOCIATED_PIXELS), {
        signal: options.signal,
        concurrency: this.concurrency,
      });
      return { width: dir.width, height: dir.height, data };
    } catch (err) {
      // What the file says does not change while it is open: remember refusals and undecodable data (not I/O errors, not aborts).
      if (err instanceof SdsError && (err.code === 'SLIDE_TOO_LARGE' || err.code === 'SLIDE_UNSUPPORTED' || err.context?.['block'] !== undefined)) {
        this.associatedFailures.set(name, err);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    await this.file.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new SdsError('BAD_ARGUMENT', `${this.file.name} was closed`, { suggestion: 'open the slide again' });
  }
}

/** Open a slide (Aperio SVS or tiled pyramidal TIFF). */
export function openSlide(path: string, options?: OpenSlideOptions): Promise<Slide> {
  return Slide.open(path, options);
}

function gridOf(level: SlideLevel): TileGrid {
  return { width: level.width, height: level.height, tileWidth: level.tileWidth, tileHeight: level.tileHeight };
}

function codecSettings(dir: TiffDirectory): CodecSettings {
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

function tiffLevel(file: FileSource, dir: TiffDirectory, decoder: TileDecoder, level: SlideLevel, cache: TileCache): LevelSource {
  return {
    level,
    tile: (col, row) =>
      cache.get(`${level.index}:${col}:${row}`, () => readBlock(file, dir, decoder, row * dir.blocksAcross + col, `tile (${col}, ${row}) of level ${level.index}`)),
  };
}

/** One tile or strip: its bytes, decoded; errors name the file and the block. */
async function readBlock(file: FileSource, dir: TiffDirectory, decoder: TileDecoder, index: number, what: string, budget = MAX_BLOCK_PIXELS): Promise<RgbImage> {
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

/** Virtual tiles as large as their parent's, within [VIRTUAL_TILE_MIN, VIRTUAL_TILE_MAX]: never a huge area, never millions of tiny tiles. */
function virtualTileSide(parent: number): number {
  return Math.min(VIRTUAL_TILE_MAX, Math.max(VIRTUAL_TILE_MIN, parent));
}

/**
 * A level the file lacks: each tile is the 2x2 box average of the matching 2x-size area of the level above.
 * A tile over an area the file stores no data for is blank, known from the stored level's tile table alone,
 * without visiting the levels in between (which for a huge blank slide would be billions of tiles).
 */
function virtualLevel(parent: LevelSource, index: number, cache: TileCache, concurrency: number, base: StoredBase): LevelSource {
  const p = parent.level;
  const level: SlideLevel = {
    index,
    width: Math.ceil(p.width / 2),
    height: Math.ceil(p.height / 2),
    downsample: p.downsample * 2,
    tileWidth: virtualTileSide(p.tileWidth),
    tileHeight: virtualTileSide(p.tileHeight),
    compression: p.compression,
    compressionName: p.compressionName,
    virtual: true,
  };
  const parentGrid = gridOf(p);
  // Stored-level pixels per pixel of this level (a power of two: every virtual level halves the one above).
  const scale = 2 ** (index - base.level.index);
  const blank = (col: number, row: number): boolean => {
    const { dir } = base;
    const x0 = col * level.tileWidth * scale;
    const y0 = row * level.tileHeight * scale;
    const x1 = Math.min((col + 1) * level.tileWidth * scale, dir.width);
    const y1 = Math.min((row + 1) * level.tileHeight * scale, dir.height);
    for (let r = Math.floor(y0 / dir.blockHeight); r * dir.blockHeight < y1; r++) {
      for (let c = Math.floor(x0 / dir.blockWidth); c * dir.blockWidth < x1; c++) if (dir.byteCounts[r * dir.blocksAcross + c] !== 0) return false;
    }
    return true;
  };
  return {
    level,
    tile: (col, row) =>
      cache.get(`${index}:${col}:${row}`, async () => {
        const tw = Math.min(level.tileWidth, level.width - col * level.tileWidth);
        const th = Math.min(level.tileHeight, level.height - row * level.tileHeight);
        if (blank(col, row)) return blankTile(tw, th);
        const px = 2 * col * level.tileWidth;
        const py = 2 * row * level.tileHeight;
        // Only the part inside the parent, so edge pixels average tissue and never white padding.
        const w = Math.min(2 * level.tileWidth, p.width - px);
        const h = Math.min(2 * level.tileHeight, p.height - py);
        const data = await composeTiles(parentGrid, px, py, w, h, (c, r) => parent.tile(c, r), { concurrency });
        return data ? halve({ width: w, height: h, data }) : blankTile(tw, th);
      }),
  };
}
