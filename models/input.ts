import { extname, basename } from 'node:path';
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';
import type { Normalization } from './model.js';
import { readSafetensors } from './weights/safetensors.js';

/** A batch in PyTorch layout (N,3,H,W), normalized. */
export interface InputBatch {
  data: Float32Array;
  shape: [number, number, number, number];
  /** Where each image came from, for tables. */
  names: string[];
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** RGB in [0,1] (NCHW, in place) -> the model's input space. */
export function normalizeRgb(data: Float32Array, n: number, h: number, w: number, how: Normalization): Float32Array {
  const hw = h * w;
  for (let b = 0; b < n; b++)
    for (let c = 0; c < 3; c++) {
      const off = (b * 3 + c) * hw;
      for (let p = 0; p < hw; p++) {
        const v = data[off + p]!;
        data[off + p] = typeof how === 'object' ? (v - how.mean[c]!) / how.std[c]! : how === 'imagenet' ? (v - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]! : how === 'minus1to1' ? v * 2 - 1 : v;
      }
    }
  return data;
}

/** Interleaved RGB bytes (h*w*3) -> planar RGB in [0,1] (3,h,w). */
export function rgbToChw(rgb: Uint8Array, height: number, width: number): Float32Array {
  const hw = height * width;
  const out = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) out[c * hw + p] = rgb[p * 3 + c]! / 255;
  return out;
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff']);

/** An image file -> RGB in [0,1], NCHW with N=1. */
export async function readImageRgb(path: string): Promise<{ data: Float32Array; height: number; width: number }> {
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    raw = await sharp(path, { limitInputPixels: 2 ** 28 }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new SdsError('BAD_INPUT', `cannot decode image ${basename(path)}: ${(cause as Error).message}`, {
      suggestion: 'pass a PNG, JPEG or TIFF image, or a .safetensors file with an `input` tensor (N,3,H,W)',
      cause,
    });
  }
  const { width, height, channels } = raw.info;
  const hw = width * height;
  const data = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) data[c * hw + p] = raw.data[p * channels + (channels === 1 ? 0 : c)]! / 255;
  return { data, height, width };
}

/**
 * `--input`: a .safetensors with `input` (N,3,H,W, already normalized), or an image file
 * normalized per `normalization`.
 */
export async function readInput(path: string, normalization: Normalization, key = 'input'): Promise<InputBatch> {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors') {
    const { tensors } = await readSafetensors(path);
    const t = tensors.get(key);
    if (!t) {
      throw new SdsError('BAD_INPUT', `${basename(path)} has no tensor "${key}" (it has: ${[...tensors.keys()].slice(0, 8).join(', ')})`, {
        suggestion: 'store the batch as `input` with shape (N,3,H,W), float32, normalized',
      });
    }
    if (t.shape.length !== 4 || t.shape[1] !== 3 || !(t.data instanceof Float32Array)) {
      throw new SdsError('BAD_INPUT', `${basename(path)}: "${key}" must be a float tensor (N,3,H,W), got ${t.dtype}[${t.shape.join(',')}]`);
    }
    const [n, c, h, w] = t.shape as [number, number, number, number];
    return { data: t.data, shape: [n, c, h, w], names: Array.from({ length: n }, (_, i) => `${basename(path)}[${i}]`) };
  }
  if (!IMAGE_EXT.has(ext)) {
    throw new SdsError('BAD_INPUT', `unsupported input ${basename(path)}`, {
      suggestion: 'pass a PNG, JPEG or TIFF image, or a .safetensors file with an `input` tensor (N,3,H,W)',
    });
  }
  const img = await readImageRgb(path);
  normalizeRgb(img.data, 1, img.height, img.width, normalization);
  return { data: img.data, shape: [1, 3, img.height, img.width], names: [basename(path)] };
}
