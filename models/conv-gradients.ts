/**
 * Conv2D gradients that work, and are fast, on every engine. The WASM engine has no Conv2DBackpropFilter kernel,
 * so the filter gradient is computed as one convolution: the padded input with batch and channels
 * swapped, convolved with the output gradient as the filter, dilated by the stride.
 */
import { tf, type Tensor, type Tensor4D } from './tf.js';
import { winogradApplies, winogradConv3x3, winogradFilters, type WinogradFilters } from './winograd.js';

type Pad = number | 'valid' | 'same';

/** d(loss)/d(filter) for y = conv2d(x, filter, stride, pad): (kh, kw, cin, cout). */
export function conv2dFilterGradient(x: Tensor4D, dy: Tensor4D, filterShape: readonly number[], stride: number, pad: number): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filterShape as [number, number, number, number];
    const xp = pad ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : x;
    // (cin, Hp, Wp, N) * (Ho, Wo, N, cout) -> (cin, Hp - s(Ho-1), Wp - s(Wo-1), cout)
    const xt = tf.transpose(xp, [3, 1, 2, 0]) as Tensor4D;
    const f = tf.transpose(dy, [1, 2, 0, 3]) as Tensor4D;
    const g = tf.conv2d(xt, f, 1, 'valid', 'NHWC', [stride, stride]);
    const cropped = g.shape[1] === kh && g.shape[2] === kw ? g : tf.slice(g, [0, 0, 0, 0], [-1, kh, kw, -1]);
    return tf.transpose(cropped, [1, 2, 0, 3]) as Tensor4D;
  });
}

/**
 * d(loss)/d(x) for y = conv2d(x, filter, stride, pad), as forward convolutions: the WASM engine's
 * Conv2DBackpropInput kernel is ~10x slower than a forward conv of the same size. Stride 1: the
 * output gradient padded by k-1-pad and convolved with the kernel rotated 180 degrees, in/out
 * channels swapped. Stride s: split by output parity; each of the s*s phases of x is a stride-1
 * convolution of dy with the taps of that phase only, so no multiplication hits a spread zero.
 */
export function conv2dInputGradient(dy: Tensor4D, filter: Tensor4D, xShape: readonly number[], stride: number, pad: number): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const [n, h, w, cin] = xShape as [number, number, number, number];
    if (stride === 1) {
      const rotatedShape = [kh, kw, filter.shape[3], cin];
      if (constantWeights.has(filter.dataId) && winogradApplies(dy.shape, rotatedShape, 1, kh - 1 - pad) && dy.shape[1] === h && dy.shape[2] === w) {
        return winogradConv3x3(dy, winogradOf(filter, true));
      }
      return phaseGradient(dy, filter, 0, 0, kh, kw, h, w, 1, pad)!;
    }
    const s = stride;
    const T = Math.ceil(h / s), U = Math.ceil(w / s);
    const rows: Tensor4D[] = [];
    for (let pi = 0; pi < s; pi++) {
      const cols: Tensor4D[] = [];
      for (let pj = 0; pj < s; pj++) {
        const ph = phaseGradient(dy, filter, pi, pj, kh, kw, T, U, s, pad);
        cols.push(ph ?? (tf.zeros([n, T, U, cin]) as Tensor4D));
      }
      // interleave columns: (n, T, U, s, c) -> (n, T, U*s, c)
      rows.push(tf.reshape(tf.stack(cols, 3), [n, T, U * s, cin]) as Tensor4D);
    }
    const full = tf.reshape(tf.stack(rows, 2), [n, T * s, U * s, cin]) as Tensor4D;
    return full.shape[1] === h && full.shape[2] === w ? full : (tf.slice(full, [0, 0, 0, 0], [n, h, w, cin]) as Tensor4D);
  });
}

/**
 * The input gradient at rows s*t + pi, columns s*u + pj (t < T, u < U): the taps a = a0 + s*m with
 * a0 = (pi + pad) mod s meet dy row t + q - m, q = (pi + pad - a0) / s. Undefined when the phase has
 * no taps (e.g. a 1x1 stride-2 kernel at odd rows): its gradient is zero.
 */
function phaseGradient(dy: Tensor4D, filter: Tensor4D, pi: number, pj: number, kh: number, kw: number, T: number, U: number, s: number, pad: number): Tensor4D | undefined {
  const a0 = (pi + pad) % s, b0 = (pj + pad) % s;
  if (a0 >= kh || b0 >= kw) return undefined;
  const M = Math.ceil((kh - a0) / s), N = Math.ceil((kw - b0) / s);
  const q = (pi + pad - a0) / s, r = (pj + pad - b0) / s;
  const rotated = rotatedTaps(filter, a0, b0, s);
  // dy rows q-(M-1) .. T-1+q (zeros outside), likewise columns
  const [, ho, wo] = dy.shape;
  const window = (lo: number, hi: number, size: number) => ({ padLo: Math.max(0, -lo), start: Math.max(0, lo), end: Math.min(size - 1, hi), padHi: Math.max(0, hi - (size - 1)) });
  const y = window(q - (M - 1), T - 1 + q, ho);
  const x = window(r - (N - 1), U - 1 + r, wo);
  let g = dy;
  if (y.start > 0 || y.end < ho - 1 || x.start > 0 || x.end < wo - 1) g = tf.slice(g, [0, y.start, x.start, 0], [-1, y.end - y.start + 1, x.end - x.start + 1, -1]);
  // the convolution pads by itself (an explicit pad is a copy of dy)
  return tf.conv2d(g, rotated, 1, [[0, 0], [y.padLo, y.padHi], [x.padLo, x.padHi], [0, 0]]);
}

