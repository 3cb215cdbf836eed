/**
 * Reader for torch.save()d state_dicts (the zip format of PyTorch >= 1.6): `<top>/data.pkl` is a
 * pickle whose tensors point (via persistent ids) at raw little-endian storages `<top>/data/<key>`.
 * The pickle VM below never executes anything: known torch globals are interpreted, any other
 * global becomes an opaque object, and a file whose result is such an object is refused.
 *
 * Everything a file declares is checked before it is spent (issue #14, limits in limits.ts): length
 * fields against the bytes that remain, integers to 16 bytes, nesting depth, an estimate of the JS
 * memory the VM builds, tensor views against their storage (no view may repeat stored elements
 * into more than a small tensor), and what deflated entries inflate to. Tensors are decoded only
 * once the pickle is done and only those of the state_dict (a checkpoint's optimizer state is
 * never decoded), with their names in every message.
 *
 * `openTorchArchive` is the shared first half (zip, byte order, the pickle VM): TorchScript archives
 * (torch.jit.save) are the same zip with a module tree in data.pkl, read by torchscript.ts.
 */
import { SdsError } from '../../core/errors.js';
import { DTYPE_BYTES, decodeRaw } from './decode.js';
import { bfloat16ToFloat, halfToFloat } from './float16.js';
import { clip, formatBytes, WEIGHTS_LIMITS } from './limits.js';
import type { DType, HostData, HostTensor, StateDict } from './types.js';
import { inflateBudget, readZipEntries, zipEntryData, type ZipEntry } from './zip.js';

// ---------------------------------------------------------------------------------------------
// Python values as the VM builds them. Lists are JS arrays, dicts Maps, sets Sets.

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** A `module.name` reference (a class or function); only meaningful when called. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}
/** Result of calling / instantiating a global sds does not know: kept, never run. */
export class PyObject {
  state: PyValue = null;
  constructor(readonly global: PyGlobal) {}
}
/** A storage the pickle refers to; its bytes are read (inflated) only when a kept tensor needs them. */
class Storage {
  constructor(readonly dtype: DType, readonly entry: ZipEntry, readonly count: number, readonly key: string) {}
}
/** A tensor as the pickle describes it: a view (offset, shape, strides) of a storage, not yet decoded. */
export class TensorValue {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly strides: number[],
  ) {}
}
export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyValue[] | PyTuple | Map<unknown, PyValue> | Set<unknown>
  | PyGlobal | PyObject | Storage | TensorValue;

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8',
  ByteStorage: 'U8', BoolStorage: 'BOOL', UntypedStorage: 'U8',
};

const SAVE_STATE_DICT = 'in Python, save only the weights: torch.save(model.state_dict(), path), or convert them to .safetensors';
const SAVE_CONTIGUOUS = 'save plain contiguous tensors: torch.save({k: v.contiguous().clone() for k, v in model.state_dict().items()}, path)';
const DAMAGED = 'the file is damaged or not a state_dict: fetch it again, or save it again with torch.save(model.state_dict(), path)';

/**
 * Globals that run code or touch the system when a pickle calls them. sds calls nothing, so these
 * are refused only to say clearly what the file is: a state_dict never names them.
 */
const CODE_MODULES = [
  'os', 'posix', 'nt', 'subprocess', '_posixsubprocess', 'sys', 'importlib', 'runpy', 'pickle', '_pickle', 'shutil', 'socket',
  'ctypes', 'pty', 'commands', 'webbrowser', 'code', 'codeop', 'marshal', 'multiprocessing', 'pydoc', 'timeit', 'bdb', 'pdb',
];
const CODE_BUILTINS = new Set([
  'eval', 'exec', 'execfile', 'compile', 'open', 'getattr', 'setattr', 'delattr', '__import__', 'globals', 'locals', 'vars',
  'input', 'breakpoint', 'apply', 'file', 'reload',
]);

function runsCode(module: string, name: string): boolean {
  if (module === 'builtins' || module === '__builtin__') return CODE_BUILTINS.has(name);
  return CODE_MODULES.some((m) => module === m || module.startsWith(`${m}.`));
}

// ---------------------------------------------------------------------------------------------

/** ZIP local-header magic (PK\x03\x04): torch.save's default format since 1.6. */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

// Pickle of the legacy magic number: PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c little-endian.
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

function isLegacyTorch(bytes: Uint8Array): boolean {
  return bytes.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => bytes[i] === b);
}

export type Fail = (why: string) => SdsError;

