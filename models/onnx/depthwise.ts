/**
 * Depthwise convolution with an input gradient the WASM engine can run: it has no
 * DepthwiseConv2dNativeBackpropInput kernel, so d(loss)/d(x) is computed as a forward depthwise
 * convolution of the stride-dilated, padded output gradient with the filter rotated 180 degrees
 * (channel multiplier m: each input channel sums the m output channels it feeds). The filter is a
 * constant: no filter gradient.
 */
import { customUnary, tf, type Tensor4D } from '../tf.js';

/** The filter the input gradient convolves with: rotated 180 degrees, (kh, kw, C*m, 1). */
export function rotatedDepthwiseFilter(filter: Tensor4D): Tensor4D {
  const [kh, kw, c, m] = filter.shape;
  return tf.tidy(() => tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c * m, 1]) as Tensor4D);
}

/**
 * y = depthwiseConv2d(x, filter [kh, kw, C, m], stride, symmetric pad, dilation), NHWC;
 * `rotated` = rotatedDepthwiseFilter(filter), made once by the caller (which owns both).
 */
export function depthwiseConstant(filter: Tensor4D, rotated: Tensor4D, stride: [number, number], pad: number, dilation: [number, number]): (x: Tensor4D) => Tensor4D {
  const [kh, kw, c, m] = filter.shape;
  return customUnary<Tensor4D>((x) => {
    const xShape = x.shape;
    return {
      value: tf.depthwiseConv2d(x, filter, stride, pad, 'NHWC', dilation),
      gradFunc: (dy) => {
        const [n, h, w] = xShape;
        const [, ho, wo] = dy.shape;
        const [sh, sw] = stride;
        // spread dy by the stride: (n, ho, wo, cm) -> (n, (ho-1)sh+1, (wo-1)sw+1, cm)
        let g: Tensor4D = dy;
        if (sh > 1 || sw > 1) {
          const spread = tf.reshape(tf.pad(tf.reshape(dy, [n, ho, 1, wo, 1, c * m]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]), [n, ho * sh, wo * sw, c * m]);
          g = tf.slice(spread, [0, 0, 0, 0], [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, c * m]) as Tensor4D;
        }
        const effH = dilation[0] * (kh - 1) + 1;
        const effW = dilation[1] * (kw - 1) + 1;
        const top = effH - 1 - pad;
        const left = effW - 1 - pad;
        const bottom = h + effH - 1 - top - g.shape[1];
        const right = w + effW - 1 - left - g.shape[2];
        let p = tf.pad(g, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]) as Tensor4D;
        if (top < 0 || left < 0 || bottom < 0 || right < 0) {
          const [, ph, pw] = p.shape;
          const t0 = Math.max(0, -top);
          const l0 = Math.max(0, -left);
          p = tf.slice(p, [0, t0, l0, 0], [n, ph - t0 - Math.max(0, -bottom), pw - l0 - Math.max(0, -right), c * m]) as Tensor4D;
        }
        const dx = tf.depthwiseConv2d(p, rotated, 1, 'valid', 'NHWC', dilation);
        return m === 1 ? dx : tf.sum(tf.reshape(dx, [n, h, w, c, m]), 4);
      },
    };
  });
}