/**
 * The phase's taps of a filter, rotated 180 degrees with in/out channels swapped. Model weights are
 * constants, so this is computed once per weight (a fifth of a backward pass otherwise went to
 * Reverse/StridedSlice/Transpose of the same filters). The backward pass sees the tape's saved copy
 * of the weight, which shares the weight's data id (WASM buffer sharing; the CPU engine shares too):
 * the cache is keyed by data id, and only for weights registered with `cacheRotations` (never for
 * trainable variables, which change every step).
 */
const rotations = new WeakMap<object, Map<string, Tensor4D>>();
const constantWeights = new WeakSet<object>();

export function cacheRotations(weight: Tensor4D): void {
  constantWeights.add(weight.dataId);
}

function rotatedTaps(filter: Tensor4D, a0: number, b0: number, s: number): Tensor4D {
  const make = () => {
    const [kh, kw, ci, co] = filter.shape;
    const sub = s === 1 ? filter : (tf.stridedSlice(filter, [a0, b0, 0, 0], [kh, kw, ci, co], [s, s, 1, 1]) as Tensor4D);
    return tf.transpose(tf.reverse(sub, [0, 1]), [0, 1, 3, 2]) as Tensor4D;
  };
  if (!constantWeights.has(filter.dataId)) return make();
  let byPhase = rotations.get(filter.dataId);
  if (!byPhase) rotations.set(filter.dataId, (byPhase = new Map()));
  const key = `${a0},${b0},${s}`;
  const hit = byPhase.get(key);
  if (hit && !hit.isDisposed) return hit;
  const r = tf.keep(make());
  byPhase.set(key, r);
  return r;
}

/**
 * Computes, up front, everything the input gradient of a constant convolution caches (the rotated
 * taps of each phase, or the Winograd filters). Called before a gradient pass starts: made lazily,
 * in the middle of a backward pass, these long-lived tensors land between the pass's large
 * temporary buffers and fragment the heap (a second 1536 px U-Net gradient then found no room in
 * a WASM instance's 4 GiB).
 */
export function prepareInputGradient(filter: Tensor4D, stride: number, pad: number): void {
  if (!constantWeights.has(filter.dataId)) return;
  const [kh, kw, ci, co] = filter.shape;
  if (stride === 1 && winogradApplies([1, 2, 2, co], [kh, kw, co, ci], 1, kh - 1 - pad)) {
    winogradOf(filter, true);
    return;
  }
  tf.tidy(() => {
    for (let pi = 0; pi < stride; pi++)
      for (let pj = 0; pj < stride; pj++) {
        const a0 = (pi + pad) % stride;
        const b0 = (pj + pad) % stride;
        if (a0 < kh && b0 < kw) rotatedTaps(filter, a0, b0, stride); // kept; its temporaries go with the tidy
      }
  });
}

/** Frees a weight's cached rotations and Winograd filters (its model is being disposed). */
export function forgetRotations(weight: Tensor4D): void {
  for (const r of rotations.get(weight.dataId)?.values() ?? []) r.dispose();
  rotations.delete(weight.dataId);
  for (const f of winograd.get(weight.dataId)?.values() ?? []) for (const t of [...f.u, ...f.basis]) t.dispose();
  winograd.delete(weight.dataId);
  constantWeights.delete(weight.dataId);
}

/** Winograd filters of constant weights, of the weight itself and of its rotation (input gradient). */
const winograd = new WeakMap<object, Map<boolean, WinogradFilters>>();

function winogradOf(filter: Tensor4D, rotated: boolean): WinogradFilters {
  let byKind = winograd.get(filter.dataId);
  if (!byKind) winograd.set(filter.dataId, (byKind = new Map()));
  const hit = byKind.get(rotated);
  if (hit && hit.u.every((u) => !u.isDisposed)) return hit;
  const [kh, kw, ci, co] = filter.shape;
  const w = filter.dataSync() as Float32Array;
  let hwio = w;
  if (rotated) {
    // rotated 180 degrees, in/out swapped: (kh, kw, co, ci)
    hwio = new Float32Array(w.length);
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++)
        for (let c = 0; c < ci; c++)
          for (let k = 0; k < co; k++) hwio[((i * kw + j) * co + k) * ci + c] = w[(((kh - 1 - i) * kw + (kw - 1 - j)) * ci + c) * co + k]!;
  }
  const made = winogradFilters(hwio, rotated ? co : ci, rotated ? ci : co);
  const kept = { u: made.u.map((t) => tf.keep(t)), basis: made.basis.map((t) => tf.keep(t)) };
  byKind.set(rotated, kept);
  return kept;
}

let registered = false;

/** Replaces the Conv2D gradient for NHWC, dilation-1 convolutions with numeric padding (ours). */
export function registerConvGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs) => {
      const [x, filter] = saved as [Tensor4D, Tensor4D];
      const a = attrs as unknown as { strides: number | [number, number]; pad: Pad; dilations: number | [number, number] };
      const stride = Array.isArray(a.strides) ? a.strides[0] : a.strides;
      const dil = Array.isArray(a.dilations) ? a.dilations[0] : a.dilations;
      const d = dy as Tensor4D;
      if (typeof a.pad !== 'number' || dil !== 1 || (Array.isArray(a.strides) && a.strides[0] !== a.strides[1])) {
        throw new Error('sds conv gradient: only square strides, dilation 1 and numeric padding are supported');
      }
      return {
        x: () => conv2dInputGradient(d, filter, x.shape, stride, a.pad as number),
        filter: () => conv2dFilterGradient(x, d, filter.shape, stride, a.pad as number),
      };
    },
  });
}
