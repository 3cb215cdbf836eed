import { readFile, writeFile, rename } from 'node:fs/promises';
import { basename } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { DTYPE_BYTES, decodeRaw } from './decode.js';
import { floatToHalf } from './float16.js';
import { clip, formatBytes, WEIGHTS_LIMITS } from './limits.js';
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

/** Deepest `{`/`[` nesting of JSON text (strings skipped), stopping once past `limit`. */
function jsonDepth(b: Uint8Array, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => clip(JSON.stringify(v) ?? String(v), 80);

/**
 * Parses a safetensors file held in memory. Everything the header declares is checked before any
 * tensor is decoded (issue #14): the header's length against the file and a size limit, every
 * dtype, shape and offset pair, that sizes match shapes, and that no two tensors share bytes.
 */
export function parseSafetensors(bytes: Uint8Array, name = 'buffer'): SafetensorsFile {
  const notWeights = (why: string) =>
    new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a safetensors file (${why})`, {
      suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth); if it is one, it is damaged: fetch or save it again',
      context: { file: name },
    });
  const truncated = (why: string) =>
    new SdsError('WEIGHTS_TRUNCATED', `${name} is truncated: ${why}`, {
      suggestion: 'the download or copy was cut short; fetch the file again',
      context: { file: name },
    });
  if (bytes.length < 8) throw notWeights(`only ${bytes.length} bytes`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER)) throw notWeights(`header length ${declared} is past the format's limit of ${MAX_HEADER} bytes`);
  const headerLen = Number(declared);
  if (headerLen < 2 || bytes[8] !== 0x7b) throw notWeights('no JSON header');
  if (8 + headerLen > bytes.length) throw truncated(`its header needs ${8 + headerLen} bytes, the file has ${bytes.length}`);
  if (headerLen > WEIGHTS_LIMITS.safetensorsHeaderBytes) {
    throw new SdsError(
      'WEIGHTS_TOO_LARGE',
      `${name}: its header of ${headerLen} bytes (${formatBytes(headerLen)}) is past sds's limit of ${formatBytes(WEIGHTS_LIMITS.safetensorsHeaderBytes)}; the header of a model sds runs takes a few KB`,
      { suggestion: 'save only the model weights (its state_dict) to the file', context: { file: name } },
    );
  }
  // Deep nesting is the costliest JSON to parse, and no header needs it: refuse it unparsed.
  const headerBytes = bytes.subarray(8, 8 + headerLen);
  if (jsonDepth(headerBytes, WEIGHTS_LIMITS.safetensorsHeaderDepth) > WEIGHTS_LIMITS.safetensorsHeaderDepth) {
    throw notWeights(`its header nests JSON more than ${WEIGHTS_LIMITS.safetensorsHeaderDepth} deep; a safetensors header needs 3`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBytes));
  } catch {
    throw notWeights('header is not valid JSON');
  }
  if (!isObject(header)) throw notWeights('header is not a JSON object');
  const dataStart = 8 + headerLen;
  let metadata: Record<string, string> = {};
  const entries: { key: string; dtype: DType; shape: number[]; begin: number; end: number; count: number }[] = [];
  for (const [key, entry] of Object.entries(header)) {
    const k = clip(key);
    if (key === '__metadata__') {
      if (entry === null) continue;
      if (!isObject(entry)) throw notWeights('its __metadata__ is not an object of strings');
      for (const [mk, mv] of Object.entries(entry)) {
        if (typeof mv !== 'string') throw notWeights(`its __metadata__ must map names to strings: ${clip(mk)} is not a string`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isObject(entry) || typeof entry.dtype !== 'string' || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets)) {
      throw notWeights(`entry ${k} has no dtype/shape/data_offsets`);
    }
    if (!KNOWN.has(entry.dtype)) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: tensor ${k} has element type ${clip(entry.dtype, 20)}, which sds cannot read`, {
        suggestion: 'save the weights as F32, F16 or BF16',
        context: { file: name },
      });
    }
    const dtype = entry.dtype as DType;
    const shape = entry.shape as unknown[];
    if (!shape.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw notWeights(`tensor ${k} has shape ${show(shape)}, not a list of sizes`);
    }
    const count = numel(shape);
    if (!Number.isSafeInteger(count * DTYPE_BYTES[dtype])) throw notWeights(`tensor ${k}: shape ${show(shape)} has too many elements`);
    const offsets = entry.data_offsets as unknown[];
    const [begin, end] = offsets;
    if (offsets.length !== 2 || typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
      throw notWeights(`tensor ${k} has data_offsets ${show(offsets)}, not [begin, end] byte offsets`);
    }
    const need = count * DTYPE_BYTES[dtype];
    if (end - begin !== need) throw notWeights(`tensor ${k}: ${count} ${dtype} elements need ${need} bytes, its offsets span ${end - begin}`);
    if (dataStart + end > bytes.length) throw truncated(`tensor ${k} ends at byte ${dataStart + end}, the file has ${bytes.length}`);
    entries.push({ key, dtype, shape, begin, end, count });
  }
  // Tensors that share bytes are a damaged or forged header (the format forbids it).
  const byStart = [...entries].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byStart.length; i++) {
    const a = byStart[i - 1]!;
    const b = byStart[i]!;
    if (b.begin < a.end) throw notWeights(`tensors ${clip(a.key)} and ${clip(b.key)} overlap (bytes ${a.begin}-${a.end} and ${b.begin}-${b.end} of the data)`);
  }
  const tensors: StateDict = new Map();
  for (const e of entries) tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data: decodeRaw(e.dtype, bytes, dataStart + e.begin, e.count) });
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
