/**
 * Hostile and broken TIFF / BigTIFF files, built byte by byte (issue #14): any header, any IFD chain, any tag
 * value, tiles or strips with any bytes, and decompression bombs (Deflate, LZW, JPEG and JPEG 2000 headers that
 * declare far more pixels than the tile holds). Nothing here goes through a TIFF library, so a file can say
 * exactly the wrong thing a test needs it to say.
 */
import { constants, createDeflate } from 'node:zlib';
import sharp from 'sharp';

/** TIFF field types used here. */
export const T = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, UNDEFINED: 7, LONG8: 16 } as const;
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 16: 8 };

export interface RawTag {
  tag: number;
  type: number;
  /** Numbers (RATIONAL: numerator, denominator pairs), a string (ASCII, NUL added) or bytes (BYTE/UNDEFINED). */
  values: (number | bigint)[] | string | Uint8Array;
  /** Written as this count instead of the real one (a count that lies). */
  count?: number | bigint;
  /** Written as this value offset instead of where the values really are (values are then not stored). */
  offset?: number | bigint;
}

export interface BlockSpec {
  /** Bytes stored in the file for this tile or strip (none: an empty block, byte count 0, offset 0). */
  data?: Uint8Array;
  /** Overrides of what the directory says about the block. */
  offset?: number | bigint;
  byteCount?: number | bigint;
}

export interface IfdSpec {
  width: number | bigint;
  height: number | bigint;
  /** Tile size; without it the image is stored in strips of `rowsPerStrip` rows. */
  tile?: [number | bigint, number | bigint];
  rowsPerStrip?: number | bigint;
  compression?: number;
  photometric?: number;
  samplesPerPixel?: number;
  bitsPerSample?: number;
  predictor?: number;
  newSubfileType?: number;
  description?: string;
  jpegTables?: Uint8Array;
  /** One per tile (row-major) or strip. */
  blocks: BlockSpec[];
  /** Extra tags; a tag given here replaces the one the fields above would write. */
  tags?: RawTag[];
  /** Next-directory pointer: 'self' loops to this directory, a number is written as is (default: the next spec, or 0). */
  next?: 'self' | number | bigint;
}

export interface TiffSpec {
  bigTiff?: boolean;
  /** 'data-first' (default): header, block data, directories; 'ifd-first': header, directories, block data. */
  layout?: 'data-first' | 'ifd-first';
  /** First-directory pointer written in the header instead of the real one. */
  firstIfd?: number | bigint;
  ifds: IfdSpec[];
}

/** The tags an IfdSpec's fields stand for. */
function tagsOf(ifd: IfdSpec, big: boolean, offsets: bigint[], counts: bigint[]): RawTag[] {
  const n = (v: number | bigint) => BigInt(v);
  const long = (v: number | bigint) => (big && n(v) > 0xffff_ffffn ? T.LONG8 : T.LONG);
  const spp = ifd.samplesPerPixel ?? 3;
  const tags: RawTag[] = [
    { tag: 254, type: T.LONG, values: [ifd.newSubfileType ?? 0] },
    { tag: 256, type: long(ifd.width), values: [ifd.width] },
    { tag: 257, type: long(ifd.height), values: [ifd.height] },
    { tag: 258, type: T.SHORT, values: Array(spp).fill(ifd.bitsPerSample ?? 8) },
    { tag: 259, type: T.SHORT, values: [ifd.compression ?? 1] },
    { tag: 262, type: T.SHORT, values: [ifd.photometric ?? 2] },
    { tag: 277, type: T.SHORT, values: [spp] },
    { tag: 284, type: T.SHORT, values: [1] },
  ];
  if (ifd.description !== undefined) tags.push({ tag: 270, type: T.ASCII, values: ifd.description });
  if (ifd.predictor !== undefined) tags.push({ tag: 317, type: T.SHORT, values: [ifd.predictor] });
  if (ifd.jpegTables) tags.push({ tag: 347, type: T.UNDEFINED, values: ifd.jpegTables });
  const offType = big ? T.LONG8 : T.LONG;
  if (ifd.tile) {
    tags.push({ tag: 322, type: long(ifd.tile[0]), values: [ifd.tile[0]] }, { tag: 323, type: long(ifd.tile[1]), values: [ifd.tile[1]] });
    tags.push({ tag: 324, type: offType, values: offsets }, { tag: 325, type: offType, values: counts });
  } else {
    tags.push({ tag: 273, type: offType, values: offsets }, { tag: 279, type: offType, values: counts });
    tags.push({ tag: 278, type: long(ifd.rowsPerStrip ?? ifd.height), values: [ifd.rowsPerStrip ?? ifd.height] });
  }
  for (const extra of ifd.tags ?? []) {
    const at = tags.findIndex((t) => t.tag === extra.tag);
    if (at >= 0) tags[at] = extra;
    else tags.push(extra);
  }
  return tags.sort((a, b) => a.tag - b.tag);
}

