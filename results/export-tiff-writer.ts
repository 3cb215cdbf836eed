/**
 * A tiled pyramidal TIFF written tile by tile: every level is a top-level directory (largest
 * first), the layout OpenSlide's generic-tiff reader and QuPath (through OpenSlide) open as a
 * pyramid. Tiles come from a callback as raw interleaved bytes and are encoded here (deflate with
 * the horizontal predictor, or JPEG through sharp) and appended to the file at once; only the
 * tile offsets stay in memory (8 bytes a tile, as in any TIFF writer), never the image.
 *
 * Why not sharp's own TIFF output: sharp collects its whole input (buffer or stream) before
 * libvips starts, so a slide-sized image would have to exist in memory. The container is small
 * enough to write by hand; the codecs are zlib and libjpeg (through sharp).
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';

const deflateAsync = promisify(deflate);

export interface TiffLevelShape {
  width: number;
  height: number;
}

export interface TiledTiffOptions {
  /** tile side (a multiple of 16, as TIFF requires) */
  tileSize: number;
  /** deflate: lossless RGBA (alpha kept); jpeg: RGB (YCbCr without chroma subsampling: colour maps change colour pixel to pixel), smaller, lossy */
  compression: 'deflate' | 'jpeg';
  /** JPEG quality 1..100 */
  quality?: number;
  /** ImageDescription of the first (full-size) directory, ASCII */
  description?: string;
  /** level-0 pixels per centimetre (x, y); written as XResolution/YResolution with ResolutionUnit centimetre */
  pixelsPerCm?: { x: number; y: number };
  software?: string;
  /** tiles encoded at once */
  concurrency?: number;
  /** BigTIFF even when the file stays below 4 GiB (by default only when it might not) */
  bigTiff?: boolean;
}

/**
 * One tile of a level as raw interleaved bytes, tileSize x tileSize, 4 channels (RGBA) for deflate
 * and 3 (RGB) for JPEG; parts beyond the level's edge are padding.
 */
export type TileSource = (level: number, col: number, row: number) => Promise<Uint8Array | UniformTile>;

/** A tile of one colour (no data, mostly): `pixel` is its bytes, one pixel's worth; nothing to scan or encode twice. */
export interface UniformTile {
  pixel: Uint8Array;
}

export interface TiledTiffResult {
  bytes: number;
  tiles: number;
  /** tiles that repeated an earlier uniform tile and were stored once */
  shared: number;
  bigTiff: boolean;
}

// TIFF field types
const SHORT = 3, LONG = 4, RATIONAL = 5, ASCII = 2, LONG8 = 16;
const TYPE_SIZE: Record<number, number> = { [ASCII]: 1, [SHORT]: 2, [LONG]: 4, [RATIONAL]: 8, [LONG8]: 8 };

interface Entry {
  tag: number;
  type: number;
  values: number[] | string;
}

/** A positive number as a TIFF RATIONAL (numerator, denominator), both below 2^32. */
function rational(v: number): [number, number] {
  let den = 1;
  while (den < 1e6 && Math.round(v * den * 10) < 2 ** 31) den *= 10;
  return [Math.round(v * den), den];
}

/** Horizontal differencing (TIFF Predictor 2) of 8-bit interleaved rows, in place. */
function predict(data: Uint8Array, width: number, height: number, channels: number): void {
  const stride = width * channels;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    for (let i = stride - 1; i >= channels; i--) data[row + i] = (data[row + i]! - data[row + i - channels]!) & 255;
  }
}

/** The bytes' uniform value key when every pixel is the same, else undefined. */
function uniformKey(px: Uint8Array, channels: number): string | undefined {
  for (let i = channels; i < px.length; i++) if (px[i] !== px[i % channels]) return undefined;
  return Array.from(px.subarray(0, channels)).join(',');
}

function fillTile(pixel: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * pixel.length);
  for (let i = 0; i < n; i++) out.set(pixel, i * pixel.length);
  return out;
}

class Sink {
  pos: number;
  constructor(
    readonly fh: FileHandle,
    start: number,
  ) {
    this.pos = start;
  }
  async append(b: Uint8Array): Promise<number> {
    // word alignment for every block, as TIFF asks of offsets
    if (this.pos % 2) {
      await this.fh.write(new Uint8Array(1), 0, 1, this.pos);
      this.pos++;
    }
    const at = this.pos;
    await this.fh.write(b, 0, b.length, at);
    this.pos += b.length;
    return at;
  }
}

