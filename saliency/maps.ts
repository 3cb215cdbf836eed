import { tf, type Tensor4D } from '../models/index.js';

export const UPSAMPLING = ['nearest', 'bilinear'] as const;
export type Upsampling = (typeof UPSAMPLING)[number];

/** Signed mean over channels: (N,h,w,C) -> (N,h,w,1). */
export function channelMean(attr: Tensor4D): Tensor4D {
  return tf.mean(attr, 3, true);
}

/**
 * Map to input resolution: nearest (the paper; PyTorch `interpolate(mode='nearest')`) or bilinear
 * (`align_corners=False`, half-pixel centres).
 */
export function upscaleMap(map: Tensor4D, height: number, width: number, mode: Upsampling = 'nearest'): Tensor4D {
  return mode === 'nearest' ? tf.image.resizeNearestNeighbor(map, [height, width], false, false) : tf.image.resizeBilinear(map, [height, width], false, true);
}
