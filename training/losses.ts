/** Training losses: softmax cross-entropy (classification, per pixel) and Dice + cross-entropy. */
import { tf, type Tensor, type Tensor1D } from '../models/index.js';

/** Logits (..., K) and integer labels (...) -> (M, K) and (M) one-hot, M = all positions. */
function flatten(logits: Tensor, labels: Tensor): { z: tf.Tensor2D; onehot: tf.Tensor2D } {
  const k = logits.shape.at(-1)!;
  const z = tf.reshape(logits, [-1, k]) as tf.Tensor2D;
  const onehot = tf.oneHot(tf.reshape(labels, [-1]) as Tensor1D, k) as tf.Tensor2D;
  return { z, onehot };
}

/** Mean over examples (or pixels) of -log softmax(z)[label]. */
export function crossEntropy(logits: Tensor, labels: Tensor): tf.Scalar {
  return tf.tidy(() => {
    const { z, onehot } = flatten(logits, labels);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(z), onehot), 1))) as tf.Scalar;
  });
}

/**
 * 1 - mean over classes of the soft Dice 2 sum(p t) / (sum p + sum t), summed over the whole
 * batch (smp's DiceLoss, multiclass, smooth 1): rare classes (nuclei) weigh as much as background.
 */
export function softDice(logits: Tensor, labels: Tensor, smooth = 1): tf.Scalar {
  return tf.tidy(() => {
    const { z, onehot } = flatten(logits, labels);
    const p = tf.softmax(z);
    const inter = tf.sum(tf.mul(p, onehot), 0);
    const card = tf.add(tf.sum(p, 0), tf.sum(onehot, 0));
    const dice = tf.div(tf.add(tf.mul(inter, 2), smooth), tf.add(card, smooth));
    return tf.sub(1, tf.mean(dice)) as tf.Scalar;
  });
}

/** The segmentation loss: soft Dice + cross-entropy. */
export function diceCrossEntropy(logits: Tensor, labels: Tensor): tf.Scalar {
  return tf.tidy(() => tf.add(softDice(logits, labels), crossEntropy(logits, labels)) as tf.Scalar);
}
