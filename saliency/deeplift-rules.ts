/**
 * DeepLift's Rescale rule (SPEC 6) as a custom gradient: ReLU multipliers from the same unit's
 * value on the baseline pass, recorded beforehand.
 */
import { customUnary, tf, type Tensor } from '../models/tf.js';

const EPS = 1e-10;

/** The Rescale rule's gradient: dy * (relu(x) - relu(x0)) / (x - x0), ordinary gradient where x ~ x0 (x0 may be one image, broadcast). */
function rescaled(dy: Tensor, xv: Tensor, x0: Tensor): Tensor {
  const dx = tf.sub(xv, x0);
  const rescale = tf.div(tf.sub(tf.relu(xv), tf.relu(x0)), dx);
  const ordinary = tf.cast(tf.greater(xv, 0), 'float32');
  return tf.mul(dy, tf.where(tf.less(tf.abs(dx), EPS), ordinary, rescale));
}

/** relu forward; backward by the Rescale rule against the baseline pass's input `x0`. */
export function deepliftRelu<T extends Tensor>(x: T, x0: T): T {
  const op = customUnary<T>((v, save) => {
    save([v]);
    return { value: tf.relu(v), gradFunc: (dy, saved) => rescaled(dy, saved[0]!, x0) };
  });
  return op(x);
}

/**
 * relu forward; backward by the Rescale rule while `rule.deeplift` is set when the walk reaches
 * it, else the ordinary ReLU gradient (dy * step(x): the bits of models/layers.ts `relu`'s
 * dy * step(relu(x))). One forward pass on the tape then serves grad and DeepLift (saliency/shared.ts).
 */
export function switchableRelu<T extends Tensor>(x: T, x0: Tensor, rule: { readonly deeplift: boolean }): T {
  const op = customUnary<T>((v, save) => {
    save([v]);
    return { value: tf.relu(v), gradFunc: (dy, saved) => (rule.deeplift ? rescaled(dy, saved[0]!, x0) : tf.mul(dy, tf.step(saved[0]!))) };
  });
  return op(x);
}


