/**
 * A whole-slide image opened through its format's SlideSource: its levels (stored, plus virtual ones where the
 * stored pyramid stops early), region reads in OpenSlide's coordinates, associated images, one tile cache.
 * Nothing here knows a format.
 */
import { SdsError } from '../core/errors.js';
import { halve } from './downsample.js';
import { openSource } from './formats.js';
import { VIRTUAL_TILE_MAX, VIRTUAL_TILE_MIN } from './limits.js';
import { blankTile, composeRegion, composeTiles, type TileGrid } from './region.js';
import type { SlideSource } from './source.js';
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
interface LevelTiles {
  level: SlideLevel;
  tile(col: number, row: number): Promise<RgbImage>;
}

export class Slide {
  private closed = false;
  private readonly associatedFailures = new Map<string, SdsError>();

  private constructor(
    private readonly source: SlideSource,
    readonly info: SlideInfo,
    private readonly levelTiles: LevelTiles[],
    /** Decoded tiles of all levels; exposed so callers can watch or clear it. */
    readonly cache: TileCache,
    private readonly concurrency: number,
  ) {}

  /** Open and check a slide of any format sds reads. Errors are SdsError: FILE_NOT_FOUND, SLIDE_UNREADABLE, SLIDE_UNSUPPORTED. */
  static async open(path: string, options: OpenSlideOptions = {}): Promise<Slide> {
    const cache = new TileCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
    const concurrency = options.concurrency ?? 8;
    let source: SlideSource;
    try {
      source = await openSource(path, { cache, concurrency });
    } catch (err) {
      throw asSlideError(err, path);
    }
    try {
      return await Slide.build(path, source, cache, concurrency, options);
    } catch (err) {
      await source.close().catch(() => undefined);
      throw asSlideError(err, path);
    }
  }

  private static async build(path: string, source: SlideSource, cache: TileCache, concurrency: number, options: OpenSlideOptions): Promise<Slide> {
    const base = source.levels[0]!;
    const tiles: LevelTiles[] = source.levels.map((stored, index) => {
      const level: SlideLevel = {
        index,
        width: stored.width,
        height: stored.height,
        downsample: stored.downsample ?? (base.width / stored.width + base.height / stored.height) / 2,
        tileWidth: stored.tileWidth,
        tileHeight: stored.tileHeight,
        compression: stored.compression,
        virtual: false,
      };
      return {
        level,
        // No abort signal into a load: concurrent readers share it through the cache (regions check theirs between tiles).
        tile: (col, row) => cache.get(`${index}:${col}:${row}`, async () => (await source.readTile(index, col, row)) ?? blankTile(stored.tileWidth, stored.tileHeight)),
      };
    });
    const storedCount = tiles.length;
    const smallest = options.smallestLevelSize ?? 512;
    while (smallest > 0 && Math.max(tiles.at(-1)!.level.width, tiles.at(-1)!.level.height) > smallest) {
      tiles.push(virtualLevel(tiles.at(-1)!, tiles.length, cache, concurrency, source, storedCount - 1));
    }
    if (options.probe ?? true) await probe(source, storedCount - 1);
    const info: SlideInfo = {
      path,
      vendor: source.vendor,
      levels: tiles.map((t) => t.level),
      mpp: source.mpp,
      magnification: source.objectivePower,
      associated: [...source.associated],
      properties: { ...source.properties },
    };
    return new Slide(source, info, tiles, cache, concurrency);
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
    const tiles = this.levelTiles[level];
    if (!Number.isInteger(level) || !tiles) {
      throw new SdsError('BAD_ARGUMENT', `level ${level} does not exist in ${this.name} (levels 0..${this.levelTiles.length - 1})`, { suggestion: 'see `sds info <slide>`' });
    }
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new SdsError('BAD_ARGUMENT', `bad region x=${x} y=${y} ${width}x${height}: width and height must be positive integers`, { suggestion: 'pass whole pixels' });
    }
    if (width * height * 3 > MAX_REGION_BYTES) {
      throw new SdsError('BAD_ARGUMENT', `a ${width}x${height} region needs ${Math.ceil((width * height * 3) / 2 ** 20)} MiB; at most ${MAX_REGION_BYTES / 2 ** 20} MiB per read`, {
        suggestion: 'read it in tiles, or from a lower-resolution level',
      });
    }
    const { downsample } = tiles.level;
    // Level coordinates rounded to whole pixels: an exact decode, where OpenSlide resamples fractional positions.
    const lx = Math.round(x / downsample);
    const ly = Math.round(y / downsample);
    const { signal } = options;
    return composeRegion(gridOf(tiles.level), lx, ly, width, height, (c, r) => tiles.tile(c, r), { signal, concurrency: this.concurrency });
  }

  /**
   * RGB of an associated image ('thumbnail', 'label', 'macro', ...); not cached. A refusal or a decode failure is
   * remembered, so asking again costs nothing.
   */
  async readAssociated(name: string, options: ReadOptions = {}): Promise<RgbImage> {
    this.assertOpen();
    const failed = this.associatedFailures.get(name);
    if (failed) throw failed;
    try {
      return await this.source.readAssociated(name, options.signal);
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
    await this.source.close();
  }

  private get name(): string {
    return this.info.path.split('/').at(-1) ?? this.info.path;
  }

  private assertOpen(): void {
    if (this.closed) throw new SdsError('BAD_ARGUMENT', `${this.name} was closed`, { suggestion: 'open the slide again' });
  }
}

