/**
 * Hamamatsu NDPI directories. An NDPI is a classic TIFF that outgrows 4 GiB without becoming a BigTIFF: the
 * header's first-directory offset and every next-directory pointer are 8 bytes, while the entries keep 32-bit
 * value fields. Their high 32 bits are stored after each directory (one 4-byte word per entry, after the next
 * pointer), which OpenSlide reads since 4.0. OpenSlide 3.4.1 instead guesses them: the largest high part that
 * keeps an offset below its directory (NDPI writers put values and image data before the directory describing
 * them), a value offset equal to the same tag's in the first directory being that shared value. Files under
 * 4 GiB need neither (both give the stored value); beyond, the stored high words are used where they are
 * consistent (every offset they give lies inside the file), else 3.4.1's guess.
 *
 * geotiff cannot read this (it follows 32-bit pointers), so NDPI has its own small parser over bounded reads.
 * Detection is OpenSlide's: a classic TIFF whose 8-byte first-directory offset leads to a directory holding tag
 * 65420; anything else is left to the ordinary TIFF reader.
 */
import { SdsError } from '../../../core/errors.js';

/** Byte access the NDPI reader needs: FileSource has it; tests give a sparse file larger than 4 GiB. */
export interface ByteSource {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  read(offset: number, length: number, what: string, signal?: AbortSignal): Promise<Uint8Array>;
}

/** The NDPI format flag, present in every NDPI directory. */
export const NDPI_FORMAT_FLAG = 65420;

/** No real slide has more; a longer chain means a corrupt file. */
const MAX_DIRECTORIES = 1024;
/** Values loaded eagerly at open (strings, resolutions); larger ones (McuStarts) are loaded when asked for. */
const EAGER_VALUE_BYTES = 4096;
/** A single text value (ImageDescription, the property map) is not held beyond this. */
const MAX_TEXT_BYTES = 1 << 20;
const TWO_32 = 2 ** 32;

/** Bytes per value of the TIFF field types (RATIONALs: 8); 0 for types OpenSlide does not know. */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };
const UNSIGNED = new Set([1, 3, 4, 13, 16, 18]);
const SIGNED = new Set([6, 8, 9, 17]);
const FLOATING = new Set([5, 10, 11, 12]);
const BUFFER = new Set([1, 2, 7]);

export interface NdpiEntry {
  tag: number;
  type: number;
  count: number;
  /** Where the values are (high bits restored), or undefined when they sit in the entry itself. */
  offset?: number;
  /** The values' bytes, when inline or small enough to load at open. */
  bytes?: Uint8Array;
}

export interface NdpiIfd {
  index: number;
  /** Position of the directory's entry table. */
  offset: number;
  entries: Map<number, NdpiEntry>;
  /** Whether the high 32 bits of its offsets come from the words stored after it (else OpenSlide 3.4.1's guess). */
  storedHighWords: boolean;
}

export interface NdpiFile {
  source: ByteSource;
  littleEndian: boolean;
  dirs: NdpiIfd[];
}

/**
 * OpenSlide's high-bits heuristic: the 32-bit `offset` placed in the same 4 GiB window as `dirOffset`, or the
 * window below when that would not be below the directory.
 */
export function fixNdpiOffset(dirOffset: number, offset: number): number {
  const low = offset % TWO_32;
  const result = dirOffset - (dirOffset % TWO_32) + low;
  return result >= dirOffset && result >= TWO_32 ? result - TWO_32 : result;
}

