/**
 * Pieces for writing TIFF test slides the TIFF writers at hand cannot make (sharp/libvips has no SubIFDs, no
 * separate planes, no OME-XML, no Zstandard): known RGB pixels, their tiles and strips, directories with SubIFDs
 * (on top of hostile-tiff's byte-level writer), Zstandard frames and tiles compressed by libtiff (through sharp).
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { FileSource } from '../../../slide/file-source.js';
import { readDirectories } from '../../../slide/tiff/directory.js';
import { buildTiff, directoryOffsets, T, type IfdSpec, type RawTag } from '../hostile-tiff.js';

export interface Rgb {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Deterministic RGB with structure in every channel (gradients, stripes, noise), no white. */
export function pattern(width: number, height: number, seed = 1): Rgb {
  const data = new Uint8Array(width * height * 3);
  let s = seed * 2654435761;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const i = (y * width + x) * 3;
      data[i] = (x * 3 + y + (s >>> 28)) % 240;
      data[i + 1] = ((x ^ y) + seed * 17) % 230;
      data[i + 2] = ((x >> 2) * (y >> 2) + (s >>> 30)) % 220;
    }
  }
  return { width, height, data };
}

/** 2x2 mean (rounded), odd edges taking what is there: the reduced level a writer would store. */
export function halve(img: Rgb): Rgb {
  const width = Math.ceil(img.width / 2);
  const height = Math.ceil(img.height / 2);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
          const sx = 2 * x + dx;
          const sy = 2 * y + dy;
          if (sx < img.width && sy < img.height) {
            sum += img.data[(sy * img.width + sx) * 3 + c]!;
            n++;
          }
        }
        data[(y * width + x) * 3 + c] = Math.round(sum / n);
      }
  return { width, height, data };
}

/** The rectangle (x, y, w, h) of `img`; pixels outside it are `fill`. */
export function crop(img: Rgb, x: number, y: number, w: number, h: number, fill = 0): Uint8Array {
  const out = new Uint8Array(w * h * 3).fill(fill);
  for (let r = 0; r < h; r++) {
    const sy = y + r;
    if (sy < 0 || sy >= img.height) continue;
    for (let c = 0; c < w; c++) {
      const sx = x + c;
      if (sx < 0 || sx >= img.width) continue;
      out.set(img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3), (r * w + c) * 3);
    }
  }
  return out;
}

/** One channel of an RGB image as one-sample pixels. */
export function channel(img: Rgb, c: number): Uint8Array {
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i * 3 + c]!;
  return out;
}

/**
 * Tiles (`tile` px, row-major) of pixels with `samples` per pixel, padded with zeros (black, so a reader that shows
 * the padding is caught), each through `encode`. A strip layout is a tile as wide as the image.
 */
export function blocks(pixels: Uint8Array, width: number, height: number, samples: number, tileW: number, tileH: number, encode: (raw: Uint8Array) => Uint8Array = (r) => r): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let ty = 0; ty < Math.ceil(height / tileH); ty++)
    for (let tx = 0; tx < Math.ceil(width / tileW); tx++) {
      const raw = new Uint8Array(tileW * tileH * samples);
      for (let r = 0; r < tileH; r++) {
        const y = ty * tileH + r;
        if (y >= height) break;
        const x0 = tx * tileW;
        const n = Math.min(tileW, width - x0) * samples;
        raw.set(pixels.subarray((y * width + x0) * samples, (y * width + x0) * samples + n), r * tileW * samples);
      }
      out.push(encode(raw));
    }
  return out;
}

export const deflate = (raw: Uint8Array): Uint8Array => new Uint8Array(deflateSync(raw));

/** Horizontal differencing (TIFF predictor 2) of one block, `samples` per pixel, `width` px rows. */
export function predict(raw: Uint8Array, width: number, samples: number): Uint8Array {
  const out = raw.slice();
  const row = width * samples;
  for (let start = 0; start < out.length; start += row)
    for (let i = start + row - 1; i >= start + samples; i--) out[i] = (raw[i]! - raw[i - samples]!) & 0xff;
  return out;
}

/**
 * A Zstandard frame (RFC 8878) holding `raw` in raw blocks: valid Zstandard any decoder must accept, made without
 * an encoder (Node 20 has none).
 */
export function zstdFrame(raw: Uint8Array): Uint8Array {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd];
  // Frame header descriptor: content size 4 bytes (FCS flag 2), single segment (no window descriptor).
  parts.push(0x80 | 0x20);
  parts.push(raw.length & 0xff, (raw.length >> 8) & 0xff, (raw.length >> 16) & 0xff, (raw.length >>> 24) & 0xff);
  const MAX_BLOCK = 128 * 1024;
  const out: Uint8Array[] = [Uint8Array.from(parts)];
  for (let at = 0; at < raw.length || at === 0; at += MAX_BLOCK) {
    const size = Math.min(MAX_BLOCK, raw.length - at);
    const last = at + MAX_BLOCK >= raw.length ? 1 : 0;
    const header = (size << 3) | (0 << 1) | last; // block type 0: raw
    out.push(Uint8Array.of(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff), raw.subarray(at, at + size));
    if (raw.length === 0) break;
  }
  return new Uint8Array(Buffer.concat(out));
}

