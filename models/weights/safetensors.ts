import { readFile, writeFile, rename } from 'node:fs/promises';
import { basename } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { DTYPE_BYTES, decodeRaw } from './decode.js';
import { floatToHalf } from './float16.js';
import { numel, type DType, type HostTensor, type StateDict } from './types.js';

const KNOWN: ReadonlySet<string> = new Set(Object.keys(DTYPE_BYTES));
const MAX_HEADER = 100 * 1024 * 1024; // the format's own limit

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** True if the first bytes look like a safetensors header ('{' right after the u64 length). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return n > 1 && n <= MAX_HEADER && bytes[8] === 0x7b;
}

export function parseSafetensors(bytes: Uint8Array, name = 'buffer'): SafetensorsFile {
  const notWeights = (why: string) =>
    new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a safetensors file (${why})`, {
      suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth)',
    });
  if (bytes.length < 8) throw notWeights(`only ${bytes.length} bytes`);
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen < 2 || headerLen > MAX_HEADER || bytes[8] !== 0x7b) throw notWeights('no JSON header');
  if (8 + headerLen > bytes.length) {
    throw new SdsError('WEIGHTS_TRUNCATED', `${name} is truncated: its header needs ${8 + headerLen} bytes, the file has ${bytes.length}`, {
      suggestion: 'the download or copy was cut short; fetch the file again',
    });
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch (cause) {
    throw notWeights('header is not valid JSON');
  }
  const dataStart = 8 + headerLen;
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw notWeights(`entry ${key} has no dtype/shape/data_offsets`);
    }
    if (!KNOWN.has(e.dtype)) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: tensor ${key} has element type ${e.dtype}, which sds cannot read`, {
        suggestion: 'save the weights as F32, F16 or BF16',
      });
    }
    const dtype = e.dtype as DType;
    const shape = e.shape as number[];
    const [begin, end] = e.data_offsets as [number, number];
    const count = numel(shape);
    if (end - begin !== count * DTYPE_BYTES[dtype]) throw notWeights(`entry ${key}: size does not match its shape`);
    if (dataStart + end > bytes.length) {
      throw new SdsError('WEIGHTS_TRUNCATED', `${name} is truncated: tensor ${key} ends at byte ${dataStart + end}, the file has ${bytes.length}`, {
        suggestion: 'the download or copy was cut short; fetch the file again',
      });
    }
    tensors.set(key, { dtype, shape, data: decodeRaw(dtype, bytes, dataStart + begin, count) });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new SdsError('FILE_NOT_FOUND', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseSafetensors(bytes, basename(path));
}

/** What can be written: host tensors, or plain float arrays with a shape. */
export interface WritableTensor {
  shape: readonly number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  /** Store floats as F16 (weights for the repo) instead of F32. */
  dtype?: 'F32' | 'F16';
}

export function serializeSafetensors(tensors: Map<string, WritableTensor> | Record<string, WritableTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of entries) {
    if (numel(t.shape) !== t.data.length) throw new Error(`tensor ${key}: shape ${t.shape.join('x')} does not match ${t.data.length} values`);
    let bytes: Uint8Array;
    let dtype: DType;
    if (t.data instanceof Float32Array) {
      if (t.dtype === 'F16') {
        const h = new Uint16Array(t.data.length);
        for (let i = 0; i < h.length; i++) h[i] = floatToHalf(t.data[i]!);
        bytes = new Uint8Array(h.buffer);
        dtype = 'F16';
      } else {
        bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        dtype = 'F32';
      }
    } else if (t.data instanceof BigInt64Array) {
      bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      dtype = 'I64';
    } else if (t.data instanceof Int32Array) {
      bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      dtype = 'I32';
    } else {
      bytes = t.data;
      dtype = 'U8';
    }
    header[key] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  // 8-byte aligned data, as the reference writer does (pad the header with spaces)
  const head = new Uint8Array(raw.length + ((8 - (raw.length % 8)) % 8)).fill(0x20);
  head.set(raw);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** Atomic write (temp file + rename): a crash never leaves a half-written result. */
export async function writeSafetensors(path: string, tensors: Map<string, WritableTensor> | Record<string, WritableTensor>, metadata: Record<string, string> = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, serializeSafetensors(tensors, metadata));
  await rename(tmp, path);
}

export type { HostTensor };
