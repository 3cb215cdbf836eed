/**
 * Reads an ONNX file (`ModelProto`) into the plain `OnnxGraph` of graph.ts, with onnx-proto's
 * generated protobufjs code. A file that is not ONNX, is cut short, keeps its weights outside
 * (external data) or stores a type sds cannot compute in is refused with an SdsError naming the
 * file and the problem, in the style of models/weights.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';
import { SdsError } from '../../core/errors.js';
import { decodeRaw } from '../weights/decode.js';
import { clip, formatBytes, ONNX_LIMITS, WEIGHTS_LIMITS, type OnnxLimits } from '../weights/limits.js';
import type { DType } from '../weights/types.js';
import { numelOf, type AttrValue, type ConstTensor, type OnnxGraph, type OnnxNode, type OnnxValueInfo } from './graph.js';
import { checkWireLimits } from './proto-limits.js';

const { onnx } = onnxProto;
type LongLike = number | { toNumber(): number };
const num = (v: LongLike | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

/** ONNX TensorProto.DataType -> the element type decodeRaw reads (STRING, complex, uint32/64 are not read). */
const DATA_TYPES: Record<number, DType> = { 1: 'F32', 2: 'U8', 3: 'I8', 5: 'I16', 6: 'I32', 7: 'I64', 9: 'BOOL', 10: 'F16', 11: 'F64', 16: 'BF16' };
const FLOAT_TYPES = new Set([1, 10, 11, 16]);

/** ModelProto's fields by number, with their wire type (0 varint, 2 length-delimited). */
const MODEL_FIELDS: ReadonlyMap<number, number> = new Map([
  [1, 0], [2, 2], [3, 2], [4, 2], [5, 0], [6, 2], [7, 2], [8, 2], [14, 2], [20, 2], [25, 2],
]);

const SUGGEST_EXPORT = 'export the model with torch.onnx.export(model, x, "model.onnx", opset_version=13) and pass that file';

export function notOnnx(file: string, why: string): SdsError {
  return new SdsError('NOT_A_WEIGHTS_FILE', `${file} is not an ONNX model (${why})`, { suggestion: SUGGEST_EXPORT, context: { file } });
}

function truncated(file: string, why: string): SdsError {
  return new SdsError('WEIGHTS_TRUNCATED', `${file} is truncated: ${why}`, {
    suggestion: 'the download or copy was cut short; fetch or export the file again',
    context: { file },
  });
}

export function unsupported(file: string, what: string, suggestion = 're-export with opset 13 and the weights inside the file'): SdsError {
  return new SdsError('WEIGHTS_UNSUPPORTED', `${file}: ${what}`, { suggestion, context: { file } });
}

/** Reads a varint at `p`; undefined past the end (or past 10 bytes). */
function varint(b: Uint8Array, p: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (p + i >= b.length) return undefined;
    const byte = b[p + i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: p + i + 1 };
  }
  return undefined;
}

/**
 * Walks the top-level fields without decoding them: every field must be one of ModelProto's with its
 * wire type (else the file is something else), and the last one must end within the file (else it
 * was cut short). protobufjs alone reports both as "index out of range".
 */
function checkTopLevel(b: Uint8Array, file: string): void {
  if (b.length === 0) throw notOnnx(file, 'the file is empty');
  let p = 0;
  let sawGraph = false;
  while (p < b.length) {
    const tag = varint(b, p);
    if (!tag) throw truncated(file, `a field tag at byte ${p} runs past the end (${b.length} bytes)`);
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (MODEL_FIELDS.get(field) !== wire) {
      throw notOnnx(file, p === 0 ? 'its first bytes are not a ModelProto field' : `byte ${p} holds field ${field} (wire type ${wire}), which a ModelProto does not have`);
    }
    if (wire === 0) {
      const v = varint(b, tag.next);
      if (!v) throw truncated(file, `field ${field} at byte ${p} runs past the end (${b.length} bytes)`);
      p = v.next;
    } else {
      const len = varint(b, tag.next);
      if (!len) throw truncated(file, `field ${field} at byte ${p} runs past the end (${b.length} bytes)`);
      const end = len.next + len.value;
      if (end > b.length) {
        throw truncated(file, `${field === 7 ? 'its graph' : `field ${field}`} needs ${end} bytes, the file has ${b.length}`);
      }
      if (field === 7) sawGraph = true;
      p = end;
    }
  }
  if (!sawGraph) throw notOnnx(file, 'it holds no graph');
}

