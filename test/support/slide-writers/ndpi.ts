/**
 * Hamamatsu NDPI test files, built byte by byte (issue #15). An NDPI is a classic little-endian TIFF that
 * behaves like a BigTIFF in two places (OpenSlide's tifflike reader, NDPI mode): the header's first-directory
 * offset and every directory's next-directory pointer are 8 bytes, and 32-bit value offsets get their high bits
 * from the directory they belong to (values sit before their directory). Each image is one strip holding one
 * JPEG; the large ones carry restart markers (DRI) and tag 65426 lists where each restart interval starts.
 *
 * libjpeg (sharp) cannot write restart markers, so a restart JPEG is spliced: every restart interval is encoded
 * as its own small JPEG (same quality, same subsampling, standard Huffman tables, so every piece has the same
 * tables), and their entropy-coded segments are joined with RSTn markers under one header with a DRI marker.
 * Each piece starts its DC predictions from zero, which is exactly what a restart does, so the result is a valid
 * JPEG whose intervals decode to the pieces.
 */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { openSlide } from '../../../slide/index.js';
import { crop, halve, tissue, type Rgb } from './tiff-vendor-kit.js';

export type Subsampling = '4:2:0' | '4:4:4';

/** MCU size of a 3-component baseline JPEG written by libjpeg with this subsampling. */
export function mcuSize(subsampling: Subsampling): { width: number; height: number } {
  return subsampling === '4:2:0' ? { width: 16, height: 16 } : { width: 8, height: 8 };
}

/** A JPEG as the NDPI writer stores it, with where its restart intervals start (relative to its first byte). */
export interface NdpiJpeg {
  bytes: Uint8Array;
  /** Offsets of each restart interval's first entropy-coded byte (the first one: just after the header); empty without restart markers. */
  mcuStarts: number[];
  /** Restart interval size in pixels (OpenSlide's tile), when there are restart markers. */
  tile?: { width: number; height: number };
}

interface Segments {
  /** SOI .. end of the SOS segment (exclusive of entropy-coded data). */
  headerEnd: number;
  /** Position of the SOF0 marker. */
  sof: number;
  /** Position of the SOS marker. */
  sos: number;
}

/** Marker positions of a JPEG; `piece`: one from the encoder, which must not have restart markers or another frame type. */
function segments(jpeg: Uint8Array, piece = true): Segments {
  let i = 2;
  let sof = -1;
  while (i + 4 <= jpeg.length) {
    if (jpeg[i] !== 0xff) throw new Error(`ndpi writer: no marker at ${i}`);
    const marker = jpeg[i + 1]!;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    if (marker === 0xc0) sof = i;
    if (marker === 0xda) return { headerEnd: i + 2 + length, sof, sos: i };
    if (piece && (marker === 0xdd || (marker >= 0xc1 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc))) {
      throw new Error(`ndpi writer: unexpected marker ff${marker.toString(16)} from the encoder`);
    }
    i += 2 + length;
  }
  throw new Error('ndpi writer: no SOS');
}

/** A baseline JPEG of `img` (libjpeg through sharp, standard Huffman tables), no restart markers. */
export async function plainJpeg(img: Rgb, subsampling: Subsampling, quality = 85): Promise<Uint8Array> {
  const out = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality, chromaSubsampling: subsampling, optimiseCoding: false })
    .toBuffer();
  return new Uint8Array(out);
}

/**
 * A JPEG of `img` with a restart marker every `interval` MCUs (which must divide the MCUs of a row). `img`'s
 * sides must be whole MCUs.
 */