/**
 * A torch zip archive (torch.save or torch.jit.save) opened and its data.pkl unpickled, nothing
 * decoded yet: the state_dict reader below and the TorchScript reader (torchscript.ts) both walk
 * `root` and decode only the tensors they keep.
 */
export interface TorchArchive {
  /** File name, for messages. */
  readonly name: string;
  /** Folder of data.pkl inside the zip, with its trailing slash ('' at the root). */
  readonly top: string;
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** What data.pkl holds. */
  readonly root: PyValue;
  /** The error for a damaged file (NOT_A_WEIGHTS_FILE, naming the file). */
  readonly fail: Fail;
  /** An entry's bytes, deflated ones held to the file's inflate budget. */
  read(entry: ZipEntry): Uint8Array;
  /** Unpickles another pickle of the archive (a TorchScript constants.pkl), its storages in `<top><folder>/`. */
  unpickle(entry: ZipEntry, folder: string): PyValue;
  /** Decodes one tensor the pickle describes (checked against its storage); `key` names it in messages. */
  tensor(key: string, t: TensorValue): HostTensor;
}

function notWeightsFor(name: string): Fail {
  return (why) =>
    new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a torch.save()d state_dict (${why})`, {
      suggestion: DAMAGED,
      context: { file: name },
    });
}

/** Runs `f`, turning anything but an SdsError into a clear "corrupt" error naming the file. */
export function guarded<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof SdsError) throw err;
    // Defence in depth: every check should have caught a bad file before the engine does.
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${name} is corrupt: ${(err as Error).message}`, { suggestion: DAMAGED, context: { file: name }, cause: err });
  }
}

