/**
 * A pyramidal tiled JPEG TIFF in Aperio's layout, written as a stream: level-0 rows arrive one band of
 * tiles at a time, each band is encoded (sharp, JPEG 4:4:4) and halved into the next level's band buffer,
 * and so on down; tiles go to disk as they are made, the directories last (header patched). Memory: one
 * tile band per level plus the level the thumbnail is made from.
 *
 * Directory chain as Aperio writes it: level 0 (ImageDescription "Aperio Image Library ..." with
 * AppMag and MPP, which OpenSlide's aperio driver reads), then the thumbnail (stripped), then the other
 * levels; NewSubfileType 0 on all of them, as Aperio does. Photometric is YCbCr with 1x1 subsampling:
 * sharp's JPEGs are YCbCr, and saying so lets libjpeg (OpenSlide, libtiff, our reader) convert them back
 * as it should. Aperio's own RGB-in-JPEG tiles need an Adobe marker to decode (see slide/decoders/jpeg.ts);
 * these do not.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';
import { halve } from '../slide/downsample.js';

export interface PyramidTiffOptions {
  path: string;
  width: number;
  height: number;
  /** Level-0 pixels of rows [y, y + rows), full width, interleaved RGB. Called in order, `tileSize` rows at a time. */
  readRows(y: number, rows: number): Promise<Uint8Array> | Uint8Array;
  /** Microns per level-0 pixel. */
  mpp: number;
  /** Objective power written as AppMag (default 10 / mpp, i.e. 20 at 0.5 µm/px). */
  magnification?: number;
  tileSize?: number;
  /** JPEG quality 1..100 (default 90). */
  quality?: number;
  /** Stop adding levels once the longer side is at most this (default 512). */
  smallestLevel?: number;
  /** Thumbnail height in px (default 768, as Aperio's). */
  thumbnailHeight?: number;
  /** Extra `key = value` fields for the ImageDescription. */
  properties?: Record<string, string | number>;
  /** Called after each level-0 band with (rows done, total rows). */
  onProgress?(done: number, total: number): void;
}

export interface PyramidTiffInfo {
  path: string;
  bytes: number;
  levels: { width: number; height: number; downsample: number }[];
  thumbnail: { width: number; height: number };
  description: string;
}

const APERIO_VERSION = 'Aperio Image Library v12.0.15';
const TIFF_LIMIT = 2 ** 32 - 1;

const enum Type {
  ASCII = 2,
  SHORT = 3,
  LONG = 4,
  RATIONAL = 5,
}

interface Entry {
  tag: number;
  type: Type;
  values: number[] | string;
}

/** One pyramid level: a band of `tileSize` rows is filled, encoded as a row of tiles, and halved downwards. */
class LevelBand {
  readonly tilesAcross: number;
  readonly tilesDown: number;
  readonly offsets: number[] = [];
  readonly counts: number[] = [];
  private band: Uint8Array;
  private filled = 0;
  private rowsDone = 0;
  /** The whole level, kept when the thumbnail is made from it. */
  whole?: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly tile: number,
  ) {
    this.tilesAcross = Math.ceil(width / tile);
    this.tilesDown = Math.ceil(height / tile);
    this.band = new Uint8Array(width * tile * 3);
  }

  /** Copies rows in; returns the band when it is complete (full, or the level's last rows). */
  add(data: Uint8Array, rows: number): { band: Uint8Array; rows: number; y: number } | undefined {
    if (this.whole) this.whole.set(data.subarray(0, rows * this.width * 3), (this.rowsDone + this.filled) * this.width * 3);
    this.band.set(data.subarray(0, rows * this.width * 3), this.filled * this.width * 3);
    this.filled += rows;
    const last = this.rowsDone + this.filled >= this.height;
    if (this.filled < this.tile && !last) return undefined;
    if (this.filled > this.tile) throw new Error(`internal: band overfilled (${this.filled} > ${this.tile})`);
    const out = { band: this.band, rows: this.filled, y: this.rowsDone };
    this.rowsDone += this.filled;
    this.filled = 0;
    this.band = new Uint8Array(this.width * this.tile * 3);
    return out;
  }
}

