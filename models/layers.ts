/**
 * PyTorch modules as TensorFlow.js ops on NHWC tensors, with PyTorch's exact semantics
 * (explicit symmetric zero padding, eval-mode BatchNorm with eps 1e-5).
 */
import { oihwToHwio, tensor1d, type ParamBinder } from './params.js';
import { customOp, customUnary, tf, type Tensor1D, type Tensor2D, type Tensor4D } from './tf.js';
import { cacheRotations, conv2dInputGradient, prepareInputGradient } from './conv-gradients.js';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  bias?: boolean;
  /** Parameters as tf.Variables, for training (surrogate paths). */
  trainable?: boolean;
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
    const hwio = oihwToHwio(w, o.outChannels, o.inChannels, k, k);
    const shape: [number, number, number, number] = [k, k, o.inChannels, o.outChannels];
    this.weight = binder.own(o.trainable ? asVariable(tf.tensor4d(hwio, shape)) : tf.tensor4d(hwio, shape));
    if (!o.trainable) cacheRotations(this.weight);
    if (o.bias) {
      const b = binder.take(`${name}.bias`, [o.outChannels]);
      this.bias = o.trainable ? binder.own(asVariable(tf.tensor1d(b))) : tensor1d(binder, b);
    }
  }

  /** Output size along one axis for an input of `size`, as PyTorch computes it. */
  outSize(size: number): number {
    return Math.floor((size + 2 * this.padding - this.kernel) / this.stride) + 1;
  }

  apply(x: Tensor4D): Tensor4D {
    if (this.weight instanceof tf.Variable) {
      const y = tf.conv2d(x, this.weight, this.stride, this.padding);
      return this.bias ? tf.add(y, this.bias) : y;
    }
    return this.constantOp()(x);
  }

  /** Makes the input gradient's cached filters now, before a gradient pass (see conv-gradients). */
  prepareBackward(): void {
    prepareInputGradient(this.weight, this.stride, this.padding);
  }

  private light?: (x: Tensor4D) => Tensor4D;

  /**
   * Constant weights (inference, attribution): a conv whose backward pass needs nothing from the
   * forward one but the input's shape. tfjs's own Conv2D saves its input for the filter gradient,
   * which attribution never takes: a 1536 px U-Net kept every conv input alive until the end.
   */
  private constantOp(): (x: Tensor4D) => Tensor4D {
    if (this.light) return this.light;
    const { weight: w, bias: b, stride: s, padding: p } = this;
    this.light = customUnary<Tensor4D>((x) => {
      const shape = x.shape;
      return {
        // (tfjs runs a custom op's forward function in a tidy of its own)
        value: b ? tf.add(tf.conv2d(x, w, s, p), b) : tf.conv2d(x, w, s, p),
        gradFunc: (dy) => conv2dInputGradient(dy, w, shape, s, p),
      };
    });
    return this.light;
  }
}

/** A trainable variable holding `t`'s values (`t` is released). */
function asVariable<T extends Tensor1D | Tensor4D>(t: T): T {
  const v = tf.variable(t);
  t.dispose();
  return v as unknown as T;
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
      const invstd = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(variance[c]! + Math.fround(eps)))));
      const s = Math.fround(invstd * gamma[c]!);
      scale[c] = s;
      shift[c] = Math.fround(beta[c]! - Math.fround(mean[c]! * s));
    }
    this.scale = tensor1d(binder, scale);
    this.shift = tensor1d(binder, shift);
  }

  apply(x: Tensor4D): Tensor4D {
    return (this.light ??= customUnary<Tensor4D>((v) => ({
      value: tf.add(tf.mul(v, this.scale), this.shift),
      // the backward pass only scales: nothing of the forward pass is kept for it
      gradFunc: (dy) => tf.mul(dy, this.scale),
    })))(x);
  }

  private light?: (x: Tensor4D) => Tensor4D;
}

/**
 * ReLU whose backward pass keeps its output (the mask y > 0, as PyTorch's threshold_backward
 * uses), not its input: the output is alive anyway as the next layer's input.
 */
export const relu = customUnary<Tensor4D>((x, save) => {
  const y = tf.relu(x);
  save([y]);
  return { value: y, gradFunc: (dy, saved) => tf.mul(dy, tf.step(saved[0]!)) };
});

/**
 * f(t), then t released: an intermediate that nothing else uses goes as soon as its consumer has
 * run, not when the block's tidy ends (the ops keep for their backward pass what they need, by
 * reference). Inside one 1536 px decoder block that is 2 live full-size tensors instead of 7.
 */
export function consume<T extends tf.Tensor>(t: tf.Tensor, f: (t: tf.Tensor) => T): T {
  const y = f(t);
  if (y !== t) t.dispose();
  return y;
}

/** a + b for same-shape tensors, keeping nothing for the backward pass (tf.add keeps both inputs). */
export function addSame(a: Tensor4D, b: Tensor4D): Tensor4D {
  if (!tf.util.arraysEqual(a.shape, b.shape)) return tf.add(a, b);
  return addOp(a, b);
}