/** Serialises one directory (entries sorted by tag, out-of-line values after them) placed at `at`. */
function directory(entries: Entry[], at: number, big: boolean): { bytes: Buffer; nextPointer: number } {
  entries.sort((a, b) => a.tag - b.tag);
  const entrySize = big ? 20 : 12;
  const head = big ? 8 : 2;
  const inline = big ? 8 : 4;
  const tableEnd = head + entries.length * entrySize + (big ? 8 : 4);
  const extra: Buffer[] = [];
  let extraLen = 0;
  const table = Buffer.alloc(tableEnd);
  if (big) table.writeBigUInt64LE(BigInt(entries.length), 0);
  else table.writeUInt16LE(entries.length, 0);
  entries.forEach((e, k) => {
    const o = head + k * entrySize;
    const count = typeof e.values === 'string' ? e.values.length + 1 : e.type === RATIONAL ? e.values.length / 2 : e.values.length;
    const size = TYPE_SIZE[e.type]! * count;
    const data = Buffer.alloc(Math.max(size, inline));
    if (typeof e.values === 'string') data.write(e.values, 0, 'latin1');
    else
      e.values.forEach((v, i) => {
        if (e.type === SHORT) data.writeUInt16LE(v, i * 2);
        else if (e.type === LONG || e.type === RATIONAL) data.writeUInt32LE(v, i * 4);
        else data.writeBigUInt64LE(BigInt(v), i * 8);
      });
    table.writeUInt16LE(e.tag, o);
    table.writeUInt16LE(e.type, o + 2);
    if (big) table.writeBigUInt64LE(BigInt(count), o + 4);
    else table.writeUInt32LE(count, o + 4);
    const valueAt = o + (big ? 12 : 8);
    if (size <= inline) data.copy(table, valueAt, 0, inline);
    else {
      const off = at + tableEnd + extraLen;
      if (big) table.writeBigUInt64LE(BigInt(off), valueAt);
      else table.writeUInt32LE(off, valueAt);
      const padded = size % 2 ? Buffer.concat([data.subarray(0, size), Buffer.alloc(1)]) : data.subarray(0, size);
      extra.push(padded);
      extraLen += padded.length;
    }
  });
  return { bytes: Buffer.concat([table, ...extra]), nextPointer: at + tableEnd - (big ? 8 : 4) };
}

/**
 * Writes `path` (through a temporary file renamed at the end: a failed export leaves no partial
 * TIFF under the name). `levels` largest first; `onTile` counts finished tiles.
 */
