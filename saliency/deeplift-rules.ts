/**
 * DeepLift's Rescale rule (SPEC 6) as a custom gradient: ReLU multipliers from the same unit's
 * value on the baseline pass, recorded beforehand.
 */
import { customUnary, tf, type Tensor } from '../models/tf.js';

const EPS = 1e-10;

/** relu forward; backward dy * (relu(x) - relu(x0)) / (x - x0), ordinary gradient where x ~ x0. */
export function deepliftRelu<T extends Tensor>(x: T, x0: T): T {
  const op = customUnary<T>((v, save) => {
    save([v]);
    return {
      value: tf.relu(v),
      gradFunc: (dy, saved) => {
        const xv = saved[0]!;
        const dx = tf.sub(xv, x0);
        const rescale = tf.div(tf.sub(tf.relu(xv), tf.relu(x0)), dx);
        const ordinary = tf.cast(tf.greater(xv, 0), 'float32');
        return tf.mul(dy, tf.where(tf.less(tf.abs(dx), EPS), ordinary, rescale));
      },
    };
  });
  return op(x);
}


