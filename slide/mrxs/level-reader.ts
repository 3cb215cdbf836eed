/**
 * A MIRAX zoom level as the regular tile grid the slide-source contract asks for. Stored images sit at camera
 * positions that overlap and leave gaps, so a grid tile is composed: every placement (layout.ts) that meets the
 * tile is drawn in painting order, each over the last, and what none covers stays white. A spatial index (grid
 * cell -> placements) built at open makes `isEmpty` a lookup; decoded stored images live in the slide's tile cache
 * under `mrxs:` keys, so the several grid tiles one image feeds decode it once.
 */
import { SdsError } from '../../core/errors.js';
import type { FileSource } from '../file-source.js';
import type { LevelReader } from '../source-parts.js';
import type { TileCache } from '../tile-cache.js';
import type { RgbImage } from '../types.js';
import { decodeImage } from './images.js';
import type { LevelLayout } from './layout.js';

/**
 * Grid tile side where images do not lie on a regular grid: a few camera images' worth, so a tile composes a
 * handful of them. Where they do (OpenSlide's tile hint), the grid is the images' own.
 */
export const MRXS_TILE_SIDE = 512;

/** Bytes of data file between two images still read together with them (less than a file read costs). */
const MAX_READ_GAP = 64 * 1024;
/** At most this many bytes in one coalesced read. */
const MAX_READ_BYTES = 16 * 2 ** 20;

/** `run(task)` runs at most `n` tasks at once, the others waiting their turn in order. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}

/** The data files of a slide, opened on first use. */
export interface DataFiles {
  open(fileNumber: number): Promise<FileSource>;
  /** "CMU-1/Data0001.dat", for messages. */
  name(fileNumber: number): string;
}

/** A placement snapped to whole pixels: level rectangle (x, y, w, h) drawn from image pixels (sx, sy). */
interface Piece {
  image: number;
  x: number;
  y: number;
  w: number;
  h: number;
  sx: number;
  sy: number;
}

export interface MiraxLevelOptions {
  level: number;
  /** Level-0 images across (IMAGENUMBER_X), to name images by their grid cell in messages. */
  imagesX: number;
  files: DataFiles;
  cache: TileCache;
  concurrency: number;
}