/** Opens a torch zip archive: zip directory, byte order, data.pkl unpickled (nothing is run or decoded). */
export function openTorchArchive(bytes: Uint8Array, name: string): TorchArchive {
  if (isLegacyTorch(bytes)) {
    throw new SdsError('WEIGHTS_UNSUPPORTED', `${name} uses the legacy (PyTorch < 1.6) torch.save format, which sds cannot read`, {
      suggestion: 're-save it with a current PyTorch: torch.save(torch.load(path), new_path), or convert it to .safetensors',
      context: { file: name },
    });
  }
  if (!looksLikeZip(bytes)) {
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a torch.save()d state_dict (not a zip archive)`, {
      suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth)',
      context: { file: name },
    });
  }
  return guarded(name, () => openArchive(bytes, name, notWeightsFor(name)));
}

/** Reads a torch.save()d state_dict (or training checkpoint) into tensors. */
export function parseTorchZip(bytes: Uint8Array, name: string): StateDict {
  const archive = openTorchArchive(bytes, name);
  return stateDictOf(archive);
}

/** The state_dict a torch.save()d archive holds (a TorchScript archive is refused: see torchscript.ts). */
export function stateDictOf(archive: TorchArchive): StateDict {
  const isTorchScript = [...archive.entries.keys()].some((k) => k.startsWith(`${archive.top}code/`));
  return guarded(archive.name, () => toStateDict(archive.root, archive.name, isTorchScript, archive));
}

/** Reads entries' bytes, holding deflated ones to the file's inflate budget. */
class EntryReader {
  private inflated = 0;
  private readonly budget: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly name: string,
  ) {
    this.budget = inflateBudget(bytes.length);
  }

  read(entry: ZipEntry): Uint8Array {
    if (entry.method !== 0) {
      if (this.inflated + entry.size > this.budget) {
        const before = this.inflated ? ` (after ${formatBytes(this.inflated)} already)` : '';
        throw new SdsError(
          'WEIGHTS_TOO_LARGE',
          `${this.name}: its deflated entries would inflate to ${this.inflated + entry.size} bytes with ${clip(entry.name)} (${formatBytes(entry.size)}${before}), ` +
            `more than the ${formatBytes(this.budget)} a ${formatBytes(this.bytes.length)} file is allowed (limit: the larger of ${formatBytes(WEIGHTS_LIMITS.inflateFloorBytes)} and ${WEIGHTS_LIMITS.inflateRatio}x the file)`,
          {
            suggestion: 'real weights barely compress, so this is a zip bomb or a broken file; save the weights with torch.save (it does not compress) or as .safetensors',
            context: { file: this.name },
          },
        );
      }
      this.inflated += entry.size;
    }
    return zipEntryData(this.bytes, entry, this.name);
  }
}

function openArchive(bytes: Uint8Array, name: string, notWeights: Fail): TorchArchive {
  const entries = readZipEntries(bytes, name);
  const reader = new EntryReader(bytes, name);
  // The top folder is named after the file at save time; take the shallowest data.pkl.
  let pkl: ZipEntry | undefined;
  for (const e of entries.values()) {
    if ((e.name === 'data.pkl' || e.name.endsWith('/data.pkl')) && (!pkl || e.name.length < pkl.name.length)) pkl = e;
  }
  if (!pkl) {
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a torch.save()d state_dict (the zip has no data.pkl)`, {
      suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth)',
      context: { file: name },
    });
  }
  const top = pkl.name.slice(0, -'data.pkl'.length);

  const order = entries.get(`${top}byteorder`);
  if (order) {
    if (order.size > 64) throw notWeights(`its byteorder entry is ${order.size} bytes long`);
    const text = new TextDecoder().decode(reader.read(order)).trim();
    if (text !== 'little') {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name} was saved on a ${clip(text)}-endian machine; only little-endian files are supported`, {
        suggestion: 'load and re-save it on an x86/ARM machine, or convert it to .safetensors',
        context: { file: name },
      });
    }
  }

  // Storages by zip path: data.pkl's live in data/, a TorchScript constants.pkl's in constants/.
  const storages = new Map<string, Storage>();
  const persistentLoad = (folder: string) => (pid: PyValue): PyValue => {
    const t = pid instanceof PyTuple ? pid.items : [];
    const [kind, type, key, , count] = t;
    if (kind !== 'storage' || !(type instanceof PyGlobal) || typeof key !== 'string' || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      throw notWeights('unexpected persistent id in data.pkl');
    }
    const dtype = type.module === 'torch' ? STORAGE_DTYPES[type.name] : undefined;
    if (!dtype) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: storage ${clip(key)} has type ${clip(type.path)}, which sds cannot read`, {
        suggestion: 'save the weights as float32, float16 or bfloat16',
        context: { file: name },
      });
    }
    const path = `${top}${folder}/${key}`;
    let s = storages.get(path);
    if (!s) {
      const entry = entries.get(path);
      if (!entry) throw notWeights(`storage ${clip(path)} is missing from the zip`);
      const need = count * DTYPE_BYTES[dtype];
      if (entry.size < need) throw notWeights(`storage ${clip(key)} has ${entry.size} bytes, ${count} ${dtype} elements need ${need}`);
      // A deflated entry that declares more than its storage needs would be inflated for nothing.
      if (entry.method !== 0 && entry.size > need) {
        throw notWeights(`storage ${clip(key)}'s zip entry declares ${entry.size} bytes, its ${count} ${dtype} elements need ${need}`);
      }
      s = new Storage(dtype, entry, count, key);
      storages.set(path, s);
    } else if (s.dtype !== dtype || s.count !== count) {
      throw notWeights(`storage ${clip(key)} is referred to as ${s.count} ${s.dtype} and as ${count} ${dtype} elements`);
    }
    return s;
  };

  const unpickleEntry = (entry: ZipEntry, folder: string): PyValue => {
    if (entry.size > WEIGHTS_LIMITS.pickleBytes) {
      throw new SdsError('WEIGHTS_TOO_LARGE', `${name}: its ${clip(entry.name)} is ${entry.size} bytes (${formatBytes(entry.size)}); a state_dict's pickle needs far less (limit ${formatBytes(WEIGHTS_LIMITS.pickleBytes)})`, {
        suggestion: SAVE_STATE_DICT,
        context: { file: name },
      });
    }
    return unpickle(reader.read(entry), persistentLoad(folder), name, notWeights);
  };
  const root = unpickleEntry(pkl, 'data');
  const materializer = new Materializer(reader, name, notWeights);
  return {
    name,
    top,
    entries,
    root,
    fail: notWeights,
    read: (entry) => reader.read(entry),
    unpickle: (entry, folder) => guarded(name, () => unpickleEntry(entry, folder)),
    tensor: (key, t) => guarded(name, () => materializer.tensor(key, t)),
  };
}

// ---------------------------------------------------------------------------------------------
// Tensors

function rebuildTensor(args: PyValue[], fail: Fail): TensorValue {
  const [storage, offset, size, stride] = args;
  const ints = (v: PyValue | undefined): number[] | undefined =>
    v instanceof PyTuple && v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) ? (v.items as number[]) : undefined;
  const shape = ints(size);
  const strides = ints(stride);
  if (!(storage instanceof Storage) || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !shape || !strides || shape.length !== strides.length) {
    throw fail('malformed tensor in data.pkl');
  }
  return new TensorValue(storage, offset, shape, strides);
}

