/**
 * The one place that imports TensorFlow.js, so every module shares one engine instance
 * (the optional tfjs-node packages register their backends on this same core).
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor4D = tf.Tensor4D;

/**
 * A one-input op with its own gradient (typed wrapper over tf.customGrad).
 * `gradFunc` returns d(loss)/d(x) for the incoming d(loss)/d(value).
 */
export function customUnary<T extends tf.Tensor>(
  f: (x: T, save: (ts: tf.Tensor[]) => void) => { value: T; gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor },
): (x: T) => T {
  type Func = Parameters<typeof tf.customGrad>[0];
  const op = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => f(x as T, save)) as unknown as Func);
  return (x: T) => op(x) as T;
}
