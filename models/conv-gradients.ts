/**
 * Conv2D gradients that work, and are fast, on every engine. The WASM engine has no Conv2DBackpropFilter kernel,
 * so the filter gradient is computed as one convolution: the padded input with batch and channels
 * swapped, convolved with the output gradient as the filter, dilated by the stride.
 */
import { tf, type Tensor, type Tensor4D } from './tf.js';

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
 * d(loss)/d(x) for y = conv2d(x, filter, stride, pad), as a forward convolution: the WASM engine's
 * Conv2DBackpropInput kernel is ~10x slower than a forward conv of the same size. The output
 * gradient is spread to stride 1 (zeros between), padded by k-1-pad (and the remainder on the far
 * side), and convolved with the kernel rotated 180 degrees, in/out channels swapped.
 */
export function conv2dInputGradient(dy: Tensor4D, filter: Tensor4D, xShape: readonly number[], stride: number, pad: number): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const [n, h, w] = xShape as [number, number, number, number];
    let g = dy;
    const [, ho, wo, c] = dy.shape;
    if (stride > 1) {
      const s = stride;
      g = tf.reshape(tf.pad(tf.reshape(dy, [n, ho, 1, wo, 1, c]), [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]), [n, ho * s, wo * s, c]);
      g = tf.slice(g, [0, 0, 0, 0], [n, (ho - 1) * s + 1, (wo - 1) * s + 1, c]);
    }
    const top = kh - 1 - pad;
    const left = kw - 1 - pad;
    const bottom = h + kh - 1 - g.shape[1] - top;
    const right = w + kw - 1 - g.shape[2] - left;
    g = tf.pad(g, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as Tensor4D;
    return tf.conv2d(g, rotated, 1, 'valid');
  });
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