function corrupt(source: ByteSource, problem: string, context: Record<string, unknown> = {}): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${source.name} is a corrupt or truncated NDPI file: ${problem}`, {
    suggestion: 'copy or download the slide again and compare its size with the original',
    context: { path: source.path, fileSize: source.size, ...context },
  });
}

/** Reads little- or big-endian integers from a byte array. */
function reader(bytes: Uint8Array, littleEndian: boolean) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    u16: (at: number) => view.getUint16(at, littleEndian),
    u32: (at: number) => view.getUint32(at, littleEndian),
    u64: (at: number) => view.getBigUint64(at, littleEndian),
    view,
  };
}

/**
 * The NDPI directories of `source`, or undefined when it is not an NDPI (then nothing was thrown: any TIFF, or
 * any other file, may be asked). Throws SLIDE_UNREADABLE when it is an NDPI whose directories are corrupt.
 */
export async function readNdpiFile(source: ByteSource): Promise<NdpiFile | undefined> {
  if (source.size < 12) return undefined;
  const head = await source.read(0, 12, 'the TIFF header');
  const littleEndian = head[0] === 0x49 && head[1] === 0x49;
  if (!littleEndian && !(head[0] === 0x4d && head[1] === 0x4d)) return undefined;
  const h = reader(head, littleEndian);
  if (h.u16(2) !== 42) return undefined; // BigTIFF (43) has real 64-bit offsets: never NDPI mode
  const first = Number(h.u64(4));
  // OpenSlide's trial: parse the directory the 8-byte offset points to; NDPI when it holds the format flag.
  let table: RawDirectory;
  try {
    if (!(first > 0 && first < source.size)) return undefined;
    table = await readTable(source, littleEndian, first, 0);
  } catch {
    return undefined;
  }
  if (!table.raw.some((e) => e.tag === NDPI_FORMAT_FLAG && e.count > 0)) return undefined;
  // An NDPI from here on: what is wrong with it is an error, not a reason to try another reader.
  const dir0 = await resolve(source, table, undefined, littleEndian);
  const dirs: NdpiIfd[] = [dir0];
  const seen = new Set([first]);
  let next = table.next;
  while (next !== 0) {
    if (seen.has(next) || dirs.length >= MAX_DIRECTORIES) throw corrupt(source, `its directory chain loops or is implausibly long (> ${MAX_DIRECTORIES})`, { offset: next });
    seen.add(next);
    const raw = await readTable(source, littleEndian, next, dirs.length);
    dirs.push(await resolve(source, raw, dir0, littleEndian));
    next = raw.next;
  }
  return { source, littleEndian, dirs };
}

interface RawEntry {
  tag: number;
  type: number;
  count: number;
  /** The 4-byte value field. */
  field: Uint8Array;
  /** The field as a 32-bit number. */
  raw: number;
  /** Its high 32 bits as stored after the directory (undefined when the file ends before them). */
  high?: number;
}

interface RawDirectory {
  index: number;
  offset: number;
  raw: RawEntry[];
  next: number;
}

/** A directory's entry table, next pointer (8 bytes in NDPI mode) and high words, checked to lie inside the file. */
async function readTable(source: ByteSource, littleEndian: boolean, offset: number, index: number): Promise<RawDirectory> {
  if (!Number.isSafeInteger(offset) || offset + 2 > source.size) throw corrupt(source, `directory ${index} would start at byte ${offset}, past the end of the file`, { directory: index });
  const n = reader(await source.read(offset, 2, `the entry count of NDPI directory ${index}`), littleEndian).u16(0);
  const tableBytes = n * 12 + 8;
  if (offset + 2 + tableBytes > source.size) throw corrupt(source, `directory ${index} (${n} entries at byte ${offset}) runs past the end of the file`, { directory: index });
  const withHigh = offset + 2 + tableBytes + n * 4 <= source.size;
  const table = await source.read(offset + 2, tableBytes + (withHigh ? n * 4 : 0), `NDPI directory ${index}`);
  const r = reader(table, littleEndian);
  const raw: RawEntry[] = [];
  for (let e = 0; e < n; e++) {
    const at = e * 12;
    raw.push({ tag: r.u16(at), type: r.u16(at + 2), count: r.u32(at + 4), field: table.subarray(at + 8, at + 12), raw: r.u32(at + 8), high: withHigh ? r.u32(tableBytes + e * 4) : undefined });
  }
  const next = r.u64(n * 12);
  if (next >= BigInt(source.size)) throw corrupt(source, `directory ${index} says the next directory starts at byte ${next}, past the end of the file (${source.size} bytes)`, { directory: index });
  return { index, offset, raw, next: Number(next) };
}

/** Whether the stored high words can be trusted: the file needs them, and every offset they make lies inside it. */
function highWordsUsable(source: ByteSource, table: RawDirectory): boolean {
  if (source.size < TWO_32 || table.raw.some((e) => e.high === undefined)) return false;
  return table.raw.every(({ type, count, raw, high }) => {
    const bytes = (TYPE_SIZE[type] ?? 0) * count;
    return bytes <= 4 || raw + high! * TWO_32 + bytes <= source.size;
  });
}

/** Entries with their values' positions (high bits restored) checked against the file, small values loaded. */
async function resolve(source: ByteSource, table: RawDirectory, dir0: NdpiIfd | undefined, littleEndian: boolean): Promise<NdpiIfd> {
  const { index, offset } = table;
  const storedHighWords = highWordsUsable(source, table);
  const entries = new Map<number, NdpiEntry>();
  for (const { tag, type, count, field, raw, high } of table.raw) {
    const size = TYPE_SIZE[type];
    if (!size) continue; // a type OpenSlide does not know: nothing sds reads is stored so
    const bytes = size * count;
    if (bytes <= 4) {
      if (storedHighWords && high) {
        // A value wider than 32 bits (a byte count of a JPEG beyond 4 GiB): one LONG8, as OpenSlide 4 reads it.
        const wide = new Uint8Array(8);
        new DataView(wide.buffer).setBigUint64(0, (BigInt(high) << 32n) | BigInt(raw), littleEndian);
        entries.set(tag, { tag, type: 16, count: 1, bytes: wide });
      } else entries.set(tag, { tag, type, count, bytes: field.slice(0, bytes) });
      continue;
    }
    const shared = dir0?.entries.get(tag);
    const valueOffset = storedHighWords ? raw + high! * TWO_32 : shared && shared.offset === raw ? raw : fixNdpiOffset(offset, raw);
    if (valueOffset + bytes > source.size) {
      throw corrupt(source, `tag ${tag} of directory ${index} has ${count} values at bytes ${valueOffset}..${valueOffset + bytes}, past the end of the file (${source.size} bytes)`, { directory: index, tag });
    }
    const entry: NdpiEntry = { tag, type, count, offset: valueOffset };
    if (bytes <= EAGER_VALUE_BYTES) entry.bytes = await source.read(valueOffset, bytes, `tag ${tag} of NDPI directory ${index}`);
    entries.set(tag, entry);
  }
  return { index, offset, entries, storedHighWords };
}

/**
 * A file position stored in a directory as a value (StripOffsets): as is where the directory's high words were
 * used (they are already in it), else with OpenSlide 3.4.1's guessed high bits.
 */
export function ndpiPosition(dir: NdpiIfd, value: number): number {
  return dir.storedHighWords ? value : fixNdpiOffset(dir.offset, value);
}

/** The bytes of an entry's values (loaded now if they were too large to load at open), within `maxBytes`. */
async function entryBytes(file: NdpiFile, dir: NdpiIfd, entry: NdpiEntry, maxBytes: number): Promise<Uint8Array> {
  if (entry.bytes) return entry.bytes;
  const length = TYPE_SIZE[entry.type]! * entry.count;
  if (length > maxBytes) {
    throw new SdsError('SLIDE_UNREADABLE', `${file.source.name}: tag ${entry.tag} of NDPI directory ${dir.index} holds ${length} bytes, more than the ${maxBytes} it can need`, {
      suggestion: 'the file is corrupt; copy or download the slide again',
      context: { path: file.source.path, directory: dir.index, tag: entry.tag },
    });
  }
  return file.source.read(entry.offset!, length, `tag ${entry.tag} of NDPI directory ${dir.index}`);
}

/** Typed access to one directory's tags, with OpenSlide's rules for which types answer which question. */
export class NdpiTags {
  constructor(
    readonly file: NdpiFile,
    readonly dir: NdpiIfd,
  ) {}

  has(tag: number): boolean {
    return (this.dir.entries.get(tag)?.count ?? 0) > 0;
  }

  count(tag: number): number {
    return this.dir.entries.get(tag)?.count ?? 0;
  }

  /** Whether the tag holds unsigned integers (BYTE, SHORT, LONG, LONG8, IFD). */
  isUnsigned(tag: number): boolean {
    const type = this.dir.entries.get(tag)?.type;
    return type !== undefined && UNSIGNED.has(type);
  }

  /** Unsigned integers (BYTE, SHORT, LONG, LONG8, IFD); undefined when absent or of another type. */
  async uints(tag: number, maxValues = Number.MAX_SAFE_INTEGER): Promise<Float64Array | undefined> {
    const entry = this.dir.entries.get(tag);
    if (!entry?.count || !UNSIGNED.has(entry.type)) return undefined;
    const size = TYPE_SIZE[entry.type]!;
    const bytes = await entryBytes(this.file, this.dir, entry, Math.min(maxValues, entry.count) * size);
    const r = reader(bytes, this.file.littleEndian);
    const out = new Float64Array(entry.count);
    for (let i = 0; i < entry.count; i++) {
      out[i] = size === 1 ? bytes[i]! : size === 2 ? r.u16(i * 2) : size === 4 ? r.u32(i * 4) : Number(r.u64(i * 8));
    }
    return out;
  }

  /** Values [first, first + n) of an unsigned-integer tag, read without loading the rest (McuStarts of a huge level). */
  async uintRange(tag: number, first: number, n: number): Promise<Float64Array> {
    const entry = this.dir.entries.get(tag);
    if (!entry || !UNSIGNED.has(entry.type) || first < 0 || first + n > entry.count) throw new Error(`tag ${tag} has no values ${first}..${first + n}`);
    const size = TYPE_SIZE[entry.type]!;
    const bytes = entry.bytes ? entry.bytes.subarray(first * size, (first + n) * size) : await this.file.source.read(entry.offset! + first * size, n * size, `tag ${tag} of NDPI directory ${this.dir.index}`);
    const r = reader(bytes, this.file.littleEndian);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = size === 1 ? bytes[i]! : size === 2 ? r.u16(i * 2) : size === 4 ? r.u32(i * 4) : Number(r.u64(i * 8));
    return out;
  }

  async uint(tag: number): Promise<number | undefined> {
    return (await this.uints(tag, 1 << 20))?.[0];
  }

  /** The first signed integer (SBYTE, SSHORT, SLONG, SLONG8); undefined when absent or of another type. */
  async sint(tag: number): Promise<number | undefined> {
    const entry = this.dir.entries.get(tag);
    if (!entry?.count || !SIGNED.has(entry.type)) return undefined;
    const bytes = await entryBytes(this.file, this.dir, entry, 1 << 20);
    const { view } = reader(bytes, this.file.littleEndian);
    const le = this.file.littleEndian;
    switch (entry.type) {
      case 6:
        return view.getInt8(0);
      case 8:
        return view.getInt16(0, le);
      case 9:
        return view.getInt32(0, le);
      default:
        return Number(view.getBigInt64(0, le));
    }
  }

  /** The first floating value (FLOAT, DOUBLE, RATIONAL, SRATIONAL), as a double; undefined when absent or of another type. */
  async float(tag: number): Promise<number | undefined> {
    const entry = this.dir.entries.get(tag);
    if (!entry?.count || !FLOATING.has(entry.type)) return undefined;
    const bytes = await entryBytes(this.file, this.dir, entry, 1 << 20);
    const { view } = reader(bytes, this.file.littleEndian);
    const le = this.file.littleEndian;
    switch (entry.type) {
      case 11:
        return view.getFloat32(0, le);
      case 12:
        return view.getFloat64(0, le);
      case 5:
        return view.getUint32(0, le) / view.getUint32(4, le);
      default:
        return view.getInt32(0, le) / view.getInt32(4, le);
    }
  }

  /** Text of an ASCII, BYTE or UNDEFINED tag up to its first NUL, as OpenSlide reads a C string. */
  async text(tag: number): Promise<string | undefined> {
    const entry = this.dir.entries.get(tag);
    if (!entry?.count || !BUFFER.has(entry.type)) return undefined;
    const bytes = await entryBytes(this.file, this.dir, entry, MAX_TEXT_BYTES);
    const end = bytes.indexOf(0);
    return new TextDecoder('utf-8').decode(end < 0 ? bytes : bytes.subarray(0, end));
  }

  /** Any tag's values, for `TiffDirectory.readTag`: numbers, a number, or text. */
  async any(tag: number): Promise<unknown> {
    const entry = this.dir.entries.get(tag);
    if (!entry?.count) return undefined;
    if (entry.type === 2) return this.text(tag);
    if (entry.type === 7) return entryBytes(this.file, this.dir, entry, MAX_TEXT_BYTES);
    if (UNSIGNED.has(entry.type)) {
      const v = await this.uints(tag, 1 << 24);
      return v && v.length === 1 ? v[0] : v;
    }
    if (SIGNED.has(entry.type)) return this.sint(tag);
    return this.float(tag);
  }
}