export async function restartJpeg(img: Rgb, subsampling: Subsampling, interval: number, quality = 85): Promise<NdpiJpeg> {
  const mcu = mcuSize(subsampling);
  const tileWidth = mcu.width * interval;
  const tileHeight = mcu.height;
  if (img.width % tileWidth || img.height % tileHeight) throw new Error(`ndpi writer: ${img.width}x${img.height} is not whole ${tileWidth}x${tileHeight} restart intervals`);
  const pieces: Uint8Array[] = [];
  for (let y = 0; y < img.height; y += tileHeight) {
    for (let x = 0; x < img.width; x += tileWidth) pieces.push(await plainJpeg(crop(img, x, y, tileWidth, tileHeight), subsampling, quality));
  }
  const first = pieces[0]!;
  const seg = segments(first);
  // Header: the first piece's tables and frame (its size set to the whole image), a DRI, its scan header.
  const header = Buffer.from(first.subarray(0, seg.headerEnd));
  header.writeUInt16BE(img.height, seg.sof + 5);
  header.writeUInt16BE(img.width, seg.sof + 7);
  const dri = Buffer.from([0xff, 0xdd, 0x00, 0x04, interval >> 8, interval & 0xff]);
  const parts: Uint8Array[] = [header.subarray(0, seg.sos), dri, header.subarray(seg.sos)];
  const mcuStarts: number[] = [];
  let at = seg.headerEnd + dri.length;
  pieces.forEach((piece, k) => {
    const s = segments(piece);
    if (Buffer.compare(Buffer.from(piece.subarray(0, s.sof)), Buffer.from(first.subarray(0, seg.sof))) !== 0) throw new Error('ndpi writer: pieces with different tables');
    // Entropy-coded data: after the scan header, before the final EOI.
    const data = piece.subarray(s.headerEnd, piece.length - 2);
    if (k > 0) {
      parts.push(Uint8Array.of(0xff, 0xd0 + ((k - 1) % 8)));
      at += 2;
    }
    mcuStarts.push(at);
    parts.push(data);
    at += data.length;
  });
  parts.push(Uint8Array.of(0xff, 0xd9));
  return { bytes: new Uint8Array(Buffer.concat(parts)), mcuStarts, tile: { width: tileWidth, height: tileHeight } };
}

/** TIFF field types the NDPI writer uses. */
export const NT = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, UNDEFINED: 7, SLONG: 9, FLOAT: 11 } as const;
const SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 11: 4 };

export interface NdpiTag {
  tag: number;
  type: number;
  /** Numbers (RATIONAL: numerator, denominator pairs), a string (ASCII, NUL added) or bytes. */
  values: number[] | string | Uint8Array;
  /** Value field written instead of the real one (e.g. an offset pointing elsewhere); values then not stored. */
  rawField?: number;
  /** Count written instead of the real one. */
  count?: number;
}

function tagBytes(t: NdpiTag): Uint8Array {
  if (typeof t.values === 'string') return new TextEncoder().encode(`${t.values}\0`);
  if (t.values instanceof Uint8Array) return t.values;
  const per = t.type === NT.RATIONAL ? 4 : SIZE[t.type]!;
  const out = Buffer.alloc(t.values.length * per);
  t.values.forEach((v, i) => {
    if (t.type === NT.FLOAT) out.writeFloatLE(v, i * 4);
    else if (t.type === NT.SLONG) out.writeInt32LE(v, i * 4);
    else if (per === 1) out.writeUInt8(v, i);
    else if (per === 2) out.writeUInt16LE(v, i * 2);
    else out.writeUInt32LE(v % 2 ** 32, i * 4);
  });
  return out;
}

function tagCount(t: NdpiTag): number {
  if (t.count !== undefined) return t.count;
  if (typeof t.values === 'string') return new TextEncoder().encode(t.values).length + 1;
  if (t.values instanceof Uint8Array) return t.values.length;
  return t.type === NT.RATIONAL ? t.values.length / 2 : t.values.length;
}

/**
 * One NDPI directory placed at file position `at`: its out-of-line values first, then the entry count, the
 * entries, an 8-byte next pointer and (unless `highWords` is false) the high 32 bits of each entry's value field,
 * as Hamamatsu writes them. Value fields hold the low 32 bits of offsets and of single LONG values. Returns the
 * bytes and where the entry table starts.
 */
export function ndpiDirectory(tags: NdpiTag[], at: number, next: number, highWords = true): { bytes: Uint8Array; ifdOffset: number } {
  const sorted = [...tags].sort((a, b) => a.tag - b.tag);
  const values: Uint8Array[] = [];
  const fields = new Map<NdpiTag, { field: Uint8Array; high: number }>();
  let pos = at;
  for (const t of sorted) {
    const bytes = tagBytes(t);
    const field = Buffer.alloc(4);
    let high = 0;
    if (t.rawField !== undefined) field.writeUInt32LE(t.rawField >>> 0);
    else if (bytes.length <= 4) {
      field.set(bytes);
      if (t.type === NT.LONG && Array.isArray(t.values) && t.values.length === 1) high = Math.floor(t.values[0]! / 2 ** 32);
    } else {
      field.writeUInt32LE(pos % 2 ** 32);
      high = Math.floor(pos / 2 ** 32);
      values.push(bytes);
      pos += bytes.length;
      if (pos % 2) {
        values.push(Uint8Array.of(0));
        pos++;
      }
    }
    fields.set(t, { field, high });
  }
  const ifdOffset = pos;
  const n = sorted.length;
  const table = Buffer.alloc(2 + n * 12 + 8 + (highWords ? n * 4 : 0));
  table.writeUInt16LE(n, 0);
  sorted.forEach((t, i) => {
    const e = 2 + i * 12;
    table.writeUInt16LE(t.tag, e);
    table.writeUInt16LE(t.type, e + 2);
    table.writeUInt32LE(tagCount(t), e + 4);
    table.set(fields.get(t)!.field, e + 8);
    if (highWords) table.writeUInt32LE(fields.get(t)!.high, 2 + n * 12 + 8 + i * 4);
  });
  table.writeBigUInt64LE(BigInt(next), 2 + n * 12);
  return { bytes: new Uint8Array(Buffer.concat([...values, table])), ifdOffset };
}

