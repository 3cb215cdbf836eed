/**
 * Opens whatever `--weights` names: an ONNX graph (any CNN, models/onnx), or a state_dict
 * (safetensors, torch.save zip, TorchScript archive of a known architecture) bound to a
 * hand-written architecture. ONNX is told by its extension or, without one, by what the file is
 * not (safetensors, zip, pickle): a protobuf has no magic number.
 */
import { open as openFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { buildModel } from './arch.js';
import type { Model, Normalization } from './model.js';
import { OnnxModel } from './onnx/executor.js';
import { readOnnx } from './onnx/proto.js';
import { loadWeights } from './weights/load.js';

export interface OpenedModel {
  model: Model;
  /** the weights' own metadata (safetensors `__metadata__`: classes, sds_arch) */
  metadata: Record<string, string>;
}

/** First bytes of a file (fewer when it is shorter). */
async function head(path: string, n: number): Promise<Uint8Array> {
  const f = await openFile(path, 'r');
  try {
    const b = new Uint8Array(n);
    const { bytesRead } = await f.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await f.close();
  }
}

/** An ONNX ModelProto: `.onnx`, or a file starting with field 1 (ir_version, varint: 0x08) that no other reader claims. */
export async function isOnnxFile(path: string): Promise<boolean> {
  if (extname(path).toLowerCase() === '.onnx') return true;
  if (['.safetensors', '.pt', '.pth', '.bin', '.ckpt'].includes(extname(path).toLowerCase())) return false;
  try {
    const b = await head(path, 2);
    return b[0] === 0x08 && b[1] !== undefined && b[1] < 0x20;
  } catch {
    return false;
  }
}

/** The ready model; `normalization` overrides what the file implies (ONNX files record none: ImageNet's by default). */
export async function openModelFile(path: string, options: { arch?: string; normalization?: Normalization } = {}): Promise<OpenedModel> {
  if (await isOnnxFile(path)) {
    return { model: new OnnxModel(await readOnnx(path), { normalization: options.normalization ?? 'imagenet' }), metadata: {} };
  }
  const w = await loadWeights(path);
  // an explicit arch wins over the one the weights' metadata records (sds_arch)
  return { model: buildModel(w.tensors, w.source, options.arch ?? w.metadata.sds_arch), metadata: w.metadata };
}
