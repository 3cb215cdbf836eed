/**
 * Reader for torch.save()d state_dicts (the zip format of PyTorch >= 1.6): `<top>/data.pkl` is a
 * pickle whose tensors point (via persistent ids) at raw little-endian storages `<top>/data/<key>`.
 * The pickle VM below never executes anything: known torch globals are interpreted, any other
 * global becomes an opaque object, and a file whose result is such an object is refused.
 */
import { SdsError } from '../../core/errors.js';
import { DTYPE_BYTES, decodeRaw } from './decode.js';
import { numel, type DType, type HostData, type HostTensor, type StateDict } from './types.js';
import { readZipEntries, zipEntryData, type ZipEntry } from './zip.js';

// ---------------------------------------------------------------------------------------------
// Python values as the VM builds them. Lists are JS arrays, dicts Maps, sets Sets.

class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** A `module.name` reference (a class or function); only meaningful when called. */
class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}
/** Result of calling / instantiating a global sds does not know: kept, never run. */
class PyObject {
  state: PyValue = null;
  constructor(readonly global: PyGlobal) {}
}
class Storage {
  constructor(readonly dtype: DType, readonly bytes: Uint8Array, readonly count: number, readonly key: string) {}
}
class TensorValue {
  constructor(readonly tensor: HostTensor) {}
}
type PyValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyValue[] | PyTuple | Map<unknown, PyValue> | Set<unknown>
  | PyGlobal | PyObject | Storage | TensorValue;

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8',
  ByteStorage: 'U8', BoolStorage: 'BOOL', UntypedStorage: 'U8',
};

const SAVE_STATE_DICT = 'in Python, save only the weights: torch.save(model.state_dict(), path), or convert them to .safetensors';

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

export function parseTorchZip(bytes: Uint8Array, name: string): StateDict {
  const notWeights = (why: string) =>
    new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a torch.save()d state_dict (${why})`, {
      suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth)',
      context: { file: name },
    });
  if (isLegacyTorch(bytes)) {
    throw new SdsError('WEIGHTS_UNSUPPORTED', `${name} uses the legacy (PyTorch < 1.6) torch.save format, which sds cannot read`, {
      suggestion: 're-save it with a current PyTorch: torch.save(torch.load(path), new_path), or convert it to .safetensors',
      context: { file: name },
    });
  }
  if (!looksLikeZip(bytes)) throw notWeights('not a zip archive');
  try {
    return readArchive(bytes, name, notWeights);
  } catch (err) {
    if (err instanceof SdsError) throw err;
    // Corrupt input may still trip an engine check (a DataView range, an allocation): report it as such.
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${name} is corrupt: ${(err as Error).message}`, { context: { file: name }, cause: err });
  }
}