/** Size of `ndpiDirectory(tags, ...)`'s bytes, to lay directories out before writing them. */
export function ndpiDirectorySize(tags: NdpiTag[], highWords = true): number {
  let n = 2 + tags.length * 12 + 8 + (highWords ? tags.length * 4 : 0);
  for (const t of tags) {
    const len = tagBytes(t).length;
    if (t.rawField === undefined && len > 4) n += len + (len % 2);
  }
  return n;
}

/** One image of an NDPI: its JPEG and its tags (the strip tags are added by the writer). */
export interface NdpiImage {
  width: number;
  height: number;
  jpeg: NdpiJpeg;
  /** NDPI and other tags of this directory (SourceLens, focal plane, McuStarts, ...). */
  tags: NdpiTag[];
}

/** The common TIFF tags of an NDPI JPEG strip directory (without StripOffsets/StripByteCounts). */
export function stripTags(width: number, height: number): NdpiTag[] {
  return [
    { tag: 254, type: NT.LONG, values: [0] },
    { tag: 256, type: NT.LONG, values: [width] },
    { tag: 257, type: NT.LONG, values: [height] },
    { tag: 258, type: NT.SHORT, values: [8, 8, 8] },
    { tag: 259, type: NT.SHORT, values: [7] },
    { tag: 262, type: NT.SHORT, values: [6] },
    { tag: 277, type: NT.SHORT, values: [3] },
    { tag: 278, type: NT.LONG, values: [height] },
  ];
}

/** The file: header (8-byte first-directory offset), the JPEG strips, then the directories (values before each). */
export function buildNdpi(images: NdpiImage[]): { bytes: Buffer; jpegOffsets: number[] } {
  const parts: Uint8Array[] = [];
  const header = Buffer.alloc(16);
  header.write('II', 0, 'latin1');
  header.writeUInt16LE(42, 2);
  parts.push(header);
  let pos = header.length;
  const jpegOffsets: number[] = [];
  for (const img of images) {
    jpegOffsets.push(pos);
    parts.push(img.jpeg.bytes);
    pos += img.jpeg.bytes.length;
    if (pos % 2) {
      parts.push(Uint8Array.of(0));
      pos++;
    }
  }
  const dirTags = images.map((img, i) => [
    ...stripTags(img.width, img.height).filter((t) => !img.tags.some((x) => x.tag === t.tag)),
    { tag: 273, type: NT.LONG, values: [jpegOffsets[i]!] },
    { tag: 279, type: NT.LONG, values: [img.jpeg.bytes.length] },
    ...img.tags,
  ]);
  // Lay out: each directory's block starts where the previous ended.
  const starts: number[] = [];
  for (const tags of dirTags) {
    starts.push(pos);
    pos += ndpiDirectorySize(tags);
  }
  // Entry tables sit after each block's values: compute them with a dry run.
  const ifdOffsets = dirTags.map((tags, i) => ndpiDirectory(tags, starts[i]!, 0).ifdOffset);
  dirTags.forEach((tags, i) => parts.push(ndpiDirectory(tags, starts[i]!, ifdOffsets[i + 1] ?? 0).bytes));
  header.writeBigUInt64LE(BigInt(ifdOffsets[0]!), 4);
  return { bytes: Buffer.concat(parts), jpegOffsets };
}

/** The NDPI tags of an image: format flag, lens, focal plane, restart interval starts. */
export function ndpiTags(options: { lens: number; focalPlane?: number; jpeg: NdpiJpeg; extra?: NdpiTag[] }): NdpiTag[] {
  const tags: NdpiTag[] = [
    { tag: 65420, type: NT.LONG, values: [1] },
    { tag: 65421, type: NT.FLOAT, values: [options.lens] },
    { tag: 65424, type: NT.SLONG, values: [options.focalPlane ?? 0] },
  ];
  if (options.jpeg.mcuStarts.length) tags.push({ tag: 65426, type: NT.LONG, values: options.jpeg.mcuStarts });
  for (const t of options.extra ?? []) {
    const at = tags.findIndex((x) => x.tag === t.tag);
    if (at >= 0) tags[at] = t;
    else tags.push(t);
  }
  return tags;
}

