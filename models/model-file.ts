/**
 * Opens whatever `--weights` names: an ONNX graph (any CNN, models/onnx), or a state_dict
 * (safetensors, torch.save zip, TorchScript archive of a known architecture) bound to a
 * hand-written architecture. ONNX is told by its extension or, without one, by what the file is
 * not (safetensors, zip, pickle): a protobuf has no magic number.
 */
import { open as openFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { buildModel } from './arch.js';
import { SdsError } from '../core/errors.js';
import type { Model, Normalization } from './model.js';
import { OnnxModel } from './onnx/executor.js';
import { readOnnx } from './onnx/proto.js';
import { loadWeights } from './weights/load.js';
import { isWsinferFolder, readWsinferFolder } from './wsinfer.js';

export interface OpenedModel {
  model: Model;
  /** the weights' own metadata (safetensors `__metadata__`: classes, sds_arch) */
  metadata: Record<string, string>;
  /** what a WSInfer folder's config asks for: patch side (after its Resize) and microns per pixel */
  recommended?: { patch: number; mpp: number };
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

/**
 * The ready model; `normalization` overrides what the file implies (ONNX files record none:
 * ImageNet's by default). A WSInfer model folder (config.json + weights) gives its weights file,
 * its normalization, class names and patch geometry: WSInfer cuts `patch_size_pixels` at
 * `spacing_um_px` and resizes to the model's side, so sds reads that side directly at the
 * proportionally coarser resolution (the same field of view).
 */
export async function openModelFile(path: string, options: { arch?: string; normalization?: Normalization } = {}): Promise<OpenedModel> {
  if (await isWsinferFolder(path)) {
    const w = await readWsinferFolder(path);
    const opened = await openModelFile(w.weightsPath, { ...options, normalization: w.normalization });
    const side = w.resize ?? w.patchSize;
    if (opened.model.numClasses !== w.numClasses) {
      opened.model.dispose();
      throw new SdsError('WEIGHTS_MISMATCH', `${w.source}: config.json says ${w.numClasses} classes, the weights give ${opened.model.numClasses}`, { suggestion: 'fix num_classes / class_names in config.json or use the matching weights' });
    }
    return {
      model: renormalized(opened.model, w.normalization),
      metadata: { ...opened.metadata, classes: w.classNames.join(',') },
      recommended: { patch: side, mpp: (w.spacing * w.patchSize) / side },
    };
  }
  if (await isOnnxFile(path)) {
    const model = new OnnxModel(await readOnnx(path), { normalization: options.normalization ?? 'imagenet' });
    const channels = model.inputDims[0];
    if (typeof channels === 'number' && channels !== 3) {
      model.dispose();
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${basename(path)}: the model takes ${channels} input channels; sds explains models of RGB slide patches (3 channels)`, {
        suggestion: 'export the model with its (N, 3, H, W) image input',
      });
    }
    return { model, metadata: {} };
  }
  const w = await loadWeights(path);
  // an explicit arch wins over the one the weights' metadata records (sds_arch)
  const model = buildModel(w.tensors, w.source, options.arch ?? w.metadata.sds_arch);
  return { model: options.normalization ? renormalized(model, options.normalization) : model, metadata: w.metadata };
}

/** The same model, fed with another input normalization (a model configuration's own). */
function renormalized(model: Model, normalization: Normalization): Model {
  if (model.normalization === normalization) return model;
  return new Proxy(model, { get: (m, key) => (key === 'normalization' ? normalization : Reflect.get(m, key, m)) });
}
