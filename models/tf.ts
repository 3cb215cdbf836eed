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