export async function writePyramidTiff(o: PyramidTiffOptions): Promise<PyramidTiffInfo> {
  const tile = o.tileSize ?? 256;
  const quality = o.quality ?? 90;
  const smallest = o.smallestLevel ?? 512;
  const magnification = o.magnification ?? Math.round(10 / o.mpp);
  if (!(o.width > 0 && o.height > 0 && tile % 16 === 0 && tile > 0)) {
    throw new SdsError('BAD_ARGUMENT', `cannot write a ${o.width}x${o.height} TIFF with ${tile} px tiles`, { suggestion: 'positive size; tile size a multiple of 16' });
  }
  const levels: LevelBand[] = [new LevelBand(o.width, o.height, tile)];
  while (Math.max(levels.at(-1)!.width, levels.at(-1)!.height) > smallest) {
    const p = levels.at(-1)!;
    levels.push(new LevelBand(Math.ceil(p.width / 2), Math.ceil(p.height / 2), tile));
  }
  const thumbH = Math.min(o.thumbnailHeight ?? 768, o.height);
  const thumbW = Math.max(1, Math.round((o.width * thumbH) / o.height));
  // The thumbnail is resized from the smallest level still at least as tall as it.
  const thumbSource = levels.reduce((best, l) => (l.height >= thumbH ? l : best), levels[0]!);
  thumbSource.whole = new Uint8Array(thumbSource.width * thumbSource.height * 3);

  const tmp = `${o.path}.tmp-${process.pid}`;
  const file = await open(tmp, 'w');
  try {
    let pos = 8;
    const put = async (bytes: Uint8Array): Promise<number> => {
      const at = pos;
      await file.write(bytes, 0, bytes.length, at);
      pos += bytes.length;
      if (pos > TIFF_LIMIT) {
        throw new SdsError('BAD_ARGUMENT', `${o.path} would exceed 4 GiB, which needs BigTIFF (not written here)`, { suggestion: 'use a smaller --size or a lower --quality' });
      }
      return at;
    };
    const encodeBand = async (level: LevelBand, band: Uint8Array, rows: number, y: number): Promise<void> => {
      const tileRow = y / tile;
      const jpegs = await Promise.all(Array.from({ length: level.tilesAcross }, (_, col) => encodeTile(band, level.width, rows, col * tile, tile, quality)));
      for (let col = 0; col < jpegs.length; col++) {
        const i = tileRow * level.tilesAcross + col;
        level.offsets[i] = await put(jpegs[col]!);
        level.counts[i] = jpegs[col]!.length;
      }
    };
    /** Rows into level k; complete bands are encoded and their halves passed on to level k + 1. */
    const feed = async (k: number, data: Uint8Array, rows: number): Promise<void> => {
      const level = levels[k]!;
      const done = level.add(data, rows);
      if (!done) return;
      await encodeBand(level, done.band, done.rows, done.y);
      if (k + 1 < levels.length) {
        const half = halve({ width: level.width, height: done.rows, data: done.band.subarray(0, done.rows * level.width * 3) });
        await feed(k + 1, half.data, half.height);
      }
    };
    for (let y = 0; y < o.height; y += tile) {
      const rows = Math.min(tile, o.height - y);
      const data = await o.readRows(y, rows);
      if (data.length !== rows * o.width * 3) throw new Error(`readRows(${y}, ${rows}) returned ${data.length} bytes, expected ${rows * o.width * 3}`);
      await feed(0, data, rows);
      o.onProgress?.(y + rows, o.height);
    }

    const thumb = await sharp(thumbSource.whole, { raw: { width: thumbSource.width, height: thumbSource.height, channels: 3 } })
      .resize(thumbW, thumbH, { fit: 'fill', kernel: 'lanczos3' })
      .jpeg({ quality, chromaSubsampling: '4:4:4' })
      .toBuffer();
    thumbSource.whole = undefined;
    const thumbOffset = await put(thumb);

    const base = levels[0]!;
    const props = { AppMag: magnification, MPP: o.mpp, ...o.properties };
    const fields = Object.entries(props).map(([k, v]) => `${k} = ${v}`);
    const geometry = `${base.width}x${base.height} [0,0 ${base.width}x${base.height}] (${tile}x${tile})`;
    const description = `${APERIO_VERSION} \r\n${geometry} JPEG/RGB Q=${quality}|${fields.join('|')}`;
    const pxPerCm = (ds: number) => 10_000 / (o.mpp * ds);
    const levelEntries = (l: LevelBand, k: number): Entry[] => {
      const ds = base.width / l.width;
      const desc = k === 0 ? description : `${APERIO_VERSION} \r\n${geometry} -> ${l.width}x${l.height} JPEG/RGB Q=${quality}`;
      return [
        ...common(l.width, l.height, desc, pxPerCm(ds)),
        { tag: 322, type: Type.LONG, values: [tile] },
        { tag: 323, type: Type.LONG, values: [tile] },
        { tag: 324, type: Type.LONG, values: l.offsets },
        { tag: 325, type: Type.LONG, values: l.counts },
      ];
    };
    const thumbEntries: Entry[] = [
      ...common(thumbW, thumbH, `${APERIO_VERSION} \n${base.width}x${base.height} -> ${thumbW}x${thumbH} - |${fields.join('|')}`, pxPerCm(base.width / thumbW)),
      { tag: 273, type: Type.LONG, values: [thumbOffset] },
      { tag: 278, type: Type.LONG, values: [thumbH] },
      { tag: 279, type: Type.LONG, values: [thumb.length] },
    ];
    // Aperio's order: level 0, thumbnail, the other levels.
    const ifds = [levelEntries(levels[0]!, 0), thumbEntries, ...levels.slice(1).map((l, i) => levelEntries(l, i + 1))];
    if (pos % 2) await put(new Uint8Array(1));
    const firstIfd = pos;
    for (let i = 0; i < ifds.length; i++) {
      const at = pos;
      const size = ifdSize(ifds[i]!);
      const next = i + 1 < ifds.length ? at + size : 0;
      await put(encodeIfd(ifds[i]!, at, next));
    }
    const header = Buffer.alloc(8);
    header.write('II', 0, 'ascii');
    header.writeUInt16LE(42, 2);
    header.writeUInt32LE(firstIfd, 4);
    await file.write(header, 0, 8, 0);
    await file.close();
    await rename(tmp, o.path);
    return {
      path: o.path,
      bytes: pos,
      levels: levels.map((l) => ({ width: l.width, height: l.height, downsample: base.width / l.width })),
      thumbnail: { width: thumbW, height: thumbH },
      description,
    };
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Tags every image directory has (sorted with the rest by encodeIfd). */
function common(width: number, height: number, description: string, pxPerCm: number): Entry[] {
  const res = rational(pxPerCm);
  return [
    { tag: 254, type: Type.LONG, values: [0] },
    { tag: 256, type: Type.LONG, values: [width] },
    { tag: 257, type: Type.LONG, values: [height] },
    { tag: 258, type: Type.SHORT, values: [8, 8, 8] },
    { tag: 259, type: Type.SHORT, values: [7] }, // JPEG
    { tag: 262, type: Type.SHORT, values: [6] }, // YCbCr
    { tag: 270, type: Type.ASCII, values: description },
    { tag: 277, type: Type.SHORT, values: [3] },
    { tag: 282, type: Type.RATIONAL, values: res },
    { tag: 283, type: Type.RATIONAL, values: res },
    { tag: 284, type: Type.SHORT, values: [1] },
    { tag: 296, type: Type.SHORT, values: [3] }, // centimetre
    { tag: 530, type: Type.SHORT, values: [1, 1] }, // no chroma subsampling, as the JPEGs are 4:4:4
  ];
}

function rational(v: number): number[] {
  const den = 1000;
  return [Math.round(v * den), den];
}

/** A tile of a band as JPEG; edge tiles are padded to full size by repeating the last row and column. */
async function encodeTile(band: Uint8Array, width: number, rows: number, x0: number, tile: number, quality: number): Promise<Buffer> {
  const t = Buffer.alloc(tile * tile * 3);
  const cols = Math.min(tile, width - x0);
  for (let y = 0; y < tile; y++) {
    const sy = Math.min(y, rows - 1);
    const src = (sy * width + x0) * 3;
    t.set(band.subarray(src, src + cols * 3), y * tile * 3);
    if (cols < tile) {
      const last = t.subarray(y * tile * 3 + (cols - 1) * 3, y * tile * 3 + cols * 3);
      for (let x = cols; x < tile; x++) t.set(last, (y * tile + x) * 3);
    }
  }
  return sharp(t, { raw: { width: tile, height: tile, channels: 3 } }).jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer();
}

const TYPE_SIZE: Record<Type, number> = { [Type.ASCII]: 1, [Type.SHORT]: 2, [Type.LONG]: 4, [Type.RATIONAL]: 8 };

function valueBytes(e: Entry): number {
  const count = typeof e.values === 'string' ? Buffer.byteLength(e.values, 'latin1') + 1 : e.type === Type.RATIONAL ? e.values.length / 2 : e.values.length;
  return count * TYPE_SIZE[e.type];
}

/** Entries, next pointer, then the values that do not fit in 4 bytes (each word-aligned). */
function ifdSize(entries: Entry[]): number {
  let size = 2 + 12 * entries.length + 4;
  for (const e of entries) {
    const n = valueBytes(e);
    if (n > 4) size += n + (n % 2);
  }
  return size;
}

function encodeIfd(entries: Entry[], at: number, next: number): Buffer {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  const buf = Buffer.alloc(ifdSize(sorted));
  buf.writeUInt16LE(sorted.length, 0);
  let extra = 2 + 12 * sorted.length + 4;
  sorted.forEach((e, i) => {
    const o = 2 + 12 * i;
    const count = typeof e.values === 'string' ? Buffer.byteLength(e.values, 'latin1') + 1 : e.type === Type.RATIONAL ? e.values.length / 2 : e.values.length;
    buf.writeUInt16LE(e.tag, o);
    buf.writeUInt16LE(e.type, o + 2);
    buf.writeUInt32LE(count, o + 4);
    const n = valueBytes(e);
    const target = n > 4 ? extra : o + 8;
    if (n > 4) {
      buf.writeUInt32LE(at + extra, o + 8);
      extra += n + (n % 2);
    }
    if (typeof e.values === 'string') buf.write(e.values, target, 'latin1');
    else
      e.values.forEach((v, k) => {
        if (e.type === Type.SHORT) buf.writeUInt16LE(v, target + 2 * k);
        else buf.writeUInt32LE(v, target + 4 * k);
      });
  });
  buf.writeUInt32LE(next, 2 + 12 * sorted.length);
  return buf;
}