/** Open a slide of any format sds reads (see `SLIDE_FORMATS`). */
export function openSlide(path: string, options?: OpenSlideOptions): Promise<Slide> {
  return Slide.open(path, options);
}

/** Errors from a format are SdsErrors already; anything else (a library's throw) becomes SLIDE_UNREADABLE naming the path. */
function asSlideError(err: unknown, path: string): SdsError {
  if (err instanceof SdsError) return err;
  const name = path.split('/').filter(Boolean).at(-1) ?? path;
  return new SdsError('SLIDE_UNREADABLE', `${name} cannot be read: ${(err as Error).message}`, {
    suggestion: 'the file is corrupt or not a slide',
    context: { path },
    cause: err,
  });
}

/** Decode the first stored tile of the smallest stored level, so undecodable tiles fail at open. */
async function probe(source: SlideSource, level: number): Promise<void> {
  const { width, height, tileWidth, tileHeight } = source.levels[level]!;
  const cols = Math.ceil(width / tileWidth);
  const rows = Math.ceil(height / tileHeight);
  // The first tile with data (a sparse level may store nothing at (0, 0)); a bounded search.
  for (let i = 0; i < Math.min(cols * rows, 4096); i++) {
    if (!source.isEmpty(level, i % cols, Math.floor(i / cols))) {
      await source.readTile(level, i % cols, Math.floor(i / cols));
      return;
    }
  }
}

function gridOf(level: SlideLevel): TileGrid {
  return { width: level.width, height: level.height, tileWidth: level.tileWidth, tileHeight: level.tileHeight };
}

/** Virtual tiles as large as their parent's, within [VIRTUAL_TILE_MIN, VIRTUAL_TILE_MAX]: never a huge area, never millions of tiny tiles. */
function virtualTileSide(parent: number): number {
  return Math.min(VIRTUAL_TILE_MAX, Math.max(VIRTUAL_TILE_MIN, parent));
}

/**
 * A level the file lacks: each tile is the 2x2 box average of the matching 2x-size area of the level above.
 * A tile over an area the file stores no data for is blank, known from the smallest stored level's tile table
 * alone, without visiting the levels in between (which for a huge blank slide would be billions of tiles).
 */
function virtualLevel(parent: LevelTiles, index: number, cache: TileCache, concurrency: number, source: SlideSource, storedLevel: number): LevelTiles {
  const p = parent.level;
  const stored = source.levels[storedLevel]!;
  const level: SlideLevel = {
    index,
    width: Math.ceil(p.width / 2),
    height: Math.ceil(p.height / 2),
    downsample: p.downsample * 2,
    tileWidth: virtualTileSide(p.tileWidth),
    tileHeight: virtualTileSide(p.tileHeight),
    compression: p.compression,
    virtual: true,
  };
  const parentGrid = gridOf(p);
  // Stored-level pixels per pixel of this level (a power of two: every virtual level halves the one above).
  const scale = 2 ** (index - storedLevel);
  const blank = (col: number, row: number): boolean => {
    const x0 = col * level.tileWidth * scale;
    const y0 = row * level.tileHeight * scale;
    const x1 = Math.min((col + 1) * level.tileWidth * scale, stored.width);
    const y1 = Math.min((row + 1) * level.tileHeight * scale, stored.height);
    for (let r = Math.floor(y0 / stored.tileHeight); r * stored.tileHeight < y1; r++) {
      for (let c = Math.floor(x0 / stored.tileWidth); c * stored.tileWidth < x1; c++) if (!source.isEmpty(storedLevel, c, r)) return false;
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