/** Values decoded so far (float32 or JS numbers), against `limits.initializerBytes`. */
export interface DecodeBudget {
  bytes: number;
  limits: OnnxLimits;
}

function tooLarge(file: string, what: string, limit: keyof typeof ONNX_LIMITS, shown: string): SdsError {
  return new SdsError('WEIGHTS_TOO_LARGE', `${file}: ${what}, past sds's limit of ${shown} (ONNX_LIMITS.${limit})`, {
    suggestion: 'no CNN sds runs comes near this; the file is damaged or not a model to explain',
    context: { file },
  });
}

/** Dims a tensor may declare: a rank, non-negative integer sizes and an element count within the limits. */
function checkDims(dims: number[], file: string, what: string, limits: OnnxLimits): number {
  if (dims.length > limits.rank) throw unsupported(file, `${what} has rank ${dims.length}, past sds's limit of ${limits.rank} (ONNX_LIMITS.rank)`, 'sds runs CNNs, whose tensors have rank 4 or less');
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw notOnnx(file, `${what} has dims [${dims.join(', ')}]`);
  const count = numelOf(dims);
  if (count > limits.tensorElements) throw tooLarge(file, `${what} has ${count} elements ([${dims.join(', ')}])`, 'tensorElements', `${limits.tensorElements} elements`);
  return count;
}

/** A TensorProto's values: raw_data (little-endian) or the typed repeated fields. */
export function constTensor(t: InstanceType<typeof onnx.TensorProto> | ReturnType<typeof onnx.TensorProto.decode>, file: string, what: string, budget?: DecodeBudget): ConstTensor {
  const dims = (t.dims ?? []).map(num);
  const limits = budget?.limits ?? ONNX_LIMITS;
  const count = checkDims(dims, file, what, limits);
  if (budget) {
    // the values become float32 or JS numbers: at least 4 bytes each, counted before they are decoded
    budget.bytes += count * 4;
    if (budget.bytes > limits.initializerBytes) throw tooLarge(file, `its initializers and tensor attributes decode to more than ${formatBytes(limits.initializerBytes)} (at ${what})`, 'initializerBytes', formatBytes(limits.initializerBytes));
  }
  const dataType = t.dataType ?? 0;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw unsupported(file, `${what} keeps its values in an external file`, 'export with the weights inside the file (torch.onnx.export without external data; the model must be under 2 GB)');
  }
  const dtype = DATA_TYPES[dataType];
  if (!dtype) throw unsupported(file, `${what} has ONNX data type ${dataType}, which sds cannot read`, 'export the model in float32');
  const isFloat = FLOAT_TYPES.has(dataType);
  const raw = t.rawData;
  let values: Float32Array | number[];
  if (raw && raw.length > 0) {
    const need = count * ({ F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const)[dtype];
    if (raw.length !== need) throw notOnnx(file, `${what}: dims [${dims.join(', ')}] need ${need} bytes of raw data, it has ${raw.length}`);
    const d = decodeRaw(dtype, raw, 0, count);
    values = d instanceof Float32Array ? d : Array.from(d as ArrayLike<number | bigint>, (x) => Number(x));
  } else if (isFloat) {
    const src = dataType === 11 ? t.doubleData : dataType === 1 ? t.floatData : t.int32Data; // F16/BF16 bits live in int32_data
    if (dataType === 10 || dataType === 16) {
      const bits = new Uint16Array((src ?? []).map((x) => x & 0xffff));
      values = decodeRaw(dtype, new Uint8Array(bits.buffer), 0, bits.length) as Float32Array;
    } else values = Float32Array.from(src ?? []);
  } else {
    const src: LongLike[] = dataType === 7 ? (t.int64Data ?? []) : (t.int32Data ?? []);
    values = src.map(num);
  }
  if (values.length !== count) throw notOnnx(file, `${what}: dims [${dims.join(', ')}] need ${count} values, it has ${values.length}`);
  return isFloat ? { kind: 'float', dims, data: values instanceof Float32Array ? values : Float32Array.from(values) } : { kind: 'int', dims, data: Array.from(values) };
}