/** XResolution / YResolution (pixels per centimetre) for `mpp` µm per pixel, as a rational. */
export function resolutionTags(mppX: number, mppY: number): NdpiTag[] {
  const rational = (mpp: number) => [Math.round(1e7 / mpp), 1000];
  return [
    { tag: 282, type: NT.RATIONAL, values: rational(mppX) },
    { tag: 283, type: NT.RATIONAL, values: rational(mppY) },
    { tag: 296, type: NT.SHORT, values: [3] },
  ];
}

export function writeNdpi(path: string, images: NdpiImage[]): { jpegOffsets: number[]; size: number } {
  const { bytes, jpegOffsets } = buildNdpi(images);
  writeFileSync(path, bytes);
  return { jpegOffsets, size: bytes.length };
}

/** 4x smaller by two 2x2 means (a scanner's reduced level). */
function quarter(img: Rgb): Rgb {
  return halve(halve(img));
}

export interface TestNdpiOptions {
  /** µm per pixel written as resolution in pixels per centimetre (default 0.4416 x 0.4418). */
  mpp?: { x: number; y: number };
  /** Changes level 0's McuStarts (relative offsets) before they are written; `null` leaves the tag out. */
  level0McuStarts?: (starts: number[]) => number[] | null;
  /** Writes McuStartsHigh (tag 65432, all zero) for level 0. */
  level0HighWords?: boolean;
  /** Replaces level 0 by a JPEG without restart markers that claims this size (nothing behind it is decodable). */
  level0Untiled?: { width: number; height: number };
  /** Keeps only the first `level0Cut` bytes of level 0's JPEG (a JPEG truncated inside its data). */
  level0Cut?: number;
  /** Level 0's JPEG header and directory claim this size (its data stays that of the real picture). */
  level0Claims?: { width: number; height: number };
}

/** What a test NDPI holds, to compare a reader against. */
export interface TestNdpi {
  path: string;
  size: number;
  /** The pictures the levels were encoded from (level 0; level 1 = level 0 / 4; level 2 = level 0 / 16). */
  pictures: Rgb[];
  macro: Rgb;
  /** Stored levels (focal plane 0): size, restart-interval tile (none: untiled), JPEG offset, McuStarts as written. */
  levels: { width: number; height: number; tile?: { width: number; height: number }; jpegOffset: number; mcuStarts: number[] }[];
}

const PROPERTY_MAP = ['NDP.S/N=C13210-01', 'Objective.Lens.Magnificant=20', 'Product=NanoZoomer S360', 'Empty=', '=no key', 'Remark=a=b'].join('\r\n');

/**
 * A small NDPI in the layout of a real one: level 0 (`level0`'s pixels, 4:4:4, restart interval 16 MCUs = 128x8
 * tiles), level 1 (/4, 4:2:0, restart interval 4 MCUs = 64x16 tiles), level 2 (/16, 4:2:0, no restart markers), a
 * second focal plane of level 1 (ignored by OpenSlide), the map (SourceLens -2, ignored) and the macro (SourceLens
 * -1). `level0`'s sides must be multiples of 256 x 128.
 */
