/**
 * The training loop: batches by step number, a learning-rate schedule, a checkpoint every few
 * steps (resumable), and a tensor-count check so a leak stops the run instead of the machine.
 */
import { tf, type Tensor, type Tensor4D } from '../models/index.js';
import type { AdamW } from './adam.js';
import { saveCheckpoint } from './checkpoint.js';
import type { TrainableNet } from './networks.js';
import { trainStep, type LossFn } from './step.js';

export interface LoopOptions<Out extends Tensor> {
  net: TrainableNet<Out>;
  optimiser: AdamW;
  /** Total steps; the loop starts at `optimiser.step` (a resumed run). */
  steps: number;
  /** Batch number `step` as engine tensors (the loop disposes them). */
  batch(step: number): { x: Tensor4D; labels: Tensor };
  loss: LossFn<Out>;
  lr(step: number): number;
  checkpoint?: { path: string; every: number };
  /** Seconds already spent by earlier runs of the same training (a resumed run). */
  secondsBefore?: number;
  onStep?(step: number, loss: number, seconds: number): void;
}

export interface LoopResult {
  /** Training seconds, earlier runs included. */
  seconds: number;
  /** Mean loss over the last 20 steps. */
  finalLoss: number;
}

export async function runTraining<Out extends Tensor>(o: LoopOptions<Out>): Promise<LoopResult> {
  const t0 = performance.now();
  const seconds = () => (o.secondsBefore ?? 0) + (performance.now() - t0) / 1000;
  const recent: number[] = [];
  let baseline: number | undefined;
  while (o.optimiser.step < o.steps) {
    const step = o.optimiser.step;
    const { x, labels } = o.batch(step);
    let loss: number;
    try {
      loss = await trainStep(o.net, o.optimiser, x, labels, o.loss, o.lr(step));
    } finally {
      x.dispose();
      labels.dispose();
    }
    if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step + 1}: loss ${loss}`);
    recent.push(loss);
    if (recent.length > 20) recent.shift();
    // after the first step every tensor that lives on (moments, variables) exists
    const live = tf.memory().numTensors;
    baseline ??= live;
    if (live > baseline) throw new Error(`tensor leak in the training step: ${live} live tensors, ${baseline} after the first step`);
    o.onStep?.(o.optimiser.step, loss, seconds());
    const done = o.optimiser.step === o.steps;
    if (o.checkpoint && (done || o.optimiser.step % o.checkpoint.every === 0)) {
      await saveCheckpoint(o.checkpoint.path, o.net.store, o.optimiser, { seconds: seconds(), arch: o.net.arch });
    }
  }
  return { seconds: seconds(), finalLoss: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length) };
}