type AttributeProto = ReturnType<typeof onnx.AttributeProto.decode>;
const AT = onnx.AttributeProto.AttributeType;

function attrValue(a: AttributeProto, file: string, where: string, budget: DecodeBudget): AttrValue | undefined {
  const text = (s: Uint8Array | null | undefined) => new TextDecoder().decode(s ?? new Uint8Array());
  switch (a.type) {
    case AT.FLOAT: return a.f ?? 0;
    case AT.INT: return num(a.i);
    case AT.STRING: return text(a.s);
    case AT.TENSOR: return a.t ? constTensor(a.t as ReturnType<typeof onnx.TensorProto.decode>, file, `attribute ${clip(a.name ?? '')} of ${where}`, budget) : undefined;
    case AT.FLOATS: return [...(a.floats ?? [])];
    case AT.INTS: return (a.ints ?? []).map(num);
    case AT.STRINGS: return (a.strings ?? []).map(text);
    default: return undefined; // graphs, sparse tensors, type protos: no op sds runs takes them
  }
}

function valueInfo(v: ReturnType<typeof onnx.ValueInfoProto.decode>): OnnxValueInfo {
  const dims = v.type?.tensorType?.shape?.dim ?? [];
  return {
    name: v.name ?? '',
    dims: dims.map((d) => (d.dimParam ? d.dimParam : num(d.dimValue) > 0 ? num(d.dimValue) : undefined)),
  };
}

/** Decodes ONNX bytes; `file` names the file in messages; `limits` are ONNX_LIMITS (lower ones in tests). */
export function parseOnnx(bytes: Uint8Array, file = 'buffer', limits: OnnxLimits = ONNX_LIMITS): OnnxGraph {
  checkTopLevel(bytes, file);
  checkWireLimits(bytes, file, limits);
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${file} is not a readable ONNX model (${clip((cause as Error).message ?? String(cause), 200)})`, {
      suggestion: 'it is damaged or not ONNX: fetch or export it again',
      context: { file },
      cause,
    });
  }
  const g = model.graph;
  if (!g || !g.node?.length) throw notOnnx(file, 'its graph has no nodes');
  const opset = (model.opsetImport ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx').map((o) => num(o.version))[0];
  if (opset === undefined) throw notOnnx(file, 'it imports no ONNX operator set');
  const initializers = new Map<string, ConstTensor>();
  const budget: DecodeBudget = { bytes: 0, limits };
  for (const t of g.initializer ?? []) {
    const name = t.name ?? '';
    initializers.set(name, constTensor(t as ReturnType<typeof onnx.TensorProto.decode>, file, `initializer ${clip(name)}`, budget));
  }
  const nodes: OnnxNode[] = g.node.map((n, index) => {
    const name = n.name || `#${index}`;
    const attrs = new Map<string, AttrValue>();
    for (const a of n.attribute ?? []) {
      const v = attrValue(a as AttributeProto, file, `node ${clip(name)}`, budget);
      if (v !== undefined) attrs.set(a.name ?? '', v);
    }
    return { index, name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs };
  });
  const inputs = (g.input ?? []).map((v) => valueInfo(v as ReturnType<typeof onnx.ValueInfoProto.decode>)).filter((v) => !initializers.has(v.name));
  const outputs = (g.output ?? []).map((v) => valueInfo(v as ReturnType<typeof onnx.ValueInfoProto.decode>));
  if (inputs.length === 0 || outputs.length === 0) throw notOnnx(file, 'its graph declares no input or no output');
  return { file, opset, nodes, initializers, inputs, outputs };
}

/** Reads and parses an .onnx file. */
export async function readOnnx(path: string): Promise<OnnxGraph> {
  const file = basename(path);
  let bytes: Uint8Array;
  try {
    const size = (await stat(path)).size;
    if (size > WEIGHTS_LIMITS.fileBytes) {
      throw new SdsError('WEIGHTS_TOO_LARGE', `${file} is ${formatBytes(size)}, past sds's limit of ${formatBytes(WEIGHTS_LIMITS.fileBytes)}`, { context: { file } });
    }
    bytes = await readFile(path);
  } catch (cause) {
    if (cause instanceof SdsError) throw cause;
    throw new SdsError('FILE_NOT_FOUND', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseOnnx(bytes, file);
}