function valueBytes(t: RawTag, little = true): Uint8Array {
  if (typeof t.values === 'string') return new TextEncoder().encode(`${t.values}\0`);
  if (t.values instanceof Uint8Array) return t.values;
  const size = TYPE_SIZE[t.type] ?? 1;
  const per = t.type === T.RATIONAL ? 4 : size;
  const out = Buffer.alloc(t.values.length * per);
  t.values.forEach((v, i) => {
    const at = i * per;
    if (per === 1) out.writeUInt8(Number(v), at);
    else if (per === 2) little ? out.writeUInt16LE(Number(v), at) : out.writeUInt16BE(Number(v), at);
    else if (per === 4) little ? out.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(v))), at) : out.writeUInt32BE(Number(BigInt.asUintN(32, BigInt(v))), at);
    else little ? out.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), at) : out.writeBigUInt64BE(BigInt.asUintN(64, BigInt(v)), at);
  });
  return out;
}

function countOf(t: RawTag): number {
  if (typeof t.values === 'string') return new TextEncoder().encode(t.values).length + 1;
  if (t.values instanceof Uint8Array) return t.values.length;
  return t.type === T.RATIONAL ? t.values.length / 2 : t.values.length;
}

/** The file's bytes. */
export function buildTiff(spec: TiffSpec): Buffer {
  const big = spec.bigTiff ?? false;
  const headerSize = big ? 16 : 8;
  const entrySize = big ? 20 : 12;
  const inline = big ? 8 : 4;
  const ptr = big ? 8 : 4;

  const blockData = spec.ifds.map((ifd) => ifd.blocks.map((b) => b.data ?? new Uint8Array(0)));
  const dataSize = blockData.flat().reduce((s, d) => s + d.length + (d.length % 2), 0);

  // Directory sizes do not depend on offsets (the type of each tag is fixed by its spec), so lay out twice.
  const layoutIfds = (dataStart: number, ifdStart: number) => {
    let pos = dataStart;
    const offsets = blockData.map((blocks) =>
      blocks.map((d) => {
        const at = d.length ? pos : 0;
        pos += d.length + (d.length % 2);
        return BigInt(at);
      }),
    );
    let at = ifdStart;
    const dirs = spec.ifds.map((ifd, i) => {
      const offs = ifd.blocks.map((b, k) => BigInt(b.offset ?? offsets[i]![k]!));
      const counts = ifd.blocks.map((b, k) => BigInt(b.byteCount ?? blockData[i]![k]!.length));
      const tags = tagsOf(ifd, big, offs, counts);
      let size = (big ? 8 : 2) + tags.length * entrySize + ptr;
      for (const t of tags) {
        const n = valueBytes(t).length;
        if (n > inline && t.offset === undefined) size += n + (n % 2);
      }
      const dir = { at, tags, size };
      at += size;
      return dir;
    });
    return { dirs, end: at };
  };
  const ifdFirst = spec.layout === 'ifd-first';
  const probe = layoutIfds(0, headerSize);
  const ifdBytes = probe.end - headerSize;
  const dataStart = ifdFirst ? headerSize + ifdBytes : headerSize;
  const ifdStart = ifdFirst ? headerSize : headerSize + dataSize;
  const { dirs } = layoutIfds(dataStart, ifdStart);

  const buf = Buffer.alloc(headerSize + dataSize + ifdBytes);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(big ? 43 : 42, 2);
  const firstIfd = BigInt(spec.firstIfd ?? dirs[0]?.at ?? 0);
  if (big) {
    buf.writeUInt16LE(8, 4);
    buf.writeUInt16LE(0, 6);
    buf.writeBigUInt64LE(BigInt.asUintN(64, firstIfd), 8);
  } else buf.writeUInt32LE(Number(BigInt.asUintN(32, firstIfd)), 4);

  let pos = dataStart;
  for (const blocks of blockData)
    for (const d of blocks) {
      buf.set(d, pos);
      pos += d.length + (d.length % 2);
    }

  dirs.forEach(({ at, tags }, i) => {
    let p = at;
    if (big) {
      buf.writeBigUInt64LE(BigInt(tags.length), p);
      p += 8;
    } else {
      buf.writeUInt16LE(tags.length, p);
      p += 2;
    }
    let extra = p + tags.length * entrySize + ptr;
    for (const t of tags) {
      const bytes = valueBytes(t);
      const count = BigInt(t.count ?? countOf(t));
      buf.writeUInt16LE(t.tag, p);
      buf.writeUInt16LE(t.type, p + 2);
      if (big) buf.writeBigUInt64LE(BigInt.asUintN(64, count), p + 4);
      else buf.writeUInt32LE(Number(BigInt.asUintN(32, count)), p + 4);
      const valueAt = p + (big ? 12 : 8);
      if (t.offset !== undefined) {
        if (big) buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(t.offset)), valueAt);
        else buf.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(t.offset))), valueAt);
      } else if (bytes.length <= inline) {
        buf.set(bytes, valueAt);
      } else {
        buf.set(bytes, extra);
        if (big) buf.writeBigUInt64LE(BigInt(extra), valueAt);
        else buf.writeUInt32LE(extra, valueAt);
        extra += bytes.length + (bytes.length % 2);
      }
      p += entrySize;
    }
    const nextSpec = spec.ifds[i]!.next;
    const next = nextSpec === 'self' ? BigInt(at) : nextSpec !== undefined ? BigInt(nextSpec) : BigInt(dirs[i + 1]?.at ?? 0);
    if (big) buf.writeBigUInt64LE(BigInt.asUintN(64, next), p);
    else buf.writeUInt32LE(Number(BigInt.asUintN(32, next)), p);
  });
  return buf;
}