const addOp = customOp<Tensor4D>(([a, b]) => ({
  value: tf.add(a!, b!),
  gradFunc: (dy) => [tf.clone(dy), tf.clone(dy)],
}));

/** Channel concat keeping nothing for the backward pass (the gradient is a split of dy). */
export function concatChannels(xs: Tensor4D[]): Tensor4D {
  const sizes = xs.map((t) => t.shape[3]);
  const op = customOp<Tensor4D>((inputs) => ({
    value: tf.concat(inputs as Tensor4D[], 3),
    gradFunc: (dy) => tf.split(dy, sizes, 3),
  }));
  return op(...xs);
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
export const upsampleNearest2x = customUnary<Tensor4D>((x) => {
  const [n, h, w, c] = x.shape;
  return {
    // floor(dst / 2) sampling is exact here; the gradient sums each 2x2 block (tf's Tile
    // gradient stops at rank 5, and resize gradients differ between engines)
    value: tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w], false, false),
    gradFunc: (dy) => tf.sum(tf.reshape(dy, [n, h, 2, w, 2, c]), [2, 4]),
  };
});

/** A square max-pool window (PyTorch semantics: padding never wins). */
export interface PoolGeometry {
  size: number;
  stride: number;
  pad: number;
}

/**
 * Max-pool backward as PyTorch routes it: each output's gradient goes to the FIRST maximum of its
 * window in row-major order, padding counting as -inf. (After a ReLU many windows tie at 0; the
 * DeepLift rule is sensitive to where those gradients land.)
 */
export function routeToArgmax(dy: Tensor4D, x: Tensor4D, g: PoolGeometry): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const [, oh, ow] = dy.shape;
    const { size: k, stride: s, pad: p } = g;
    const xp = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], -Infinity);
    const hp = h + 2 * p;
    const wp = w + 2 * p;
    const views: Tensor4D[] = [];
    for (let ky = 0; ky < k; ky++)
      for (let kx = 0; kx < k; kx++)
        views.push(tf.stridedSlice(xp, [0, ky, kx, 0], [n, ky + s * (oh - 1) + 1, kx + s * (ow - 1) + 1, c], [1, s, s, 1]) as Tensor4D);
    const out = views.reduce((a, b) => tf.maximum(a, b));
    let taken = tf.zerosLike(out).cast('bool');
    let acc = tf.zeros([n, hp, wp, c]) as Tensor4D;
    views.forEach((v, i) => {
      const ky = Math.floor(i / k);
      const kx = i % k;
      const first = tf.logicalAnd(tf.equal(v, out), tf.logicalNot(taken));
      taken = tf.logicalOr(taken, first);
      const z = tf.where(first, dy, tf.zerosLike(dy));
      // place z[i,j] at padded (ky + s*i, kx + s*j): interleave zeros, then shift
      const spread = tf.reshape(tf.pad(tf.reshape(z, [n, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]), [n, oh * s, ow * s, c]);
      const bottom = hp - ky - oh * s;
      const right = wp - kx - ow * s;
      let placed = tf.pad(spread, [[0, 0], [ky, Math.max(0, bottom)], [kx, Math.max(0, right)], [0, 0]]) as Tensor4D;
      if (bottom < 0 || right < 0) placed = tf.slice(placed, [0, 0, 0, 0], [n, hp, wp, c]);
      acc = tf.add(acc, placed);
    });
    return tf.slice(acc, [0, p, p, 0], [n, h, w, c]);
  });
}

/**
 * Max-pool with PyTorch's backward (first maximum of each window, padding never chosen).
 * The WASM engine's own MaxPoolGrad mis-routes gradients next to the padding.
 */
export function maxPool2d(x: Tensor4D, g: PoolGeometry): Tensor4D {
  const op = customUnary<Tensor4D>((v, save) => {
    save([v]);
    return {
      value: tf.maxPool(v, g.size, g.stride, g.pad),
      gradFunc: (dy, saved) => routeToArgmax(dy, saved[0] as Tensor4D, g),
    };
  });
  return op(x);
}

/**
 * Bilinear resize with PyTorch's `align_corners=False` (half-pixel centres, no antialias), as two
 * interpolation-matrix products: exact in both directions (TensorFlow.js's ResizeBilinearGrad
 * does not honour half-pixel centres).
 */
export function resizeBilinear(x: Tensor4D, outH: number, outW: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const rh = tf.tensor3d(interpolationMatrix(h, outH), [1, outH, h]);
    const rw = tf.tensor3d(interpolationMatrix(w, outW), [1, outW, w]);
    const y = tf.matMul(rh, tf.reshape(x, [n, h, w * c])); // (n, outH, w*c)
    const z = tf.matMul(rw, tf.reshape(y, [n * outH, w, c])); // (n*outH, outW, c)
    return tf.reshape(z, [n, outH, outW, c]);
  });
}

/** Row i: the weights of input samples for output i (PyTorch's area_pixel_compute_source_index). */
export function interpolationMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.max(0, (i + 0.5) * scale - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const l1 = src - i0;
    m[i * inSize + i0] = m[i * inSize + i0]! + (1 - l1);
    m[i * inSize + i1] = m[i * inSize + i1]! + l1;
  }
  return m;
}