/** Whether two index tuples of the view can reach the same storage element (sufficient test). */
function repeatsElements(shape: readonly number[], strides: readonly number[]): boolean {
  const dims = shape.map((s, i) => [s, strides[i]!] as const).filter(([s]) => s > 1).sort((a, b) => a[1] - b[1]);
  let reach = 0; // furthest offset the smaller-stride dims reach
  for (const [s, st] of dims) {
    if (st <= reach) return true;
    reach += (s - 1) * st;
  }
  return false;
}

/** Decodes kept tensors, checking each view against its storage and the file's decode budget. */
class Materializer {
  private readonly data = new Map<Storage, Uint8Array>();
  private readonly views = new Map<string, HostData>();
  private storedElements = 0;
  private decodedElements = 0;

  constructor(
    private readonly reader: EntryReader,
    private readonly name: string,
    private readonly fail: Fail,
  ) {}

  tensor(key: string, t: TensorValue): HostTensor {
    const { storage, offset, shape, strides } = t;
    const what = `tensor ${clip(key)} of shape [${shape.join(',')}]`;
    let n = 1;
    for (const d of shape) n *= d;
    if (!Number.isSafeInteger(n)) throw this.fail(`${what} has too many elements`);
    const dtype = storage.dtype;
    if (n === 0) return { dtype, shape, data: decodeRaw(dtype, new Uint8Array(0), 0, 0) };
    // The furthest element the view touches must lie in its storage.
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * strides[d]!;
    if (!Number.isSafeInteger(last) || last >= storage.count) {
      throw this.fail(`${what} (offset ${offset}, strides [${strides.join(',')}]) reaches element ${last} of storage ${clip(storage.key)}, but storage ${clip(storage.key)} has ${storage.count} elements`);
    }
    // Stride 0 / overlapping strides repeat stored elements: fine for a small tensor, a bomb otherwise.
    if (repeatsElements(shape, strides) && n > WEIGHTS_LIMITS.repeatedViewElements) {
      throw new SdsError(
        'WEIGHTS_UNSUPPORTED',
        `${this.name}: ${what} with strides [${strides.join(',')}] repeats stored elements: it would make ${n} elements from ${Math.min(storage.count, last - offset + 1)} stored element${storage.count === 1 ? '' : 's'}; sds materializes such views up to ${WEIGHTS_LIMITS.repeatedViewElements} elements`,
        { suggestion: SAVE_CONTIGUOUS, context: { file: this.name, tensor: key } },
      );
    }
    const viewKey = `${storage.key}\u0000${offset}\u0000${shape.join(',')}\u0000${strides.join(',')}`;
    const cached = this.views.get(viewKey);
    if (cached) return { dtype, shape, data: cached }; // tied weights: one copy

    const bytes = this.storageBytes(storage);
    this.decodedElements += n;
    const allowed = 2 * this.storedElements + WEIGHTS_LIMITS.sharedViewSlackElements;
    if (this.decodedElements > allowed) {
      throw new SdsError(
        'WEIGHTS_TOO_LARGE',
        `${this.name}: tensors are views of the same stored elements over and over: with ${clip(key)}, ${this.decodedElements} elements would be decoded from ${this.storedElements} stored (limit: twice the stored elements + ${WEIGHTS_LIMITS.sharedViewSlackElements}), more elements than the file stores`,
        { suggestion: SAVE_CONTIGUOUS, context: { file: this.name, tensor: key } },
      );
    }
    let contiguous = true;
    let expected = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (shape[d]! !== 1 && strides[d] !== expected) contiguous = false;
      expected *= shape[d]!;
    }
    const data = contiguous ? decodeRaw(dtype, bytes, offset * DTYPE_BYTES[dtype], n) : gather(dtype, bytes, offset, shape, strides, n);
    this.views.set(viewKey, data);
    return { dtype, shape, data };
  }

  private storageBytes(s: Storage): Uint8Array {
    let b = this.data.get(s);
    if (!b) {
      b = this.reader.read(s.entry);
      if (b.length < s.count * DTYPE_BYTES[s.dtype]) throw this.fail(`storage ${clip(s.key)} has ${b.length} bytes, ${s.count} ${s.dtype} elements need ${s.count * DTYPE_BYTES[s.dtype]}`);
      this.data.set(s, b);
      this.storedElements += s.count;
    }
    return b;
  }
}