function readArchive(bytes: Uint8Array, name: string, notWeights: (why: string) => SdsError): StateDict {
  const entries = readZipEntries(bytes, name);
  // The top folder is named after the file at save time; take the shallowest data.pkl.
  let pkl: ZipEntry | undefined;
  for (const e of entries.values()) {
    if ((e.name === 'data.pkl' || e.name.endsWith('/data.pkl')) && (!pkl || e.name.length < pkl.name.length)) pkl = e;
  }
  if (!pkl) throw notWeights('the zip has no data.pkl');
  const top = pkl.name.slice(0, -'data.pkl'.length);

  const order = entries.get(`${top}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(zipEntryData(bytes, order, name)).trim();
    if (text !== 'little') {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name} was saved on a ${text}-endian machine; only little-endian files are supported`, {
        suggestion: 'load and re-save it on an x86/ARM machine, or convert it to .safetensors',
        context: { file: name },
      });
    }
  }

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const t = pid instanceof PyTuple ? pid.items : [];
    const [kind, type, key, , count] = t;
    if (kind !== 'storage' || !(type instanceof PyGlobal) || typeof key !== 'string' || typeof count !== 'number') {
      throw notWeights('unexpected persistent id in data.pkl');
    }
    const dtype = type.module === 'torch' ? STORAGE_DTYPES[type.name] : undefined;
    if (!dtype) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: storage ${key} has type ${type.path}, which sds cannot read`, {
        suggestion: 'save the weights as float32, float16 or bfloat16',
        context: { file: name },
      });
    }
    let s = storages.get(key);
    if (!s) {
      const entry = entries.get(`${top}data/${key}`);
      if (!entry) throw notWeights(`storage ${top}data/${key} is missing from the zip`);
      const data = zipEntryData(bytes, entry, name);
      if (data.length < count * DTYPE_BYTES[dtype]) {
        throw notWeights(`storage ${key} has ${data.length} bytes, ${count} ${dtype} elements need ${count * DTYPE_BYTES[dtype]}`);
      }
      s = new Storage(dtype, data, count, key);
      storages.set(key, s);
    }
    return s;
  };

  const result = unpickle(zipEntryData(bytes, pkl, name), persistentLoad, notWeights);
  const isTorchScript = [...entries.keys()].some((k) => k.startsWith(`${top}code/`));
  return toStateDict(result, name, isTorchScript);
}

// ---------------------------------------------------------------------------------------------
// Tensors

function rebuildTensor(args: PyValue[], fail: (why: string) => SdsError): TensorValue {
  const [storage, offset, size, stride] = args;
  const ints = (v: PyValue | undefined): number[] | undefined =>
    v instanceof PyTuple && v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) ? (v.items as number[]) : undefined;
  const shape = ints(size);
  const strides = ints(stride);
  if (!(storage instanceof Storage) || typeof offset !== 'number' || !shape || !strides || shape.length !== strides.length) {
    throw fail('malformed tensor in data.pkl');
  }
  const n = numel(shape);
  if (!Number.isSafeInteger(n)) throw fail('tensor size overflows');
  if (n === 0) return new TensorValue({ dtype: storage.dtype, shape, data: decodeRaw(storage.dtype, storage.bytes, 0, 0) });
  // Elements [offset, offset + span) of the storage are the ones this view can touch.
  const span = shape.reduce((acc, d, i) => acc + (d - 1) * strides[i]!, 0) + 1;
  if (offset < 0 || offset + span > storage.count) {
    throw fail(`a tensor of shape [${shape.join(',')}] reaches past the end of storage ${storage.key}`);
  }
  const bytesOffset = offset * DTYPE_BYTES[storage.dtype];
  let expected = 1;
  let contiguous = true;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d]! !== 1 && strides[d] !== expected) contiguous = false;
    expected *= shape[d]!;
  }
  const data = contiguous
    ? decodeRaw(storage.dtype, storage.bytes, bytesOffset, n)
    : gather(decodeRaw(storage.dtype, storage.bytes, bytesOffset, span), shape, strides);
  return new TensorValue({ dtype: storage.dtype, shape, data });
}

/** Row-major copy of a strided view (transposes, slices, expanded dims). */
function gather(src: HostData, shape: number[], strides: number[]): HostData {
  const n = numel(shape);
  const out = new (src.constructor as new (length: number) => HostData)(n);
  const from = src as unknown as ArrayLike<number | bigint>;
  const to = out as unknown as { [i: number]: number | bigint };
  const idx = new Array<number>(shape.length).fill(0);
  let p = 0;
  for (let i = 0; i < n; i++) {
    to[i] = from[p]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      p += strides[d]!;
      if (++idx[d]! < shape[d]!) break;
      p -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Calling globals: the only "code" a torch state_dict pickle runs.

function call(fn: PyValue, args: PyValue[], fail: (why: string) => SdsError): PyValue {
  if (!(fn instanceof PyGlobal)) throw fail('data.pkl calls something that is not a class or function');
  switch (fn.path) {
    case 'collections.OrderedDict':
    case 'builtins.dict': {
      const d = new Map<unknown, PyValue>();
      const init = args[0];
      if (Array.isArray(init)) for (const kv of init) if (kv instanceof PyTuple && kv.items.length === 2) d.set(kv.items[0], kv.items[1]!);
      return d;
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      return rebuildTensor(args, fail);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      // (tensor, requires_grad, backward_hooks[, state]): a Parameter is just its tensor here.
      if (!(args[0] instanceof TensorValue)) throw fail('malformed parameter in data.pkl');
      return args[0];
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): tensor subclasses; keep the plain tensor func builds.
      const [inner, , innerArgs] = args;
      if (!(innerArgs instanceof PyTuple)) throw fail('malformed tensor subclass in data.pkl');
      return call(inner ?? null, innerArgs.items, fail);
    }
    default:
      return new PyObject(fn);
  }
}

/** BUILD: set an object's state. Dict attributes (OrderedDict._metadata) and tensor state are dropped. */
function build(target: PyValue, state: PyValue, fail: (why: string) => SdsError): void {
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

function unpickle(buf: Uint8Array, persistentLoad: (pid: PyValue) => PyValue, fail: (why: string) => SdsError): PyValue {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8');
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  // Every read is bounds-checked, so a cut or garbage pickle stops with an error, never a RangeError.
  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > buf.length) throw fail('data.pkl ends in the middle of an opcode');
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => buf[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => {
    const v = view.getBigUint64(need(8), true);
    return v > BigInt(buf.length) ? buf.length + 1 : Number(v);
  };
  const bytesOf = (n: number) => buf.subarray(need(n), pos);
  const line = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw fail('data.pkl ends in the middle of a GLOBAL');
    const s = latin1.decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (!stack.length) throw fail('pickle stack underflow in data.pkl');
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (!stack.length) throw fail('pickle stack underflow in data.pkl');
    return stack[stack.length - 1]!;
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw fail('pickle MARK missing in data.pkl');
    stack = prev;
    return items;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b.length && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
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
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]!);
  };

  // Each opcode consumes at least one byte, so the loop ends after at most buf.length steps.
  for (;;) {
    if (pos >= buf.length) throw fail('data.pkl ends without a STOP opcode');
    const op = buf[pos++]!;
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: framing is only a buffering hint
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(new PyGlobal(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const n = pop();
        const m = pop();
        if (typeof m !== 'string' || typeof n !== 'string') throw fail('STACK_GLOBAL without a module and name');
        stack.push(new PyGlobal(m, n));
        break;
      }
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) throw fail(`data.pkl reads memo slot ${i}, which was never written`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      // MARK-consuming opcodes pop the mark before touching `stack`: popMark() replaces it.
      case 0x74: { // TUPLE
        const items = popMark();
        stack.push(new PyTuple(items));
        break;
      }
      case 0x85: case 0x86: case 0x87: { // TUPLE1..3
        const n = op - 0x84;
        if (stack.length < n) throw fail('pickle stack underflow in data.pkl');
        stack.push(new PyTuple(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x64: { // DICT
        const d = new Map<unknown, PyValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x6c: case 0x91: { // LIST, FROZENSET
        const items = popMark();
        stack.push(op === 0x6c ? items : new Set(items));
        break;
      }
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(signedLE(bytesOf(u8()))); break; // LONG1
      case 0x8b: stack.push(signedLE(bytesOf(view.getInt32(need(4), true)))); break; // LONG4
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT is big-endian
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4e: stack.push(null); break; // NONE
      case 0x58: stack.push(utf8.decode(bytesOf(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(bytesOf(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(bytesOf(u64()))); break; // BINUNICODE8
      case 0x55: stack.push(latin1.decode(bytesOf(u8()))); break; // SHORT_BINSTRING
      case 0x54: stack.push(latin1.decode(bytesOf(view.getInt32(need(4), true)))); break; // BINSTRING
      case 0x43: stack.push(bytesOf(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: stack.push(bytesOf(u32()).slice()); break; // BINBYTES
      case 0x8e: stack.push(bytesOf(u64()).slice()); break; // BINBYTES8
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) throw fail('REDUCE without an argument tuple');
        stack.push(call(fn, args.items, fail));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args); only dicts and opaque objects come out of it here
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || !(args instanceof PyTuple)) throw fail('NEWOBJ without a class and argument tuple');
        stack.push(cls.path === 'collections.OrderedDict' || cls.path === 'builtins.dict' ? new Map() : new PyObject(cls));
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
        asList(top()).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        asList(top()).push(...items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw fail('ADDITEMS on a value that is not a set');
        for (const x of items) s.add(x);
        break;
      }
      case 0x51: stack.push(persistentLoad(pop())); break; // BINPERSID
      default: {
        const known = UNSUPPORTED_NAMES[op] ?? OPCODE_NAMES[op];
        const label = known ? `opcode ${known}` : `unknown opcode 0x${op.toString(16).padStart(2, '0')}`;
        throw fail(`data.pkl uses ${label} at byte ${pos - 1}, which this reader does not support`);
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

function toStateDict(root: PyValue, name: string, isTorchScript: boolean): StateDict {
  const pickled = (what: string) =>
    new SdsError('WEIGHTS_UNSUPPORTED', `${name} holds a pickled object (${what}), not a state_dict`, {
      suggestion: isTorchScript ? `it is a TorchScript archive; ${SAVE_STATE_DICT}` : SAVE_STATE_DICT,
      context: { file: name },
    });
  if (root instanceof PyObject) throw pickled(root.global.path);
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
      if (inner instanceof PyObject) throw pickled(`${inner.global.path} under '${key}'`);
    }
    if (dict === root) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name} holds a dict without tensors (keys: ${[...root.keys()].slice(0, 8).map(String).join(', ')})`, {
        suggestion: SAVE_STATE_DICT,
        context: { file: name },
      });
    }
  }
  const out: StateDict = new Map();
  for (const [k, v] of dict) {
    if (v instanceof TensorValue) out.set(String(k), v.tensor);
    // A torch.* object where a tensor should be (quantized, sparse, ...) must not vanish silently.
    else if (v instanceof PyObject && v.global.module.startsWith('torch')) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: ${String(k)} is stored as ${v.global.path}, which sds cannot read`, {
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
  if (v instanceof PyGlobal) return `reference to ${v.path}`;
  if (v instanceof Set) return 'set';
  return typeof v === 'object' ? v.constructor.name : typeof v;
}