/** Where each directory starts, as buildTiff lays them out (for specs that point into a file). */
export function directoryOffsets(spec: TiffSpec): number[] {
  const buf = buildTiff(spec);
  const big = spec.bigTiff ?? false;
  const out: number[] = [];
  let at = Number(big ? buf.readBigUInt64LE(8) : buf.readUInt32LE(4));
  const seen = new Set<number>();
  while (at && at < buf.length && !seen.has(at)) {
    seen.add(at);
    out.push(at);
    const n = big ? Number(buf.readBigUInt64LE(at)) : buf.readUInt16LE(at);
    const nextAt = at + (big ? 8 : 2) + n * (big ? 20 : 12);
    at = Number(big ? buf.readBigUInt64LE(nextAt) : buf.readUInt32LE(nextAt));
  }
  return out;
}

/** Uncompressed RGB of one colour. */
export function solid(width: number, height: number, rgb: [number, number, number] = [200, 100, 50]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i += 3) out.set(rgb, i);
  return out;
}

/** A small valid slide: one uncompressed tiled level (`size` px, `tile` px tiles), Aperio description optional. */
export function smallLevel(size = 64, tile = 32, description?: string): IfdSpec {
  const across = Math.ceil(size / tile);
  return {
    width: size,
    height: size,
    tile: [tile, tile],
    description,
    blocks: Array.from({ length: across * across }, () => ({ data: solid(tile, tile) })),
  };
}

