/**
 * One optimisation step of a whole network: forward in training mode (batch statistics), loss,
 * gradients of every parameter, AdamW, then the BatchNorm running statistics (momentum 0.1).
 */
import { tf, type Tensor, type Tensor4D } from '../models/index.js';
import type { AdamW } from './adam.js';
import type { BatchStats } from './batchnorm.js';
import type { TrainBatchNorm2d } from './layers.js';
import type { TrainableNet } from './networks.js';

export type LossFn<Out extends Tensor> = (output: Out, labels: Tensor) => tf.Scalar;

/** Loss and gradients by parameter name (kept; caller disposes), plus the batch statistics seen. */
export function lossAndGradients<Out extends Tensor>(
  net: TrainableNet<Out>,
  x: Tensor4D,
  labels: Tensor,
  loss: LossFn<Out>,
): { loss: tf.Scalar; grads: Map<string, Tensor>; stats: [TrainBatchNorm2d, BatchStats][] } {
  const stats: [TrainBatchNorm2d, BatchStats][] = [];
  const names = [...net.store.params.keys()];
  const vars = names.map((k) => net.store.params.get(k)!.variable);
  const { value, grads } = tf.variableGrads(() => loss(net.forward(x, { training: true, record: (bn, s) => stats.push([bn, s]) }), labels), vars);
  const byName = new Map<string, Tensor>();
  names.forEach((k, i) => byName.set(k, grads[vars[i]!.name]!));
  return { loss: value, grads: byName, stats };
}

/** One training step; returns the loss before the update. */
export async function trainStep<Out extends Tensor>(net: TrainableNet<Out>, optimiser: AdamW, x: Tensor4D, labels: Tensor, loss: LossFn<Out>, lr?: number): Promise<number> {
  const r = lossAndGradients(net, x, labels, loss);
  optimiser.apply(r.grads, lr);
  for (const [bn, s] of r.stats) {
    bn.updateRunning(s);
    s.mean.dispose();
    s.variance.dispose();
  }
  net.store.batchesTracked++;
  const value = (await r.loss.data())[0]!;
  r.loss.dispose();
  return value;
}

/** Eval-mode forward (running statistics); the host values of the output. */
export async function predict<Out extends Tensor>(net: TrainableNet<Out>, x: Tensor4D): Promise<Float32Array> {
  const y = tf.tidy(() => net.forward(x, { training: false }));
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}