export async function writeTiledTiff(path: string, levels: TiffLevelShape[], source: TileSource, o: TiledTiffOptions, onTile?: (done: number, total: number) => void): Promise<TiledTiffResult> {
  const ts = o.tileSize;
  if (!Number.isInteger(ts) || ts < 16 || ts % 16 || ts > 4096) throw new SdsError('BAD_ARGUMENT', `tile size must be a multiple of 16 from 16 to 4096, got ${ts}`);
  if (!levels.length) throw new SdsError('BAD_ARGUMENT', 'a TIFF needs at least one level');
  const channels = o.compression === 'jpeg' ? 3 : 4;
  const grids = levels.map((l) => ({ cols: Math.ceil(l.width / ts), rows: Math.ceil(l.height / ts) }));
  const total = grids.reduce((s, g) => s + g.cols * g.rows, 0);
  // BigTIFF only when the data could pass 4 GiB (raw size bounds deflate's output within 1%)
  const bound = total * (ts * ts * channels * 1.01 + 1024) + total * 16 + 1e6;
  const big = o.bigTiff === true || bound >= 2 ** 32;
  const quality = o.quality ?? 90;
  const concurrency = Math.max(1, o.concurrency ?? 4);

  const encode = async (raw: Uint8Array): Promise<Uint8Array> => {
    if (o.compression === 'jpeg') return sharp(raw, { raw: { width: ts, height: ts, channels: 3 } }).jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer();
    predict(raw, ts, ts, channels);
    return deflateAsync(raw);
  };

  const tmp = `${path}.partial-${process.pid}`;
  const fh = await open(tmp, 'w');
  let ok = false;
  try {
    const sink = new Sink(fh, big ? 16 : 8);
    const offsets = grids.map((g) => new Float64Array(g.cols * g.rows));
    const counts = grids.map((g) => new Float64Array(g.cols * g.rows));
    // uniform tiles (no-data, flat colour) are stored once and shared: most of a slide is glass
    const uniform = new Map<string, [number, number]>();
    let done = 0, shared = 0;
    for (let l = 0; l < levels.length; l++) {
      const g = grids[l]!;
      // encodes run ahead in a small window; writes stay in tile order
      const pending: { i: number; key?: string; job: Promise<Uint8Array | undefined> }[] = [];
      const drain = async () => {
        const p = pending.shift()!;
        const bytes = await p.job;
        let at: [number, number];
        const known = p.key !== undefined ? uniform.get(p.key) : undefined;
        if (known) {
          at = known;
          shared++;
        } else {
          at = [await sink.append(bytes!), bytes!.length];
          if (p.key !== undefined) uniform.set(p.key, at);
        }
        offsets[l]![p.i] = at[0];
        counts[l]![p.i] = at[1];
        onTile?.(++done, total);
      };
      const queued = new Set<string>();
      for (let row = 0; row < g.rows; row++)
        for (let col = 0; col < g.cols; col++) {
          const got = await source(l, col, row);
          const key = got instanceof Uint8Array ? uniformKey(got, channels) : Array.from(got.pixel).join(',');
          // a uniform tile already stored (or being encoded) needs no second encode
          const repeat = key !== undefined && (uniform.has(key) || queued.has(key));
          if (key !== undefined) queued.add(key);
          let job: Promise<Uint8Array | undefined> = Promise.resolve(undefined);
          if (!repeat) {
            const raw = got instanceof Uint8Array ? got : fillTile(got.pixel, ts * ts);
            if (raw.length !== ts * ts * channels) throw new Error(`tile ${l}/${col}_${row}: ${raw.length} bytes, expected ${ts * ts * channels}`);
            job = encode(raw);
          }
          pending.push({ i: row * g.cols + col, key, job });
          if (pending.length >= concurrency) await drain();
        }
      while (pending.length) await drain();
    }

    // directories after the tiles, chained largest level first
    let pointerAt = big ? 8 : 4;
    for (let l = 0; l < levels.length; l++) {
      const { width, height } = levels[l]!;
      const entries: Entry[] = [
        { tag: 254, type: LONG, values: [l ? 1 : 0] }, // NewSubfileType: reduced-resolution copy
        { tag: 256, type: LONG, values: [width] },
        { tag: 257, type: LONG, values: [height] },
        { tag: 258, type: SHORT, values: Array(channels).fill(8) },
        { tag: 259, type: SHORT, values: [o.compression === 'jpeg' ? 7 : 8] },
        { tag: 262, type: SHORT, values: [o.compression === 'jpeg' ? 6 : 2] }, // YCbCr for JPEG tiles, RGB
        { tag: 277, type: SHORT, values: [channels] },
        { tag: 284, type: SHORT, values: [1] },
        { tag: 322, type: LONG, values: [ts] },
        { tag: 323, type: LONG, values: [ts] },
        { tag: 324, type: big ? LONG8 : LONG, values: Array.from(offsets[l]!) },
        { tag: 325, type: big ? LONG8 : LONG, values: Array.from(counts[l]!) },
      ];
      if (channels === 4) {
        entries.push({ tag: 338, type: SHORT, values: [2] }); // ExtraSamples: unassociated alpha
        entries.push({ tag: 317, type: SHORT, values: [2] }); // Predictor: horizontal differencing
      }
      if (o.compression === 'jpeg') entries.push({ tag: 530, type: SHORT, values: [1, 1] }); // YCbCrSubSampling: none
      if (o.pixelsPerCm) {
        // the same physical size at every level: resolution scales with the level's width
        const fx = width / levels[0]!.width, fy = height / levels[0]!.height;
        entries.push({ tag: 282, type: RATIONAL, values: rational(o.pixelsPerCm.x * fx) });
        entries.push({ tag: 283, type: RATIONAL, values: rational(o.pixelsPerCm.y * fy) });
        entries.push({ tag: 296, type: SHORT, values: [3] }); // centimetre
      }
      if (l === 0 && o.description) entries.push({ tag: 270, type: ASCII, values: o.description.replace(/[^\x20-\x7e\n]/g, '?') });
      if (l === 0 && o.software) entries.push({ tag: 305, type: ASCII, values: o.software.replace(/[^\x20-\x7e]/g, '?') });
      const at = sink.pos + (sink.pos % 2);
      const { bytes, nextPointer } = directory(entries, at, big);
      await sink.append(bytes);
      const ptr = Buffer.alloc(big ? 8 : 4);
      if (big) ptr.writeBigUInt64LE(BigInt(at));
      else ptr.writeUInt32LE(at);
      await fh.write(ptr, 0, ptr.length, pointerAt);
      pointerAt = nextPointer;
    }
    const header = Buffer.alloc(big ? 8 : 4);
    header.write('II', 0, 'latin1');
    header.writeUInt16LE(big ? 43 : 42, 2);
    if (big) header.writeUInt32LE(8, 4); // offset size 8, then a zero word before the first IFD pointer
    await fh.write(header, 0, header.length, 0);
    const bytes = sink.pos;
    await fh.close();
    await rename(tmp, path);
    ok = true;
    return { bytes, tiles: total, shared, bigTiff: big };
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  }
}