export async function writeTestNdpi(path: string, level0: Rgb, options: TestNdpiOptions = {}): Promise<TestNdpi> {
  if (level0.width % 256 || level0.height % 128) throw new Error(`ndpi writer: level 0 must be a multiple of 256x128 px, not ${level0.width}x${level0.height}`);
  const level1 = quarter(level0);
  const level2 = quarter(level1);
  const macro = tissue(320, 120, 9);
  const mpp = options.mpp ?? { x: 0.4416, y: 0.4418 };
  const common: NdpiTag[] = [
    ...resolutionTags(mpp.x, mpp.y),
    { tag: 271, type: NT.ASCII, values: 'Hamamatsu' },
    { tag: 272, type: NT.ASCII, values: 'C13210' },
    { tag: 305, type: NT.ASCII, values: 'NDP.scan 3.3.0' },
    { tag: 306, type: NT.ASCII, values: '2024:03:01 10:20:30' },
    { tag: 65422, type: NT.SLONG, values: [-1234567] },
    { tag: 65423, type: NT.SLONG, values: [2345678] },
    { tag: 65427, type: NT.ASCII, values: 'REF-42' },
    { tag: 65449, type: NT.ASCII, values: PROPERTY_MAP },
  ];
  let j0: NdpiJpeg = await restartJpeg(level0, '4:4:4', 16);
  let level0Size = { width: level0.width, height: level0.height };
  if (options.level0Untiled) {
    level0Size = options.level0Untiled;
    const bytes = Buffer.from(await plainJpeg(tissue(64, 64, 5), '4:2:0'));
    const sof = segments(bytes).sof;
    bytes.writeUInt16BE(level0Size.height, sof + 5);
    bytes.writeUInt16BE(level0Size.width, sof + 7);
    j0 = { bytes: new Uint8Array(bytes), mcuStarts: [] };
  }
  const j1 = await restartJpeg(level1, '4:2:0', 4);
  const j2: NdpiJpeg = { bytes: await plainJpeg(level2, '4:2:0'), mcuStarts: [] };
  const z1: NdpiJpeg = { bytes: await plainJpeg(tissue(level1.width, level1.height, 11), '4:2:0'), mcuStarts: [] };
  const map: NdpiJpeg = { bytes: await plainJpeg(tissue(64, 32, 13), '4:2:0'), mcuStarts: [] };
  const jm: NdpiJpeg = { bytes: await plainJpeg(macro, '4:2:0'), mcuStarts: [] };
  if (options.level0Cut !== undefined) j0 = { ...j0, bytes: j0.bytes.slice(0, options.level0Cut) };
  if (options.level0Claims) {
    level0Size = options.level0Claims;
    const bytes = Buffer.from(j0.bytes);
    const sof = segments(bytes, false).sof;
    bytes.writeUInt16BE(level0Size.height, sof + 5);
    bytes.writeUInt16BE(level0Size.width, sof + 7);
    j0 = { ...j0, bytes: new Uint8Array(bytes) };
  }
  const starts0 = options.level0McuStarts ? options.level0McuStarts(j0.mcuStarts) : j0.mcuStarts;
  const extra0: NdpiTag[] = options.level0HighWords ? [{ tag: 65432, type: NT.LONG, values: j0.mcuStarts.map(() => 0) }] : [];
  const images: NdpiImage[] = [
    { ...level0Size, jpeg: { ...j0, mcuStarts: starts0 ?? [] }, tags: [...common, ...ndpiTags({ lens: 20, jpeg: { ...j0, mcuStarts: starts0 ?? [] }, extra: extra0 })] },
    { width: level1.width, height: level1.height, jpeg: j1, tags: [...common, ...ndpiTags({ lens: 5, jpeg: j1 })] },
    { width: level1.width, height: level1.height, jpeg: z1, tags: [...common, ...ndpiTags({ lens: 5, focalPlane: 1, jpeg: z1 })] },
    { width: level2.width, height: level2.height, jpeg: j2, tags: [...common, ...ndpiTags({ lens: 1.25, jpeg: j2 })] },
    { width: 64, height: 32, jpeg: map, tags: [...common, ...ndpiTags({ lens: -2, jpeg: map })] },
    { width: macro.width, height: macro.height, jpeg: jm, tags: [...common, ...ndpiTags({ lens: -1, jpeg: jm })] },
  ];
  const { jpegOffsets, size } = writeNdpi(path, images);
  return {
    path,
    size,
    pictures: [level0, level1, level2],
    macro,
    levels: [
      { ...level0Size, tile: options.level0Untiled ? undefined : j0.tile, jpegOffset: jpegOffsets[0]!, mcuStarts: starts0 ?? [] },
      { width: level1.width, height: level1.height, tile: j1.tile, jpegOffset: jpegOffsets[1]!, mcuStarts: j1.mcuStarts },
      { width: level2.width, height: level2.height, jpegOffset: jpegOffsets[3]!, mcuStarts: [] },
    ],
  };
}

/**
 * An NDPI made from a real slide's pixels: a `width` x `height` crop of its level 0 (default 1024 x 640, from the
 * centre), in writeTestNdpi's layout.
 */
export async function writeNdpiFromSlide(slidePath: string, outPath: string, size: { width: number; height: number } = { width: 1024, height: 640 }): Promise<TestNdpi> {
  const slide = await openSlide(slidePath, { smallestLevelSize: 0 });
  try {
    const l0 = slide.levels[0]!;
    const x = Math.max(0, Math.floor((l0.width - size.width) / 2));
    const y = Math.max(0, Math.floor((l0.height - size.height) / 2));
    const data = await slide.readRegion(0, x, y, size.width, size.height);
    return await writeTestNdpi(outPath, { width: size.width, height: size.height, data }, { mpp: slide.mpp });
  } finally {
    await slide.close();
  }
}