export const APERIO = 'Aperio Image Library v12.0.15 \r\n64x64 [0,0 64x64] (32x32) JPEG/RGB Q=70|AppMag = 20|MPP = 0.5';

/**
 * Finding 1: an Aperio slide (a valid 64 px level) whose associated images declare `size` x `size` px with one
 * empty strip each: thumbnail (directory 1), label and macro (named on the description's second line).
 */
export function aperioHugeAssociated(size = 30000, names: ('thumbnail' | 'label' | 'macro')[] = ['thumbnail']): Buffer {
  const ifds: IfdSpec[] = [smallLevel(64, 32, APERIO)];
  for (const name of names) {
    const assoc: IfdSpec = { width: size, height: size, rowsPerStrip: size, compression: 7, description: `Aperio Image Library v12.0.15\n${name} ${size}x${size}`, blocks: [{}] };
    if (name === 'thumbnail') ifds.splice(1, 0, assoc);
    else ifds.push({ ...assoc, newSubfileType: name === 'label' ? 1 : 9 });
  }
  if (!names.includes('thumbnail') && names.length) {
    // directory 1 is always Aperio's thumbnail: keep a small valid one there
    ifds.splice(1, 0, { width: 16, height: 16, rowsPerStrip: 16, description: 'Aperio Image Library v12.0.15\n64x64 -> 16x16', blocks: [{ data: solid(16, 16) }] });
  }
  return buildTiff({ ifds });
}

/** Finding 3: a `width` x `height` slide of one empty tile as large as the slide (BigTIFF when a side needs it). */
export function hugeEmptyTile(width: number | bigint, height: number | bigint, tile: [number | bigint, number | bigint] = [width, height]): Buffer {
  const bigTiff = BigInt(width) > 0xffff_ffffn || BigInt(height) > 0xffff_ffffn;
  return buildTiff({ bigTiff, ifds: [{ width, height, tile, blocks: [{}] }] });
}

/** One tiled level whose single `tile` x `tile` tile holds `data` with `compression`. */
export function oneTile(data: Uint8Array, compression: number, tile = 256, extra: Partial<IfdSpec> = {}): Buffer {
  return buildTiff({ ifds: [{ width: tile, height: tile, tile: [tile, tile], compression, blocks: [{ data }], ...extra }] });
}

/**
 * A zlib stream of `bytes` zero bytes, ~1/1000 of its size, made without allocating `bytes`: one 1 MiB chunk
 * compressed after a full flush (so its compressed form does not depend on what came before) repeated.
 */
export async function deflateBomb(bytes: number): Promise<Uint8Array> {
  const chunk = 1 << 20;
  if (bytes % chunk) throw new Error('deflateBomb: a multiple of 1 MiB');
  const parts: Buffer[] = [];
  const z = createDeflate({ level: 9 });
  z.on('data', (c: Buffer) => parts.push(c));
  const flushed = () => new Promise<void>((resolve) => z.flush(constants.Z_FULL_FLUSH, () => resolve()));
  z.write(Buffer.alloc(chunk));
  await flushed();
  const first = Buffer.concat(parts.splice(0));
  z.write(Buffer.alloc(chunk));
  await flushed();
  const repeat = Buffer.concat(parts.splice(0));
  z.destroy();
  // first = zlib header + chunk 1; repeat = chunk k (k >= 2). End: an empty final fixed-Huffman block, Adler-32.
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((bytes % 65521) << 16) | 1) >>> 0);
  const n = bytes / chunk;
  return Buffer.concat([first, ...Array<Buffer>(n - 1).fill(repeat), Buffer.of(0x03, 0x00), adler]);
}

