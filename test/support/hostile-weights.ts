/**
 * Weight files built byte by byte, valid and hostile: a zip writer for torch.save archives
 * (stored and deflated entries, ZIP64 trailer, data descriptors, overlapping or lying entries),
 * a small pickle writer, and safetensors with a hand-written header. Used by
 * test/models/weights/hostile.test.ts and its child process (hostile-runner.ts), and by
 * messages.test.ts for .pt files with a real architecture's keys.
 */
import { deflateRawSync, constants as zconst } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Bytes

/** A growing byte buffer (number[] spreads fail past ~100k items). */
export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  push(...bytes: number[]): this {
    return this.append(bytes);
  }
  append(bytes: ArrayLike<number>): this {
    this.room(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }
  /** `n` copies of `byte`. */
  fill(byte: number, n: number): this {
    this.room(n);
    this.buf.fill(byte, this.length, this.length + n);
    this.length += n;
    return this;
  }
  u16(v: number): this {
    return this.push(v & 0xff, (v >>> 8) & 0xff);
  }
  u32(v: number): this {
    return this.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  u64(v: number | bigint): this {
    const b = BigInt.asUintN(64, BigInt(v));
    this.u32(Number(b & 0xffffffffn));
    return this.u32(Number(b >> 32n));
  }
  i32(v: number): this {
    return this.u32(v >>> 0);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

let crcTable: Uint32Array | undefined;
export function crc32(data: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A raw deflate stream of `mib` MiB of zeros, built from independent 1 MiB blocks (sync-flushed,
 * so they concatenate) without ever holding the inflated bytes: 512 MiB -> about 522 KB.
 */
export function zeroDeflate(mib: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(1 << 20), { finishFlush: zconst.Z_SYNC_FLUSH });
  const out = new Bytes();
  for (let i = 0; i < mib; i++) out.append(block);
  return out.push(0x03, 0x00).done(); // a final, empty fixed-Huffman block
}

// ---------------------------------------------------------------------------------------------
// Zip

export interface ZipFile {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Raw deflate bytes to store as this entry (a bomb: `data` is then ignored). */
  compressed?: Uint8Array;
  /** Uncompressed size to declare (default: the real one). */
  size?: number;
  /** Sizes and CRC after the data (general-purpose flag bit 3) instead of in the local header. */
  descriptor?: boolean;
  /** Point this entry's central record at another entry's local header (overlapping files). */
  sameDataAs?: string;
}

export interface ZipOptions {
  zip64?: boolean;
  /** Entry count to declare in the end records (default: the real one). */
  count?: number;
}

/** A zip archive as torch.save (stored, ZIP64) or other tools (deflate, descriptors) write them. */
export function makeZip(files: ZipFile[], opts: ZipOptions = {}): Uint8Array {
  const out = new Bytes();
  const central = new Bytes();
  const localAt = new Map<string, { offset: number; crc: number; csize: number; size: number; method: number }>();
  for (const f of files) {
    const name = utf8.encode(f.name);
    const shared = f.sameDataAs ? localAt.get(f.sameDataAs) : undefined;
    if (f.sameDataAs && !shared) throw new Error(`makeZip: ${f.sameDataAs} comes later or does not exist`);
    let rec = shared;
    if (!rec) {
      const body = f.compressed ?? (f.deflate ? deflateRawSync(f.data) : f.data);
      const method = f.compressed || f.deflate ? 8 : 0;
      const size = f.size ?? (f.compressed ? 0 : f.data.length);
      const crc = f.compressed ? 0 : crc32(f.data);
      rec = { offset: out.length, crc, csize: body.length, size, method };
      out.u32(0x04034b50).u16(20).u16(f.descriptor ? 8 : 0).u16(method).u16(0).u16(0);
      if (f.descriptor) out.u32(0).u32(0).u32(0);
      else out.u32(crc).u32(body.length).u32(size);
      out.u16(name.length).u16(0).append(name).append(body);
      if (f.descriptor) out.u32(0x08074b50).u32(crc).u32(body.length).u32(size);
      localAt.set(f.name, rec);
    }
    central.u32(0x02014b50).u16(20).u16(20).u16(f.descriptor ? 8 : 0).u16(rec.method).u16(0).u16(0);
    central.u32(rec.crc).u32(rec.csize).u32(f.size ?? rec.size).u16(name.length).u16(0).u16(0).u16(0).u16(0).u32(0);
    central.u32(rec.offset).append(name);
  }
  const cdOffset = out.length;
  const cd = central.done();
  out.append(cd);
  const count = opts.count ?? files.length;
  if (opts.zip64) {
    const rec = out.length;
    out.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(count).u64(count).u64(cd.length).u64(cdOffset);
    out.u32(0x07064b50).u32(0).u64(rec).u32(1);
  }
  const small = (v: number, max: number) => (opts.zip64 ? max : Math.min(v, max));
  out.u32(0x06054b50).u16(0).u16(0).u16(small(count, 0xffff)).u16(small(count, 0xffff));
  out.u32(small(cd.length, 0xffffffff)).u32(small(cdOffset, 0xffffffff)).u16(0);
  return out.done();
}

// ---------------------------------------------------------------------------------------------
// Pickle

/** Pickle opcodes by name, written one call at a time: `new Pickle().proto().emptyDict()...stop()`. */
export class Pickle {
  readonly b = new Bytes();

  op(...bytes: number[]): this {
    this.b.push(...bytes);
    return this;
  }
  proto(v = 2): this {
    return this.op(0x80, v);
  }
  stop(): this {
    return this.op(0x2e);
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  emptyList(): this {
    return this.op(0x5d);
  }
  reduce(): this {
    return this.op(0x52);
  }
  setitems(): this {
    return this.op(0x75);
  }
  persid(): this {
    return this.op(0x51);
  }
  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }
  none(): this {
    return this.op(0x4e);
  }
  global(module: string, name: string): this {
    this.b.push(0x63).append(utf8.encode(`${module}\n${name}\n`));
    return this;
  }
  str(s: string): this {
    const e = utf8.encode(s);
    if (e.length < 256) this.b.push(0x8c, e.length).append(e);
    else this.b.push(0x58).u32(e.length).append(e);
    return this;
  }
  /** BINUNICODE with an explicit (possibly lying) length. */
  binunicode(len: number, body: Uint8Array = new Uint8Array(0)): this {
    this.b.push(0x58).u32(len).append(body);
    return this;
  }
  int(v: number): this {
    if (v >= 0 && v < 256) this.b.push(0x4b, v);
    else if (v >= 0 && v < 65536) this.b.push(0x4d).u16(v);
    else if (v >= -(2 ** 31) && v < 2 ** 31) this.b.push(0x4a).i32(v);
    else {
      const bytes: number[] = [];
      let x = BigInt(v);
      do {
        bytes.push(Number(BigInt.asUintN(8, x)));
        x >>= 8n;
      } while (!(x === 0n && !(bytes.at(-1)! & 0x80)) && !(x === -1n && bytes.at(-1)! & 0x80));
      this.b.push(0x8a, bytes.length, ...bytes);
    }
    return this;
  }
  /** LONG4 with `n` payload bytes (little-endian two's complement). */
  long4(n: number, fill = 0x7f): this {
    this.b.push(0x8b).i32(n).fill(fill, n);
    return this;
  }
  ints(xs: readonly number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  raw(bytes: ArrayLike<number>): this {
    this.b.append(bytes);
    return this;
  }
  done(): Uint8Array {
    return this.b.done();
  }
}

// ---------------------------------------------------------------------------------------------
// torch.save archives

export type StorageType = 'FloatStorage' | 'HalfStorage' | 'BFloat16Storage' | 'DoubleStorage' | 'LongStorage' | 'IntStorage' | 'ByteStorage' | 'BoolStorage';
export const STORAGE_BYTES: Record<StorageType, number> = {
  FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8, LongStorage: 8, IntStorage: 4, ByteStorage: 1, BoolStorage: 1,
};

export interface StorageSpec {
  key: string;
  type: StorageType;
  /** Element count the pickle declares. */
  count: number;
  /** The entry's bytes (default: zeros for `count` elements). */
  data?: Uint8Array;
  /** Extra options for the storage's zip entry (deflate, bombs, lying sizes). */
  entry?: Omit<ZipFile, 'name' | 'data'>;
}

export interface TensorSpec {
  name: string;
  storage: string;
  offset?: number;
  shape: readonly number[];
  /** Default: contiguous. */
  stride?: readonly number[];
}

export function contiguousStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Appends the opcodes torch.save emits for one tensor (`_rebuild_tensor_v2` of a persistent storage). */
export function tensorOps(p: Pickle, t: TensorSpec, storage: StorageSpec): Pickle {
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', storage.type).str(storage.key).str('cpu').int(storage.count).tuple().persid();
  p.int(t.offset ?? 0).ints(t.shape).ints(t.stride ?? contiguousStride(t.shape)).bool(false);
  p.global('collections', 'OrderedDict').emptyTuple().reduce();
  return p.tuple().reduce();
}

/** `OrderedDict` of tensors, as pickled by torch.save(model.state_dict()). */
export function stateDictPickle(tensors: readonly TensorSpec[], storages: readonly StorageSpec[]): Uint8Array {
  const byKey = new Map(storages.map((s) => [s.key, s]));
  const p = new Pickle().proto();
  p.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const t of tensors) {
    const s = byKey.get(t.storage);
    if (!s) throw new Error(`stateDictPickle: no storage ${t.storage}`);
    tensorOps(p.str(t.name), t, s);
  }
  return p.setitems().stop().done();
}

export interface ArchiveOptions extends ZipOptions {
  top?: string;
  /** data.pkl to use instead of the state_dict pickle of `tensors`. */
  pickle?: Uint8Array;
  /** Options for every entry (deflate, descriptor). */
  entries?: Omit<ZipFile, 'name' | 'data'>;
  /** Options for the data.pkl entry (a bomb, a lying size). */
  pickleEntry?: Omit<ZipFile, 'name' | 'data'>;
}

/** A torch.save()d state_dict: `<top>/data.pkl`, `<top>/byteorder`, `<top>/data/<key>`, `<top>/version`. */
export function torchArchive(tensors: readonly TensorSpec[], storages: readonly StorageSpec[], opts: ArchiveOptions = {}): Uint8Array {
  const top = opts.top ?? 'archive';
  const files: ZipFile[] = [
    { name: `${top}/data.pkl`, data: opts.pickle ?? stateDictPickle(tensors, storages), ...opts.entries, ...opts.pickleEntry },
    { name: `${top}/byteorder`, data: utf8.encode('little'), ...opts.entries },
  ];
  for (const s of storages) {
    const data = s.data ?? (s.entry?.compressed ? new Uint8Array(0) : new Uint8Array(s.count * STORAGE_BYTES[s.type]));
    files.push({ name: `${top}/data/${s.key}`, data, ...opts.entries, ...s.entry });
  }
  files.push({ name: `${top}/version`, data: utf8.encode('3\n'), ...opts.entries });
  return makeZip(files, opts);
}

/** A .pt of float32 tensors given by their values (contiguous, one storage each). */
export function floatArchive(tensors: Record<string, { shape: readonly number[]; values?: ArrayLike<number>; type?: StorageType }>, opts: ArchiveOptions = {}): Uint8Array {
  const storages: StorageSpec[] = [];
  const specs: TensorSpec[] = [];
  Object.entries(tensors).forEach(([name, t], i) => {
    const type = t.type ?? 'FloatStorage';
    const count = t.shape.reduce((a, b) => a * b, 1);
    let data: Uint8Array | undefined;
    if (t.values) {
      if (type === 'FloatStorage') data = new Uint8Array(Float32Array.from(t.values).buffer);
      else if (type === 'LongStorage') data = new Uint8Array(BigInt64Array.from(Array.from(t.values, (v) => BigInt(Math.round(v)))).buffer);
      else throw new Error(`floatArchive: values for ${type}`);
    }
    storages.push({ key: String(i), type, count, data });
    specs.push({ name, storage: String(i), shape: t.shape });
  });
  return torchArchive(specs, storages, opts);
}

// ---------------------------------------------------------------------------------------------
// safetensors

/** A safetensors file from a header given as text (any text: the point is to break it) and data bytes. */
export function safetensorsRaw(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), declaredLength?: number): Uint8Array {
  const h = typeof header === 'string' ? utf8.encode(header) : header;
  return new Bytes().u64(declaredLength ?? h.length).append(h).append(data).done();
}

export function safetensorsOf(entries: Record<string, { dtype: string; shape: unknown; data_offsets: unknown }>, data: Uint8Array, extra: Record<string, unknown> = {}): Uint8Array {
  return safetensorsRaw(JSON.stringify({ ...extra, ...entries }), data);
}
