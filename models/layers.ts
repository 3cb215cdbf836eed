/**
 * PyTorch modules as TensorFlow.js ops on NHWC tensors, with PyTorch's exact semantics
 * (explicit symmetric zero padding, eval-mode BatchNorm with eps 1e-5).
 */
import { oihwToHwio, tensor1d, type ParamBinder } from './params.js';
import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from './tf.js';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  bias?: boolean;
}

export class Conv2d {
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  /** HWIO */
  readonly weight: Tensor4D;
  readonly bias?: Tensor1D;

  constructor(binder: ParamBinder, name: string, o: Conv2dOptions) {
    this.name = name;
    this.inChannels = o.inChannels;
    this.outChannels = o.outChannels;
    this.kernel = o.kernel;
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
    const k = o.kernel;
    const w = binder.take(`${name}.weight`, [o.outChannels, o.inChannels, k, k]);
    this.weight = binder.own(tf.tensor4d(oihwToHwio(w, o.outChannels, o.inChannels, k, k), [k, k, o.inChannels, o.outChannels]));
    if (o.bias) this.bias = tensor1d(binder, binder.take(`${name}.bias`, [o.outChannels]));
  }

  /** Output size along one axis for an input of `size`, as PyTorch computes it. */
  outSize(size: number): number {
    return Math.floor((size + 2 * this.padding - this.kernel) / this.stride) + 1;
  }

  apply(x: Tensor4D): Tensor4D {
    const y = tf.conv2d(x, this.weight, this.stride, this.padding);
    return this.bias ? tf.add(y, this.bias) : y;
  }
}

export class BatchNorm2d {
  readonly name: string;
  /** gamma / sqrt(var + eps), and beta - mean * scale: eval-mode BN is one affine map per channel. */
  readonly scale: Tensor1D;
  readonly shift: Tensor1D;

  constructor(binder: ParamBinder, name: string, channels: number, eps = 1e-5) {
    this.name = name;
    const gamma = binder.take(`${name}.weight`, [channels]);
    const beta = binder.take(`${name}.bias`, [channels]);
    const mean = binder.take(`${name}.running_mean`, [channels]);
    const variance = binder.take(`${name}.running_var`, [channels]);
    const scale = new Float32Array(channels);
    const shift = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      // float32 arithmetic in the same order as PyTorch's CPU inference kernel
      const s = Math.fround(gamma[c]! / Math.fround(Math.sqrt(Math.fround(variance[c]! + eps))));
      scale[c] = s;
      shift[c] = Math.fround(beta[c]! - Math.fround(mean[c]! * s));
    }
    this.scale = tensor1d(binder, scale);
    this.shift = tensor1d(binder, shift);
  }

  apply(x: Tensor4D): Tensor4D {
    return tf.add(tf.mul(x, this.scale), this.shift);
  }
}

export class Linear {
  readonly name: string;
  /** (in, out): the transpose of PyTorch's weight. */
  readonly weightT: Tensor2D;
  readonly bias: Tensor1D;

  constructor(binder: ParamBinder, name: string, inFeatures: number, outFeatures: number) {
    this.name = name;
    const w = binder.take(`${name}.weight`, [outFeatures, inFeatures]);
    const wt = new Float32Array(w.length);
    for (let o = 0; o < outFeatures; o++) for (let i = 0; i < inFeatures; i++) wt[i * outFeatures + o] = w[o * inFeatures + i]!;
    this.weightT = binder.own(tf.tensor2d(wt, [inFeatures, outFeatures]));
    this.bias = tensor1d(binder, binder.take(`${name}.bias`, [outFeatures]));
  }

  apply(x: Tensor2D): Tensor2D {
    return tf.add(tf.matMul(x, this.weightT), this.bias);
  }
}

/** 2x nearest-neighbour upsampling (F.interpolate(scale_factor=2, mode='nearest')), NHWC. */
export function upsampleNearest2x(x: Tensor4D): Tensor4D {
  const [n, h, w, c] = x.shape;
  // broadcast, not resizeNearestNeighbor: exact, and its gradient is a plain sum on every engine
  const y = tf.broadcastTo(tf.reshape(x, [n, h, 1, w, 1, c]), [n, h, 2, w, 2, c]);
  return tf.reshape(y, [n, 2 * h, 2 * w, c]);
}