/**
 * A TIFF LZW stream of at least `bytes` zero bytes (~1/1400 of it): after each Clear, code 0, then codes
 * 258, 259, ... each naming the entry it creates (KwKwK), i.e. runs of 2, 3, ... zeros, until the table fills.
 */
export function lzwBomb(bytes: number): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let nbits = 0;
  const put = (code: number, width: number) => {
    acc = (acc << width) | code;
    nbits += width;
    while (nbits >= 8) {
      out.push((acc >>> (nbits - 8)) & 0xff);
      nbits -= 8;
    }
    acc &= (1 << nbits) - 1;
  };
  let produced = 0;
  while (produced < bytes) {
    put(256, out.length === 0 && nbits === 0 ? 9 : 12); // Clear, at the width the decoder is at
    let width = 9;
    put(0, width);
    produced += 1;
    let next = 258;
    while (next < 4093 && produced < bytes) {
      put(next, width);
      produced += next - 256;
      next++;
      if (next + 1 >= 1 << width && width < 12) width++;
    }
    if (produced >= bytes) {
      put(257, width);
      break;
    }
    // the next Clear is written at 12 bits: the table is past 2047 entries here
  }
  if (nbits) out.push((acc << (8 - nbits)) & 0xff);
  return Uint8Array.from(out);
}

/** LZW codes written MSB-first at 9 bits each (enough for a few codes after a Clear). */
export function lzwCodes(codes: number[]): Uint8Array {
  let bits = '';
  for (const c of codes) bits += c.toString(2).padStart(9, '0');
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '0');
  return Uint8Array.from(bits.match(/.{8}/g)!, (b) => parseInt(b, 2));
}

/** A valid baseline JPEG of `size` x `size` whose SOF header is then rewritten to say `declared` x `declared`. */
export async function jpegClaiming(declared: number, size = 16): Promise<Uint8Array> {
  const jpeg = new Uint8Array(await sharp(solid(size, size), { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 50 }).toBuffer());
  for (let i = 2; i + 8 < jpeg.length; ) {
    if (jpeg[i] !== 0xff) throw new Error('jpegClaiming: bad marker walk');
    const marker = jpeg[i + 1]!;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      jpeg[i + 5] = declared >> 8;
      jpeg[i + 6] = declared & 0xff;
      jpeg[i + 7] = declared >> 8;
      jpeg[i + 8] = declared & 0xff;
      return jpeg;
    }
    i += 2 + length;
  }
  throw new Error('jpegClaiming: no SOF');
}

/** A JPEG 2000 codestream (SOC, SIZ, COD, QCD, one empty tile part, EOC) declaring `width` x `height`, 3 x 8 bit. */
export function j2kClaiming(width: number, height: number): Uint8Array {
  const b: number[] = [];
  const u16 = (v: number) => b.push((v >> 8) & 0xff, v & 0xff);
  const u32 = (v: number) => b.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  u16(0xff4f); // SOC
  u16(0xff51); // SIZ
  u16(38 + 3 * 3);
  u16(0); // Rsiz
  u32(width);
  u32(height);
  u32(0);
  u32(0);
  u32(width); // one tile
  u32(height);
  u32(0);
  u32(0);
  u16(3);
  for (let c = 0; c < 3; c++) b.push(7, 1, 1);
  u16(0xff52); // COD: LRCP, 1 layer, no MCT, 5 levels, 64x64 code blocks, 5/3 reversible
  u16(12);
  b.push(0, 0);
  u16(1);
  b.push(0, 5, 4, 4, 0, 1);
  u16(0xff5c); // QCD: no quantisation, 2 guard bits, 16 sub-bands
  u16(3 + 16);
  b.push(0x40);
  for (let i = 0; i < 16; i++) b.push(8 << 3);
  u16(0xff90); // SOT: tile 0, length 0 (to EOC), part 0 of 1
  u16(10);
  u16(0);
  u32(0);
  b.push(0, 1);
  u16(0xff93); // SOD
  u16(0xffd9); // EOC
  return Uint8Array.from(b);
}
