import { maxPool2d, relu, type Conv2d, type PoolGeometry } from './layers.js';
import { tf, type Tensor4D } from './tf.js';

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
  conv?(conv: Conv2d, x: Tensor4D, apply: (x: Tensor4D) => Tensor4D): Tensor4D;
  relu?(name: string, x: Tensor4D): Tensor4D;
  maxPool?(name: string, x: Tensor4D, apply: (x: Tensor4D) => Tensor4D, geometry: PoolGeometry): Tensor4D;
  /** Sees, and may replace, a named layer's output. */
  layer?(name: string, y: Tensor4D): Tensor4D;
}

/** The hooks' plumbing, so model code reads like the PyTorch module it mirrors. */
export class HookRunner {
  constructor(readonly hooks: ForwardHooks = {}) {}

  conv(conv: Conv2d, x: Tensor4D): Tensor4D {
    const apply = (v: Tensor4D) => conv.apply(v);
    return this.hooks.conv ? this.hooks.conv(conv, x, apply) : apply(x);
  }

  relu(name: string, x: Tensor4D): Tensor4D {
    return this.hooks.relu ? this.hooks.relu(name, x) : relu(x);
  }

  maxPool(name: string, x: Tensor4D, geometry: PoolGeometry): Tensor4D {
    const apply = (v: Tensor4D) => maxPool2d(v, geometry);
    return this.hooks.maxPool ? this.hooks.maxPool(name, x, apply, geometry) : apply(x);
  }

  layer(name: string, y: Tensor4D): Tensor4D {
    return this.hooks.layer ? this.hooks.layer(name, y) : y;
  }
}