/** Row-major copy of a strided view (transposes, slices, small expanded dims), read element by element from the storage bytes. */
function gather(dtype: DType, bytes: Uint8Array, offset: number, shape: number[], strides: number[], n: number): HostData {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out: HostData;
  let read: (i: number) => number | bigint;
  switch (dtype) {
    case 'F32': out = new Float32Array(n); read = (i) => dv.getFloat32(4 * i, true); break;
    case 'F64': out = new Float32Array(n); read = (i) => dv.getFloat64(8 * i, true); break;
    case 'F16': out = new Float32Array(n); read = (i) => halfToFloat(dv.getUint16(2 * i, true)); break;
    case 'BF16': out = new Float32Array(n); read = (i) => bfloat16ToFloat(dv.getUint16(2 * i, true)); break;
    case 'I64': out = new BigInt64Array(n); read = (i) => dv.getBigInt64(8 * i, true); break;
    case 'I32': out = new Int32Array(n); read = (i) => dv.getInt32(4 * i, true); break;
    case 'I16': out = new Int16Array(n); read = (i) => dv.getInt16(2 * i, true); break;
    case 'I8': out = new Int8Array(n); read = (i) => dv.getInt8(i); break;
    default: out = new Uint8Array(n); read = (i) => bytes[i]!; break;
  }
  const to = out as unknown as { [i: number]: number | bigint };
  const at = new Array<number>(shape.length).fill(0);
  let p = offset;
  for (let i = 0; i < n; i++) {
    to[i] = read(p);
    for (let d = shape.length - 1; d >= 0; d--) {
      p += strides[d]!;
      if (++at[d]! < shape[d]!) break;
      p -= strides[d]! * shape[d]!;
      at[d] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Calling globals: the only "code" a torch state_dict pickle runs.

interface Vm {
  fail: Fail;
  /** Counts estimated JS bytes against the pickle budget. */
  charge(bytes: number): void;
  nested(what: string): SdsError;
}

function call(fn: PyValue, args: PyValue[], vm: Vm, depth = 0): PyValue {
  if (!(fn instanceof PyGlobal)) throw vm.fail('data.pkl calls something that is not a class or function');
  switch (fn.path) {
    case 'collections.OrderedDict':
    case 'builtins.dict': {
      const d = new Map<unknown, PyValue>();
      vm.charge(192);
      const init = args[0];
      if (Array.isArray(init)) {
        vm.charge(32 * init.length);
        for (const kv of init) if (kv instanceof PyTuple && kv.items.length === 2) d.set(kv.items[0], kv.items[1]!);
      }
      return d;
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      vm.charge(128 + 24 * (args[2] instanceof PyTuple ? args[2].items.length : 0));
      return rebuildTensor(args, vm.fail);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      // (tensor, requires_grad, backward_hooks[, state]): a Parameter is just its tensor here.
      if (!(args[0] instanceof TensorValue)) throw vm.fail('malformed parameter in data.pkl');
      return args[0];
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): tensor subclasses; keep the plain tensor func builds.
      const [inner, , innerArgs] = args;
      if (!(innerArgs instanceof PyTuple)) throw vm.fail('malformed tensor subclass in data.pkl');
      if (depth >= WEIGHTS_LIMITS.pickleDepth) throw vm.nested('tensor subclasses');
      return call(inner ?? null, innerArgs.items, vm, depth + 1);
    }
    default:
      vm.charge(48);
      return new PyObject(fn);
  }
}

/** BUILD: set an object's state. Dict attributes (OrderedDict._metadata) and tensor state are dropped. */
function build(target: PyValue, state: PyValue, fail: Fail): void {
  if (target instanceof PyObject) target.state = state;
  else if (!(target instanceof Map || target instanceof TensorValue)) throw fail('BUILD on a value that has no state');
}

// ---------------------------------------------------------------------------------------------
// The pickle VM (protocols 2-5, the opcodes torch.save emits plus a few neighbours).

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x47: 'BINFLOAT', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2', 0x4e: 'NONE', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x58: 'BINUNICODE', 0x5d: 'EMPTY_LIST', 0x61: 'APPEND', 0x62: 'BUILD',
  0x63: 'GLOBAL', 0x64: 'DICT', 0x65: 'APPENDS', 0x68: 'BINGET', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x75: 'SETITEMS', 0x7d: 'EMPTY_DICT', 0x29: 'EMPTY_TUPLE',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE',
  0x8a: 'LONG1', 0x8b: 'LONG4', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
};

// Names of common opcodes this VM does not implement, so the error can name them.
const UNSUPPORTED_NAMES: Record<number, string> = {
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x50: 'PERSID', 0x67: 'GET', 0x70: 'PUT',
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x92: 'NEWOBJ_EX', 0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

// Estimated V8 sizes (bytes) of what the VM builds, measured on Node 20.
const SLOT = 16; // a stack, list or tuple slot, with the array's growth
const MAX_NAME = 4096; // longest GLOBAL module or name line
const COST = { map: 192, set: 160, list: 32, firstItem: 144, tuple: 64, string: 24, bytes: 224, bigint: 32, float: 16, mark: 48, memo: 64, entry: 32, global: 64 };

function unpickle(buf: Uint8Array, persistentLoad: (pid: PyValue) => PyValue, file: string, fail: Fail): PyValue {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8');
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  let opAt = 0;
  let op = 0;
  let built = 0;

  const vm: Vm = {
    fail,
    charge(bytes: number) {
      built += bytes;
      if (built > WEIGHTS_LIMITS.pickleObjectBytes) {
        throw new SdsError(
          'WEIGHTS_TOO_LARGE',
          `${file}: data.pkl builds more than ${formatBytes(WEIGHTS_LIMITS.pickleObjectBytes)} of Python objects (at byte ${opAt} of ${buf.length}); a state_dict's pickle needs a small fraction of that`,
          { suggestion: SAVE_STATE_DICT, context: { file } },
        );
      }
    },
    nested: (what: string) => fail(`data.pkl is nested more than ${WEIGHTS_LIMITS.pickleDepth} deep (${what})`),
  };
  const opName = () => OPCODE_NAMES[op] ?? `opcode 0x${op.toString(16)}`;

  // Every read is bounds-checked before anything is allocated, so a cut, garbage or lying pickle
  // stops with an error that says which opcode and how many bytes, never a RangeError.
  const need = (n: number): number => {
    if (pos + n > buf.length) throw fail(`data.pkl ends inside an opcode: ${opName()} needs ${n} bytes at byte ${pos}, only ${buf.length - pos} remain`);
    const at = pos;
    pos += n;
    return at;
  };
  /** A length field's value checked against the input left, before it is used. */
  const length = (n: number | bigint): number => {
    if (n < 0) throw fail(`data.pkl: ${opName()} at byte ${opAt} has a negative length ${n}`);
    if (BigInt(n) > BigInt(buf.length - pos)) throw fail(`data.pkl: ${opName()} at byte ${opAt} declares ${n} bytes, only ${buf.length - pos} remain`);
    return Number(n);
  };
  const u8 = () => buf[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const i32 = () => view.getInt32(need(4), true);
  const u64 = () => view.getBigUint64(need(8), true);
  const bytesOf = (n: number | bigint) => {
    const len = length(n);
    return buf.subarray(need(len), pos);
  };
  const line = (): string => {
    // Module and class names are short; a GLOBAL without a newline soon is not one.
    let end = buf.subarray(pos, pos + MAX_NAME + 1).indexOf(0x0a);
    if (end < 0) throw fail(`data.pkl: ${opName()} at byte ${opAt} has no name of at most ${MAX_NAME} bytes ending in a newline`);
    end += pos;
    const s = latin1.decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PyValue, cost = 0) => {
    vm.charge(SLOT + cost);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (!stack.length) throw fail(`pickle stack underflow in data.pkl (${opName()} at byte ${opAt})`);
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (!stack.length) throw fail(`pickle stack underflow in data.pkl (${opName()} at byte ${opAt})`);
    return stack[stack.length - 1]!;
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw fail(`pickle MARK missing in data.pkl (${opName()} at byte ${opAt})`);
    stack = prev;
    return items;
  };
  const string = (decoder: { decode(b: Uint8Array): string }, b: Uint8Array) => {
    vm.charge(COST.string + 2 * b.length);
    return decoder.decode(b);
  };
  /** LONG1/LONG4 payload: little-endian two's complement, at most WEIGHTS_LIMITS.pickleIntBytes long. */
  const integer = (n: number): number | bigint => {
    const len = length(n);
    if (len > WEIGHTS_LIMITS.pickleIntBytes) {
      throw fail(`data.pkl holds an integer of ${len} bytes at byte ${opAt}; a state_dict's integers fit in 8 (sds reads up to ${WEIGHTS_LIMITS.pickleIntBytes})`);
    }
    const b = buf.subarray(need(len), pos);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b.length && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const global = (module: string, name: string): PyGlobal => {
    if (runsCode(module, name)) {
      throw new SdsError(
        'WEIGHTS_UNSUPPORTED',
        `${file}: data.pkl asks to call ${clip(`${module}.${name}`)} (at byte ${opAt}); a state_dict never does, and sds never runs code from a weights file: this file may be malicious`,
        {
          suggestion: 'do not open it with torch.load(weights_only=False) either; get the weights from a trusted source, ideally as .safetensors',
          context: { file, global: `${module}.${name}` },
        },
      );
    }
    vm.charge(COST.global + 2 * (module.length + name.length));
    return new PyGlobal(module, name);
  };
  const asDict = (v: PyValue): Map<unknown, PyValue> => {
    if (!(v instanceof Map)) throw fail('SETITEM on a value that is not a dict');
    return v;
  };
  const asList = (v: PyValue): PyValue[] => {
    if (!Array.isArray(v)) throw fail('APPEND on a value that is not a list');
    return v;
  };
  const setItems = (d: Map<unknown, PyValue>, kv: PyValue[]) => {
    if (kv.length % 2) throw fail('odd number of items for a dict');
    vm.charge((COST.entry * kv.length) / 2);
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]!);
  };
  const memoize = (i: number) => {
    if (!memo.has(i)) vm.charge(COST.memo);
    memo.set(i, top());
  };

  // Each opcode consumes at least one byte and does work in proportion to what it consumes or
  // builds (charged above), so time and memory are both bounded by the pickle's length.
  for (;;) {
    if (pos >= buf.length) throw fail('data.pkl ends without a STOP opcode');
    opAt = pos;
    op = buf[pos++]!;
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: length(u64()); break; // FRAME: framing is only a buffering hint, but its length must fit
      case 0x63: { // GLOBAL
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const n = pop();
        const m = pop();
        if (typeof m !== 'string' || typeof n !== 'string') throw fail('STACK_GLOBAL without a module and name');
        push(global(m, n));
        break;
      }
      case 0x28: // MARK
        if (marks.length >= WEIGHTS_LIMITS.pickleDepth) throw vm.nested('MARK');
        vm.charge(COST.mark);
        marks.push(stack);
        stack = [];
        break;
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x71: memoize(u8()); break; // BINPUT
      case 0x72: memoize(u32()); break; // LONG_BINPUT
      case 0x94: memoize(memo.size); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) throw fail(`data.pkl reads memo slot ${i}, which was never written`);
        push(memo.get(i)!);
        break;
      }
      case 0x7d: push(new Map(), COST.map); break; // EMPTY_DICT
      case 0x5d: push([], COST.list); break; // EMPTY_LIST
      case 0x29: push(new PyTuple([]), COST.tuple); break; // EMPTY_TUPLE
      case 0x8f: push(new Set(), COST.set); break; // EMPTY_SET
      // MARK-consuming opcodes pop the mark before touching `stack`: popMark() replaces it.
      case 0x74: { // TUPLE
        const items = popMark();
        push(new PyTuple(items), COST.tuple);
        break;
      }
      case 0x85: case 0x86: case 0x87: { // TUPLE1..3
        const n = op - 0x84;
        if (stack.length < n) throw fail(`pickle stack underflow in data.pkl (${opName()} at byte ${opAt})`);
        const items = stack.splice(stack.length - n, n);
        push(new PyTuple(items), COST.tuple + SLOT * n);
        break;
      }
      case 0x64: { // DICT
        const d = new Map<unknown, PyValue>();
        setItems(d, popMark());
        push(d, COST.map);
        break;
      }
      case 0x6c: case 0x91: { // LIST, FROZENSET
        const items = popMark();
        push(op === 0x6c ? items : new Set(items), op === 0x6c ? COST.list : COST.set + COST.entry * items.length);
        break;
      }
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(integer(u8()), COST.bigint); break; // LONG1
      case 0x8b: push(integer(i32()), COST.bigint); break; // LONG4
      case 0x47: push(view.getFloat64(need(8), false), COST.float); break; // BINFLOAT is big-endian
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4e: push(null); break; // NONE
      case 0x58: push(string(utf8, bytesOf(u32()))); break; // BINUNICODE
      case 0x8c: push(string(utf8, bytesOf(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(string(utf8, bytesOf(u64()))); break; // BINUNICODE8
      case 0x55: push(string(latin1, bytesOf(u8()))); break; // SHORT_BINSTRING
      case 0x54: push(string(latin1, bytesOf(i32()))); break; // BINSTRING
      case 0x43: case 0x42: case 0x8e: { // SHORT_BINBYTES, BINBYTES, BINBYTES8
        const b = bytesOf(op === 0x43 ? u8() : op === 0x42 ? u32() : u64());
        vm.charge(COST.bytes + b.length);
        push(b.slice());
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) throw fail('REDUCE without an argument tuple');
        push(call(fn, args.items, vm));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args); only dicts and opaque objects come out of it here
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || !(args instanceof PyTuple)) throw fail('NEWOBJ without a class and argument tuple');
        const isDict = cls.path === 'collections.OrderedDict' || cls.path === 'builtins.dict';
        push(isDict ? new Map() : new PyObject(cls), isDict ? COST.map : 48);
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state, fail);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        vm.charge(COST.entry);
        asDict(top()).set(k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const kv = popMark();
        setItems(asDict(top()), kv);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const list = asList(top());
        vm.charge(list.length ? SLOT : COST.firstItem); // a list's first item allocates its backing store
        list.push(v);
        break;
      }
      case 0x65: { // APPENDS (a loop: spreading a million items would overflow the call stack)
        const items = popMark();
        const list = asList(top());
        vm.charge(SLOT * items.length + (list.length ? 0 : COST.firstItem));
        for (const x of items) list.push(x);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw fail('ADDITEMS on a value that is not a set');
        vm.charge(COST.entry * items.length);
        for (const x of items) s.add(x);
        break;
      }
      case 0x51: push(persistentLoad(pop()), 64); break; // BINPERSID
      default: {
        const known = UNSUPPORTED_NAMES[op] ?? OPCODE_NAMES[op];
        const label = known ? `opcode ${known}` : `unknown opcode 0x${op.toString(16).padStart(2, '0')}`;
        throw fail(`data.pkl uses ${label} at byte ${opAt}, which this reader does not support`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// From the unpickled object to a state_dict

function tensorsOf(d: Map<unknown, PyValue>): number {
  let n = 0;
  for (const v of d.values()) if (v instanceof TensorValue) n++;
  return n;
}

function toStateDict(root: PyValue, name: string, isTorchScript: boolean, decode: Pick<TorchArchive, 'tensor'>): StateDict {
  const pickled = (what: string) =>
    new SdsError('WEIGHTS_UNSUPPORTED', `${name} holds a pickled object (${what}), not a state_dict`, {
      suggestion: isTorchScript ? `it is a TorchScript archive; ${SAVE_STATE_DICT}` : SAVE_STATE_DICT,
      context: { file: name },
    });
  if (root instanceof PyObject) throw pickled(clip(root.global.path));
  if (!(root instanceof Map)) {
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a state_dict: its pickle holds a ${describe(root)}, not a dict of tensors`, {
      suggestion: SAVE_STATE_DICT,
      context: { file: name },
    });
  }
  let dict = root;
  // Training checkpoints wrap the weights: {'model': state_dict, 'optimizer': ..., 'epoch': ...}.
  if (root.size > 0 && tensorsOf(root) === 0) {
    for (const key of ['state_dict', 'model_state_dict', 'model']) {
      const inner = root.get(key);
      if (inner instanceof Map && tensorsOf(inner) > 0) {
        dict = inner;
        break;
      }
      if (inner instanceof PyObject) throw pickled(`${clip(inner.global.path)} under '${key}'`);
    }
    if (dict === root) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name} holds a dict without tensors (keys: ${[...root.keys()].slice(0, 8).map((k) => clip(String(k), 40)).join(', ')})`, {
        suggestion: SAVE_STATE_DICT,
        context: { file: name },
      });
    }
  }
  const out: StateDict = new Map();
  for (const [k, v] of dict) {
    const key = String(k);
    if (v instanceof TensorValue) out.set(key, decode.tensor(key, v));
    // A torch.* object where a tensor should be (quantized, sparse, ...) must not vanish silently.
    else if (v instanceof PyObject && v.global.module.startsWith('torch')) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: ${clip(key)} is stored as ${clip(v.global.path)}, which sds cannot read`, {
        suggestion: 'save plain dense tensors (float32, float16 or bfloat16)',
        context: { file: name },
      });
    }
  }
  return out;
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof TensorValue) return 'single tensor';
  if (v instanceof PyGlobal) return `reference to ${clip(v.path)}`;
  if (v instanceof Set) return 'set';
  return typeof v === 'object' ? v.constructor.name : typeof v;
}