/** A Zstandard frame of `bytes` copies of one byte in RLE blocks (4 bytes per 128 KiB): a decompression bomb. */
export function zstdRleBomb(bytes: number, value = 0): Uint8Array {
  const out: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x70]; // no content size, window 2^24 (descriptor 0x70)
  const MAX_BLOCK = 128 * 1024;
  for (let left = bytes; left > 0; left -= MAX_BLOCK) {
    const size = Math.min(MAX_BLOCK, left);
    const header = (size << 3) | (1 << 1) | (left <= MAX_BLOCK ? 1 : 0); // block type 1: RLE
    out.push(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, value);
  }
  return Uint8Array.from(out);
}

/** A main directory with the directories its SubIFDs tag (330) lists. */
export interface IfdWithSubs extends IfdSpec {
  subIfds?: IfdSpec[];
}

/**
 * A TIFF whose main chain is `ifds` and whose SubIFDs are each main directory's `subIfds` (listed in its tag 330,
 * each with next = 0, as tifffile and libvips write them). Laid out twice: the first pass places everything (with
 * a tag 330 of the right length), the second writes the real offsets; sizes do not depend on values.
 */
export function tiffWithSubIfds(spec: { bigTiff?: boolean; ifds: IfdWithSubs[]; subIfdTag?: (offsets: number[]) => RawTag }): Buffer {
  const big = spec.bigTiff ?? false;
  const subs = spec.ifds.flatMap((ifd) => ifd.subIfds ?? []);
  const tag330 = (offsets: number[]): RawTag => spec.subIfdTag?.(offsets) ?? { tag: 330, type: big ? T.LONG8 : T.LONG, values: offsets };
  const withTag = (offsetsOf: (i: number) => number[]) =>
    spec.ifds.map((ifd, i): IfdSpec => {
      const { subIfds, ...rest } = ifd;
      return subIfds?.length ? { ...rest, tags: [...(rest.tags ?? []), tag330(offsetsOf(i))] } : rest;
    });
  const placeholder = withTag((i) => spec.ifds[i]!.subIfds!.map(() => 0));
  const at = directoryOffsets({ bigTiff: big, ifds: [...placeholder, ...subs] });
  let k = spec.ifds.length;
  const subOffsets = spec.ifds.map((ifd) => (ifd.subIfds ?? []).map(() => at[k++]!));
  const main = withTag((i) => subOffsets[i]!).map((ifd, i) => ({ ...ifd, next: ifd.next ?? (i + 1 < spec.ifds.length ? at[i + 1]! : 0) }));
  return buildTiff({ bigTiff: big, ifds: [...main, ...subs.map((s) => ({ ...s, next: s.next ?? 0 }))] });
}

/** The stored blocks of every directory of a TIFF (as libtiff wrote them), with the tags a copy needs. */
export async function harvest(
  bytes: Uint8Array,
  path: string,
): Promise<{ width: number; height: number; samplesPerPixel: number; compression: number; predictor: number; photometric: number; blocks: Uint8Array[]; jpegTables?: Uint8Array }[]> {
  writeFileSync(path, bytes);
  const file = await FileSource.open(path);
  try {
    const dirs = await readDirectories(file);
    return await Promise.all(
      dirs.map(async (d) => ({
        width: d.width,
        height: d.height,
        samplesPerPixel: d.samplesPerPixel,
        compression: d.compression,
        predictor: d.predictor,
        photometric: d.photometric,
        jpegTables: d.jpegTables,
        blocks: await Promise.all(Array.from(d.offsets, (o, i) => file.read(o, d.byteCounts[i]!, 'block'))),
      })),
    );
  } finally {
    await file.close();
  }
}

/** A one-sample (grey) image as libtiff tiles of `tile` px in `compression` (sharp's names), harvested. */
export async function libtiffGreyTiles(pixels: Uint8Array, width: number, height: number, tile: number, compression: 'lzw' | 'deflate', predictor: 'none' | 'horizontal', scratch: string) {
  // toColourspace: sharp would otherwise write one band as sRGB (three equal samples).
  const tiff = await sharp(pixels, { raw: { width, height, channels: 1 } }).toColourspace('b-w').tiff({ compression, predictor, tile: true, tileWidth: tile, tileHeight: tile }).toBuffer();
  return (await harvest(tiff, scratch))[0]!;
}
