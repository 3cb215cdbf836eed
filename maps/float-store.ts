/**
 * A chunked, multiscale float32 store on disk in OME-Zarr v0.4 layout (zarr v2, written by hand:
 * JSON metadata + raw little-endian float32 chunks, compressor null). Writing the files ourselves
 * keeps chunk creation lazy (a chunk file exists only where data was written, so a sparse
 * whole-slide map costs disk only where tissue is) and keeps memory bounded by a small chunk cache.
 * QuPath / napari / zarrita read it as a plain OME-Zarr image with axes (y, x).
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { SdsError } from '../core/errors.js';

export interface FloatStoreOptions {
  width: number;
  height: number;
  /** Chunk side in pixels (square chunks). */
  chunk?: number;
  name?: string;
  /** Chunks kept in memory at once (each chunk*chunk*4 bytes). */
  cacheChunks?: number;
}

export interface LevelShape {
  width: number;
  height: number;
}

/** One stored chunk as yielded by `FloatStore.chunks`: data has stride `chunk`, valid area width x height. */
export interface StoredChunk {
  cx: number;
  cy: number;
  /** Top-left in level pixels. */
  x: number;
  y: number;
  /** Valid (inside-the-array) extent; the rest of `data` is edge padding. */
  width: number;
  height: number;
  data: Float32Array;
}

interface CachedChunk {
  data: Float32Array;
  dirty: boolean;
}

const DEFAULT_CHUNK = 512;
const DEFAULT_CACHE_CHUNKS = 32;

// Raw chunks are little-endian on disk; we copy bytes straight into Float32Array, which is only right
// on a little-endian host (all platforms Node supports in practice).
if (endianness() !== 'LE') throw new Error('FloatStore needs a little-endian host');

function levelShapes(width: number, height: number, chunk: number): LevelShape[] {
  const shapes: LevelShape[] = [{ width, height }];
  let s = shapes[0]!;
  while (Math.max(s.width, s.height) > chunk) {
    s = { width: Math.ceil(s.width / 2), height: Math.ceil(s.height / 2) };
    shapes.push(s);
  }
  return shapes;
}

function zarray(shape: LevelShape, chunk: number): object {
  return {
    zarr_format: 2,
    shape: [shape.height, shape.width],
    chunks: [chunk, chunk],
    dtype: '<f4',
    compressor: null,
    fill_value: 'NaN',
    order: 'C',
    filters: null,
    // OME-Zarr v0.4 expects nested chunk keys ("0/cy/cx").
    dimension_separator: '/',
  };
}

function zattrs(name: string, levels: number): object {
  return {
    multiscales: [
      {
        version: '0.4',
        name,
        axes: [
          { name: 'y', type: 'space' },
          { name: 'x', type: 'space' },
        ],
        datasets: Array.from({ length: levels }, (_, k) => ({
          path: String(k),
          coordinateTransformations: [{ type: 'scale', scale: [2 ** k, 2 ** k] }],
        })),
        type: 'mean',
        metadata: { description: '2x2 NaN-aware mean of the level below' },
      },
    ],
  };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new SdsError('FILE_NOT_FOUND', `cannot read ${path}`, {
      cause: err,
      suggestion: 'point at a directory written by FloatStore.create (an OME-Zarr group)',
    });
  }
}

function isEnoent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