export function miraxLevelReader(layout: LevelLayout, options: MiraxLevelOptions): LevelReader {
  const { level, files, cache, concurrency, imagesX } = options;
  const sideX = layout.tileHint?.width ?? MRXS_TILE_SIDE;
  const sideY = layout.tileHint?.height ?? MRXS_TILE_SIDE;
  const across = Math.ceil(layout.width / sideX);
  const down = Math.ceil(layout.height / sideY);
  const cells = new Map<number, Piece[]>();
  for (const p of layout.placements) {
    // Whole pixels: exact where positions are integers (always at level 0); where a reduced level's positions are
    // fractional, OpenSlide resamples bilinearly and the nearest whole pixel is within half a pixel of it.
    const sx = Math.round(p.srcX);
    const sy = Math.round(p.srcY);
    const piece: Piece = {
      image: p.image,
      x: Math.round(p.x),
      y: Math.round(p.y),
      w: Math.min(Math.ceil(p.width), layout.imageWidth - sx),
      h: Math.min(Math.ceil(p.height), layout.imageHeight - sy),
      sx,
      sy,
    };
    if (piece.w <= 0 || piece.h <= 0) continue;
    const c0 = Math.max(0, Math.floor(piece.x / sideX));
    const c1 = Math.min(across - 1, Math.floor((piece.x + piece.w - 1) / sideX));
    const r0 = Math.max(0, Math.floor(piece.y / sideY));
    const r1 = Math.min(down - 1, Math.floor((piece.y + piece.h - 1) / sideY));
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const key = r * across + c;
        const list = cells.get(key);
        if (list) list.push(piece);
        else cells.set(key, [piece]);
      }
    }
  }

  const describe = (imageNo: number) => {
    const index = layout.images[imageNo]!.index;
    return `image (${index % imagesX}, ${Math.floor(index / imagesX)}) of zoom level ${level}`;
  };
  // Decodes of this level in flight at once (sharp's threads stay busy, memory stays bounded), shared by all its tiles.
  const decodeSlot = limiter(Math.max(1, concurrency));
  const loadImage = (imageNo: number, bytesOf: (imageNo: number) => Promise<Uint8Array>): Promise<RgbImage> =>
    cache.get(`mrxs:${level}:${imageNo}`, async () => {
      const record = layout.images[imageNo]!;
      const what = describe(imageNo);
      const bytes = await bytesOf(imageNo);
      try {
        return await decodeSlot(() => decodeImage(bytes, layout.format, layout.imageWidth, layout.imageHeight));
      } catch (cause) {
        const code = cause instanceof SdsError ? cause.code : 'SLIDE_UNREADABLE';
        const reason = [...new Set(String((cause as Error).message ?? cause).split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
        throw new SdsError(code, `${files.name(record.fileNumber)}: ${what} (bytes ${record.offset}..${record.offset + record.length}) cannot be decoded (${layout.format}): ${reason}`, {
          suggestion: cause instanceof SdsError && cause.suggestion ? cause.suggestion : 'the slide is corrupt; copy it again',
          context: { file: files.name(record.fileNumber), level, image: record.index, offset: record.offset },
          cause,
        });
      }
    });
  /** One image's bytes, read alone (names the image in errors). */
  const readOne = async (imageNo: number): Promise<Uint8Array> => {
    const record = layout.images[imageNo]!;
    return (await files.open(record.fileNumber)).read(record.offset, record.length, describe(imageNo));
  };
  /**
   * Byte readers for a tile's images: images lying close together in one data file (scanners write neighbours one
   * after the other) are read in one go, on first need, instead of one file read each.
   */
  const coalescedReads = (imageNos: readonly number[]): ((imageNo: number) => Promise<Uint8Array>) => {
    const sorted = [...imageNos].sort((a, b) => {
      const ra = layout.images[a]!;
      const rb = layout.images[b]!;
      return ra.fileNumber - rb.fileNumber || ra.offset - rb.offset;
    });
    const runOf = new Map<number, { start: number; end: number; fileNumber: number; bytes?: Promise<Uint8Array> }>();
    let run: { start: number; end: number; fileNumber: number; bytes?: Promise<Uint8Array> } | undefined;
    for (const n of sorted) {
      const r = layout.images[n]!;
      if (!run || r.fileNumber !== run.fileNumber || r.offset > run.end + MAX_READ_GAP || Math.max(run.end, r.offset + r.length) - run.start > MAX_READ_BYTES) {
        run = { start: r.offset, end: r.offset + r.length, fileNumber: r.fileNumber };
      } else {
        run.end = Math.max(run.end, r.offset + r.length);
      }
      runOf.set(n, run);
    }
    return async (imageNo) => {
      const r = runOf.get(imageNo);
      const record = layout.images[imageNo]!;
      if (!r || r.end - r.start === record.length) return readOne(imageNo);
      r.bytes ??= files.open(r.fileNumber).then((file) => file.read(r.start, r.end - r.start, `images of zoom level ${level}`));
      try {
        const bytes = await r.bytes;
        return bytes.subarray(record.offset - r.start, record.offset - r.start + record.length);
      } catch {
        return readOne(imageNo); // the error, if any, names this image
      }
    };
  };

  return {
    level: { width: layout.width, height: layout.height, tileWidth: sideX, tileHeight: sideY, compression: layout.format, downsample: layout.downsample },
    isEmpty: (col, row) => col < 0 || col >= across || !cells.has(row * across + col),
    async readTile(col, row, signal) {
      const pieces = cells.get(row * across + col);
      if (col < 0 || col >= across || !pieces) return undefined;
      signal?.throwIfAborted();
      // Decode the images this tile needs (all queued at once, a few decoding at a time), then paint them in order.
      const wanted = [...new Set(pieces.map((p) => p.image))];
      const bytesOf = coalescedReads(wanted);
      const images = await Promise.all(wanted.map((n) => loadImage(n, bytesOf)));
      signal?.throwIfAborted();
      const decoded = new Map<number, RgbImage>();
      wanted.forEach((n, j) => decoded.set(n, images[j]!));
      const tx = col * sideX;
      const ty = row * sideY;
      const width = Math.min(sideX, layout.width - tx);
      const height = Math.min(sideY, layout.height - ty);
      const out = new Uint8Array(width * height * 3).fill(255);
      for (const p of pieces) {
        const image = decoded.get(p.image)!;
        const x0 = Math.max(tx, p.x);
        const x1 = Math.min(tx + width, p.x + p.w);
        const y0 = Math.max(ty, p.y);
        const y1 = Math.min(ty + height, p.y + p.h);
        if (x0 >= x1 || y0 >= y1) continue;
        const rowBytes = (x1 - x0) * 3;
        for (let y = y0; y < y1; y++) {
          const src = ((p.sy + y - p.y) * image.width + (p.sx + x0 - p.x)) * 3;
          out.set(image.data.subarray(src, src + rowBytes), ((y - ty) * width + (x0 - tx)) * 3);
        }
      }
      return { width, height, data: out };
    },
  };
}
