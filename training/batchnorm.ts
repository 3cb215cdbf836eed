/**
 * Training-mode BatchNorm2d as PyTorch computes it: normalise with the batch's own mean and
 * biased variance; the running statistics move by `momentum` toward the batch mean and the
 * UNBIASED variance (n / (n - 1)), so the exported buffers mean what PyTorch's would.
 */
import { tf, type Tensor1D, type Tensor4D } from '../models/index.js';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export interface BatchStats {
  mean: Tensor1D;
  /** Biased (population) variance of the batch, as used for normalisation. */
  variance: Tensor1D;
  /** Elements per channel (N*H*W), for the unbiased correction. */
  count: number;
}

/** y = (x - mean_b) / sqrt(var_b + eps) * gamma + beta, NHWC; gradients flow through the statistics. */
export function batchNormTrain(x: Tensor4D, gamma: Tensor1D, beta: Tensor1D, eps = BN_EPS): { y: Tensor4D; stats: BatchStats } {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
  const y = tf.add(tf.mul(tf.sub(x, mean), scale), beta) as Tensor4D;
  const [n, h, w] = x.shape;
  return { y, stats: { mean: mean as Tensor1D, variance: variance as Tensor1D, count: n * h * w } };
}

/** Eval mode: the running statistics. */
export function batchNormEval(x: Tensor4D, gamma: Tensor1D, beta: Tensor1D, runningMean: Tensor1D, runningVar: Tensor1D, eps = BN_EPS): Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(tf.sub(x, runningMean), tf.mul(gamma, tf.rsqrt(tf.add(runningVar, eps)))), beta) as Tensor4D);
}

/** New running statistics after one batch (PyTorch: r <- (1 - m) r + m * batch, unbiased variance). */
export function updatedRunningStats(runningMean: Tensor1D, runningVar: Tensor1D, s: BatchStats, momentum = BN_MOMENTUM): [Tensor1D, Tensor1D] {
  return tf.tidy(() => {
    const unbiased = tf.mul(s.variance, s.count / Math.max(1, s.count - 1));
    return [
      tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(s.mean, momentum)) as Tensor1D,
      tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(unbiased, momentum)) as Tensor1D,
    ];
  });
}