export class FloatStore {
  /** Shapes of levels 0..n-1 (only level 0 until `finalize`). */
  levels: LevelShape[];
  private readonly cache = new Map<string, CachedChunk>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly chunk: number,
    readonly name: string,
    levels: LevelShape[],
    private readonly cacheChunks: number,
  ) {
    this.levels = levels;
  }

  get width(): number {
    return this.levels[0]!.width;
  }
  get height(): number {
    return this.levels[0]!.height;
  }

  static async create(dir: string, options: FloatStoreOptions): Promise<FloatStore> {
    const { width, height, chunk = DEFAULT_CHUNK, name = 'saliency', cacheChunks = DEFAULT_CACHE_CHUNKS } = options;
    for (const [k, v] of Object.entries({ width, height, chunk })) {
      if (!Number.isInteger(v) || v <= 0) throw new SdsError('BAD_ARGUMENT', `FloatStore ${k} must be a positive integer, got ${v}`);
    }
    const store = new FloatStore(dir, chunk, name, [{ width, height }], Math.max(1, cacheChunks));
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, '0'), { recursive: true });
    await writeFile(join(dir, '.zgroup'), JSON.stringify({ zarr_format: 2 }));
    await store.writeMetadata();
    return store;
  }

  static async open(dir: string, options: { cacheChunks?: number } = {}): Promise<FloatStore> {
    const attrs = (await readJson(join(dir, '.zattrs'))) as { multiscales?: { name?: string; datasets?: { path: string }[] }[] };
    const ms = attrs.multiscales?.[0];
    if (!ms?.datasets?.length) throw new SdsError('BAD_INPUT', `${dir} has no OME-Zarr multiscales metadata`);
    const levels: LevelShape[] = [];
    let chunk = 0;
    for (const [k, ds] of ms.datasets.entries()) {
      if (ds.path !== String(k)) throw new SdsError('BAD_INPUT', `${dir}: dataset ${k} has path "${ds.path}", expected "${k}"`);
      const za = (await readJson(join(dir, ds.path, '.zarray'))) as { shape?: number[]; chunks?: number[]; dtype?: string; compressor?: unknown };
      const [h, w] = za.shape ?? [];
      const [ch, cw] = za.chunks ?? [];
      if (za.dtype !== '<f4' || za.compressor !== null || !h || !w || !cw || cw !== ch) {
        throw new SdsError('BAD_INPUT', `${dir}/${ds.path} is not an uncompressed 2-D float32 array with square chunks`);
      }
      chunk = cw;
      levels.push({ width: w, height: h });
    }
    return new FloatStore(dir, chunk, ms.name ?? 'saliency', levels, Math.max(1, options.cacheChunks ?? DEFAULT_CACHE_CHUNKS));
  }

  /** Writes values (h x w, row-major) with top-left at level-0 (x, y); parts outside are dropped. */
  writeRegion(x: number, y: number, w: number, h: number, values: Float32Array): Promise<void> {
    if (values.length !== w * h) {
      throw new SdsError('BAD_ARGUMENT', `writeRegion: ${values.length} values for a ${w}x${h} region`);
    }
    return this.locked(() => this.writeUnlocked(x, y, w, h, values));
  }

  /** Reads an h x w region of `level` at level coordinates; pixels outside the array or never written are NaN. */
  readRegion(level: number, x: number, y: number, w: number, h: number): Promise<Float32Array> {
    this.checkLevel(level);
    return this.locked(() => this.readUnlocked(level, x, y, w, h));
  }

  /** Writes dirty cached chunks to disk. */
  flush(): Promise<void> {
    return this.locked(() => this.flushUnlocked());
  }

  /**
   * Builds levels 1.. by 2x2 NaN-aware mean until the longer side fits one chunk, and rewrites
   * the metadata. Only chunks under written data are visited, so cost follows the tissue.
   */
  finalize(): Promise<void> {
    return this.locked(async () => {
      await this.flushUnlocked();
      this.cache.clear();
      const shapes = levelShapes(this.width, this.height, this.chunk);
      // Old pyramid levels (from an earlier finalize) would be stale: drop them.
      for (let k = 1; k < Math.max(shapes.length, this.levels.length); k++) {
        await rm(join(this.dir, String(k)), { recursive: true, force: true });
      }
      this.levels = [shapes[0]!];
      for (let k = 1; k < shapes.length; k++) {
        await this.buildLevel(k, shapes[k]!);
        this.levels.push(shapes[k]!);
      }
      await this.writeMetadata();
    });
  }

  /** Streams the stored chunks of a level one at a time (missing chunks are all-NaN and skipped). */
  async *chunks(level: number): AsyncGenerator<StoredChunk> {
    this.checkLevel(level);
    await this.flush();
    const shape = this.levels[level]!;
    for (const [cx, cy] of await this.listChunks(level)) {
      const data = await this.loadFromDisk(level, cx, cy);
      if (!data) continue;
      const x = cx * this.chunk;
      const y = cy * this.chunk;
      yield { cx, cy, x, y, width: Math.min(this.chunk, shape.width - x), height: Math.min(this.chunk, shape.height - y), data };
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Serializes operations: the chunk cache is shared and chunk loads are async. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkLevel(level: number): void {
    if (!Number.isInteger(level) || level < 0 || level >= this.levels.length) {
      throw new SdsError('BAD_ARGUMENT', `level ${level} does not exist (store has ${this.levels.length})`, {
        suggestion: 'call finalize() to build the pyramid levels',
      });
    }
  }

  private chunkPath(level: number, cx: number, cy: number): string {
    return join(this.dir, String(level), String(cy), String(cx));
  }

  private async writeMetadata(): Promise<void> {
    for (const [k, shape] of this.levels.entries()) {
      await mkdir(join(this.dir, String(k)), { recursive: true });
      await writeFile(join(this.dir, String(k), '.zarray'), JSON.stringify(zarray(shape, this.chunk), null, 1));
    }
    await writeFile(join(this.dir, '.zattrs'), JSON.stringify(zattrs(this.name, this.levels.length), null, 1));
  }

  private async loadFromDisk(level: number, cx: number, cy: number): Promise<Float32Array | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(this.chunkPath(level, cx, cy));
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
    const data = new Float32Array(this.chunk * this.chunk);
    if (buf.byteLength !== data.byteLength) {
      throw new SdsError('BAD_INPUT', `chunk ${this.chunkPath(level, cx, cy)} has ${buf.byteLength} bytes, expected ${data.byteLength}`);
    }
    new Uint8Array(data.buffer).set(buf);
    return data;
  }

  private async saveToDisk(level: number, cx: number, cy: number, data: Float32Array): Promise<void> {
    await mkdir(join(this.dir, String(level), String(cy)), { recursive: true });
    // temp file + rename: a reader (the server drawing a running analysis) sees the whole chunk or none
    const path = this.chunkPath(level, cx, cy);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    await rename(tmp, path);
  }

  /** Chunk through the LRU cache; a dirty chunk is written back when evicted. */
  private async getChunk(level: number, cx: number, cy: number, create: boolean): Promise<CachedChunk | undefined> {
    const key = `${level}/${cy}/${cx}`;
    let c = this.cache.get(key);
    if (c) {
      // Refresh LRU position.
      this.cache.delete(key);
      this.cache.set(key, c);
      return c;
    }
    const data = (await this.loadFromDisk(level, cx, cy)) ?? (create ? new Float32Array(this.chunk * this.chunk).fill(NaN) : undefined);
    if (!data) return undefined;
    c = { data, dirty: false };
    this.cache.set(key, c);
    while (this.cache.size > this.cacheChunks) {
      const [oldKey, old] = this.cache.entries().next().value as [string, CachedChunk];
      this.cache.delete(oldKey);
      if (old.dirty) {
        const [l, y, x] = oldKey.split('/').map(Number) as [number, number, number];
        await this.saveToDisk(l, x, y, old.data);
      }
    }
    return c;
  }

  private async flushUnlocked(): Promise<void> {
    for (const [key, c] of this.cache) {
      if (!c.dirty) continue;
      const [l, y, x] = key.split('/').map(Number) as [number, number, number];
      await this.saveToDisk(l, x, y, c.data);
      c.dirty = false;
    }
  }

  private async writeUnlocked(x: number, y: number, w: number, h: number, values: Float32Array): Promise<void> {
    const level = 0;
    const { width, height } = this;
    const cs = this.chunk;
    const x0 = Math.max(0, x), y0 = Math.max(0, y);
    const x1 = Math.min(width, x + w), y1 = Math.min(height, y + h);
    for (let cy = Math.floor(y0 / cs); cy * cs < y1; cy++) {
      for (let cx = Math.floor(x0 / cs); cx * cs < x1; cx++) {
        const bx0 = Math.max(x0, cx * cs), bx1 = Math.min(x1, (cx + 1) * cs);
        const by0 = Math.max(y0, cy * cs), by1 = Math.min(y1, (cy + 1) * cs);
        // All-NaN blocks must not create chunk files: sparse maps stay sparse on disk.
        let anyData = false;
        for (let Y = by0; Y < by1 && !anyData; Y++) {
          for (let X = bx0; X < bx1; X++) {
            if (!Number.isNaN(values[(Y - y) * w + (X - x)]!)) {
              anyData = true;
              break;
            }
          }
        }
        const c = await this.getChunk(level, cx, cy, anyData);
        if (!c) continue;
        for (let Y = by0; Y < by1; Y++) {
          const src = (Y - y) * w - x;
          const dst = (Y - cy * cs) * cs - cx * cs;
          c.data.set(values.subarray(src + bx0, src + bx1), dst + bx0);
        }
        c.dirty = true;
      }
    }
  }

  private async readUnlocked(level: number, x: number, y: number, w: number, h: number): Promise<Float32Array> {
    const out = new Float32Array(w * h).fill(NaN);
    const { width, height } = this.levels[level]!;
    const cs = this.chunk;
    const x0 = Math.max(0, x), y0 = Math.max(0, y);
    const x1 = Math.min(width, x + w), y1 = Math.min(height, y + h);
    for (let cy = Math.floor(y0 / cs); cy * cs < y1; cy++) {
      for (let cx = Math.floor(x0 / cs); cx * cs < x1; cx++) {
        const c = await this.getChunk(level, cx, cy, false);
        if (!c) continue;
        const bx0 = Math.max(x0, cx * cs), bx1 = Math.min(x1, (cx + 1) * cs);
        const by0 = Math.max(y0, cy * cs), by1 = Math.min(y1, (cy + 1) * cs);
        for (let Y = by0; Y < by1; Y++) {
          const src = (Y - cy * cs) * cs - cx * cs;
          out.set(c.data.subarray(src + bx0, src + bx1), (Y - y) * w + (bx0 - x));
        }
      }
    }
    return out;
  }

  private async listChunks(level: number): Promise<[number, number][]> {
    const out: [number, number][] = [];
    const base = join(this.dir, String(level));
    for (const row of await readdir(base)) {
      if (!/^\d+$/.test(row)) continue;
      for (const col of await readdir(join(base, row))) {
        if (/^\d+$/.test(col)) out.push([Number(col), Number(row)]);
      }
    }
    return out.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  }

  /** Level k from level k-1: each output chunk is the 2x2 mean of a 2*chunk square below it. */
  private async buildLevel(k: number, shape: LevelShape): Promise<void> {
    const cs = this.chunk;
    const targets = new Set<string>();
    for (const [cx, cy] of await this.listChunks(k - 1)) targets.add(`${cx >> 1},${cy >> 1}`);
    await mkdir(join(this.dir, String(k)), { recursive: true });
    for (const key of targets) {
      const [ox, oy] = key.split(',').map(Number) as [number, number];
      const src = await this.readUnlocked(k - 1, 2 * ox * cs, 2 * oy * cs, 2 * cs, 2 * cs);
      const out = new Float32Array(cs * cs).fill(NaN);
      const rows = Math.min(cs, shape.height - oy * cs);
      const cols = Math.min(cs, shape.width - ox * cs);
      let anyData = false;
      for (let j = 0; j < rows; j++) {
        for (let i = 0; i < cols; i++) {
          let sum = 0, n = 0;
          for (let dy = 0; dy < 2; dy++) {
            for (let dx = 0; dx < 2; dx++) {
              const v = src[(2 * j + dy) * 2 * cs + 2 * i + dx]!;
              if (!Number.isNaN(v)) {
                sum += v;
                n++;
              }
            }
          }
          if (n) {
            out[j * cs + i] = sum / n;
            anyData = true;
          }
        }
      }
      if (anyData) await this.saveToDisk(k, ox, oy, out);
      // Source reads went through the cache; pyramid building must not grow memory with the slide.
      this.cache.clear();
    }
  }
}

