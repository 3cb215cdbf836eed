import { SdsError } from '../core/errors.js';
import { tf, type Model, type Tensor, type Tensor1D } from '../models/index.js';

/**
 * SPEC 5. Classifier: the class per image (default the explained model's argmax; 0 for a
 * single logit). Segmentation: the majority non-background class of the predicted mask
 * (background if none), whose logit is summed over all pixels.
 */
export function defaultTargets(model: Model, output: Tensor): number[] {
  return tf.tidy(() => {
    if (model.kind === 'classifier') {
      if (model.numClasses === 1) return new Array<number>(output.shape[0]!).fill(0);
      return Array.from(tf.argMax(output, 1).dataSync());
    }
    const [n, , , k] = output.shape as [number, number, number, number];
    // one output channel: it is the class (tf.oneHot needs depth 2 or more)
    if (k === 1) return new Array<number>(n).fill(0);
    const counts = tf.sum(tf.oneHot(tf.reshape(tf.argMax(output, 3), [n, -1]), k), 1).arraySync() as number[][];
    return counts.map((c) => {
      let best = 0;
      for (let j = 1; j < k; j++) if (c[j]! > 0 && (best === 0 || c[j]! > c[best]!)) best = j;
      return best;
    });
  });
}

export function checkTargets(model: Model, targets: readonly number[], n: number): void {
  if (targets.length !== n && targets.length !== 1) {
    throw new SdsError('BAD_ARGUMENT', `${targets.length} targets for ${n} images`, { suggestion: 'give one target, or one per image' });
  }
  for (const t of targets) {
    if (!Number.isInteger(t) || t < 0 || t >= model.numClasses) {
      throw new SdsError('BAD_ARGUMENT', `target ${t} is not a class of this ${model.numClasses}-class model`, {
        suggestion: `use 0..${model.numClasses - 1}`,
      });
    }
  }
}

/** The scalar whose gradient is explained, summed over the batch (images are independent). */
export function targetScalar(model: Model, output: Tensor, targets: readonly number[]): Tensor {
  const n = output.shape[0]!;
  // a one-logit model (sigmoid output, e.g. MONAI's Camelyon16 ResNet) explains its only logit;
  // checkTargets has made sure the target is 0 (tf.oneHot needs depth 2 or more)
  if (model.numClasses === 1) return tf.sum(output);
  const t = targets.length === 1 && n > 1 ? new Array<number>(n).fill(targets[0]!) : targets;
  const hot = tf.oneHot(tf.tensor1d([...t], 'int32') as Tensor1D, model.numClasses);
  if (model.kind === 'classifier') return tf.sum(tf.mul(output, hot));
  return tf.sum(tf.mul(output, tf.reshape(hot, [n, 1, 1, model.numClasses])));
}
