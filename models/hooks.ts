import { maxPool2d, relu, type Conv2d, type PoolGeometry } from './layers.js';
import { tf, type Tensor, type Tensor4D } from './tf.js';

export type { PoolGeometry } from './layers.js';

/**
 * Points where variants and attribution methods change a forward pass without forking the model:
 * every conv (hook points are the stride-2 ones), every ReLU and max-pool (by unique name), and
 * every named layer output ('input', 'X_Y'). Each hook returns the tensor the model continues with.
 * A hook that keeps a tensor beyond its call keeps a clone (`tf.keep(tf.clone(t))`): the model
 * disposes intermediates as soon as the next op has consumed them.
 */
export interface ForwardHooks {
  /** Applies `conv` to `x`; `apply` is the plain convolution. */
  conv?(conv: HookConv, x: Tensor4D, apply: (x: Tensor4D) => Tensor4D): Tensor4D;
  /** Any rank: an imported graph's classifier has ReLUs on (N,K) too. */
  relu?(name: string, x: Tensor): Tensor;
  /** `geometry` is undefined for windows that are not square (imported graphs only). */
  maxPool?(name: string, x: Tensor4D, apply: (x: Tensor4D) => Tensor4D, geometry: PoolGeometry | undefined): Tensor4D;
  /** Sees, and may replace, a named layer's output. */
  layer?(name: string, y: Tensor4D): Tensor4D;
}

/**
 * What a conv hook sees of a convolution, whatever built it (a hand-written `Conv2d` or an ONNX
 * Conv node): enough for the variants to re-apply it on rolled inputs or to build a surrogate path
 * of the same channels and output size.
 */
export interface HookConv {
  /** The PyTorch module path (hook points and surrogate weights are keyed by it). */
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Output size along one axis (0 = height, 1 = width) for an input of `size`, as PyTorch computes it. */
  outSize(size: number, axis?: 0 | 1): number;
  /** Makes the input gradient's cached filters now, before a gradient pass. */
  prepareBackward(): void;
}

/** The hooks' plumbing, so model code reads like the PyTorch module it mirrors. */
export class HookRunner {
  constructor(readonly hooks: ForwardHooks = {}) {}

  conv(conv: Conv2d, x: Tensor4D): Tensor4D {
    const apply = (v: Tensor4D) => conv.apply(v);
    return this.hooks.conv ? this.hooks.conv(conv, x, apply) : apply(x);
  }

  relu(name: string, x: Tensor4D): Tensor4D {
    return this.hooks.relu ? (this.hooks.relu(name, x) as Tensor4D) : relu(x);
  }

  maxPool(name: string, x: Tensor4D, geometry: PoolGeometry): Tensor4D {
    const apply = (v: Tensor4D) => maxPool2d(v, geometry);
    return this.hooks.maxPool ? this.hooks.maxPool(name, x, apply, geometry) : apply(x);
  }

  layer(name: string, y: Tensor4D): Tensor4D {
    return this.hooks.layer ? this.hooks.layer(name, y) : y;
  }
}