// ---- robust value ranges -----------------------------------------------------------------------

export interface ValueRange {
  low: number;
  high: number;
  min: number;
  max: number;
  /** Non-NaN values seen. */
  count: number;
}

const HIST_BINS = 1 << 16;

/**
 * Percentiles of f(v) over the non-NaN values of level 0, streamed chunk by chunk in two passes
 * (min/max, then a 65536-bin histogram): memory is one chunk plus the histogram, and the result
 * is exact to within one bin width ((max - min) / 65536).
 */
async function streamingPercentiles(store: FloatStore, f: (v: number) => number, ps: number[]): Promise<ValueRange & { values: number[] }> {
  let min = Infinity, max = -Infinity, count = 0;
  for await (const c of store.chunks(0)) {
    for (let j = 0; j < c.height; j++) {
      for (let i = 0; i < c.width; i++) {
        const v = c.data[j * store.chunk + i]!;
        if (Number.isNaN(v)) continue;
        const t = f(v);
        if (t < min) min = t;
        if (t > max) max = t;
        count++;
      }
    }
  }
  if (!count) return { low: NaN, high: NaN, min: NaN, max: NaN, count: 0, values: ps.map(() => NaN) };
  if (min === max) return { low: min, high: max, min, max, count, values: ps.map(() => min) };
  const hist = new Float64Array(HIST_BINS);
  const width = (max - min) / HIST_BINS;
  for await (const c of store.chunks(0)) {
    for (let j = 0; j < c.height; j++) {
      for (let i = 0; i < c.width; i++) {
        const v = c.data[j * store.chunk + i]!;
        if (Number.isNaN(v)) continue;
        hist[Math.min(HIST_BINS - 1, Math.floor((f(v) - min) / width))]!++;
      }
    }
  }
  const values = ps.map((p) => {
    // Same convention as a sorted-array quantile: rank p/100 * (n - 1), 0-based.
    const rank = (Math.min(100, Math.max(0, p)) / 100) * (count - 1);
    let cum = 0;
    for (let b = 0; b < HIST_BINS; b++) {
      const n = hist[b]!;
      if (cum + n > rank) return min + (b + (rank - cum + 0.5) / n) * width;
      cum += n;
    }
    return max;
  });
  return { low: values[0]!, high: values[values.length - 1]!, min, max, count, values };
}

/** Robust [low, high] percentiles (default 1st/99th) of the non-NaN values of level 0. */
export async function valueRange(store: FloatStore, options: { percentiles?: [number, number] } = {}): Promise<ValueRange> {
  const [pl, ph] = options.percentiles ?? [1, 99];
  if (!(pl >= 0 && ph <= 100 && pl <= ph)) throw new SdsError('BAD_ARGUMENT', `bad percentiles [${pl}, ${ph}]`);
  const { low, high, min, max, count } = await streamingPercentiles(store, (v) => v, [pl, ph]);
  return { low, high, min, max, count };
}

/**
 * Display range for signed maps: [-s, s] with s the given percentile (default 99th) of |v|, so
 * zero stays white in the diverging map (the same scale as viz/colormap absQuantile).
 */
export async function symmetricRange(store: FloatStore, options: { percentile?: number } = {}): Promise<[number, number]> {
  const p = options.percentile ?? 99;
  const r = await streamingPercentiles(store, Math.abs, [p]);
  const s = r.count ? r.values[0]! : 0;
  return [-s, s];
}
