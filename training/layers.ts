/**
 * Trainable counterparts of models/layers.ts (NHWC, PyTorch names and semantics), with BatchNorm
 * in training mode. Only training uses them: a trained network is exported as a state_dict and
 * explained through the ordinary models, whose eval-mode path stays exactly as it was.
 */
import { tf, upsampleNearest2x, type Tensor1D, type Tensor2D, type Tensor4D } from '../models/index.js';
import { maxPool2d } from '../models/layers.js';
import { batchNormEval, batchNormTrain, updatedRunningStats, type BatchStats } from './batchnorm.js';
import type { ParamStore } from './params.js';

/** One forward pass: training (batch statistics, recorded for the running update) or evaluation. */
export interface ForwardContext {
  training: boolean;
  /** Receives each BatchNorm's batch statistics in training mode (kept; the receiver disposes). */
  record?: (bn: TrainBatchNorm2d, stats: BatchStats) => void;
}

export class TrainConv2d {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  readonly stride: number;
  readonly padding: number;

  constructor(store: ParamStore, readonly name: string, o: { inChannels: number; outChannels: number; kernel: number; stride?: number; padding?: number; bias?: boolean }) {
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
    this.weight = store.conv(`${name}.weight`, [o.outChannels, o.inChannels, o.kernel, o.kernel]);
    if (o.bias) this.bias = store.vector(`${name}.bias`, o.outChannels);
  }

  apply(x: Tensor4D): Tensor4D {
    const y = tf.conv2d(x, this.weight as Tensor4D, this.stride, this.padding);
    return this.bias ? tf.add(y, this.bias) : y;
  }
}

export class TrainBatchNorm2d {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(store: ParamStore, readonly name: string, channels: number) {
    ({ gamma: this.gamma, beta: this.beta, runningMean: this.runningMean, runningVar: this.runningVar } = store.batchNorm(name, channels));
  }

  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    if (!ctx.training) return batchNormEval(x, this.gamma as Tensor1D, this.beta as Tensor1D, this.runningMean as Tensor1D, this.runningVar as Tensor1D);
    const { y, stats } = batchNormTrain(x, this.gamma as Tensor1D, this.beta as Tensor1D);
    ctx.record?.(this, { mean: tf.keep(stats.mean), variance: tf.keep(stats.variance), count: stats.count });
    return y;
  }

  /** Moves the running statistics toward one batch's (momentum 0.1, as PyTorch). */
  updateRunning(stats: BatchStats): void {
    const [m, v] = updatedRunningStats(this.runningMean as Tensor1D, this.runningVar as Tensor1D, stats);
    this.runningMean.assign(m);
    this.runningVar.assign(v);
    m.dispose();
    v.dispose();
  }
}

export class TrainLinear {
  /** (in, out) */
  readonly weightT: tf.Variable;
  readonly bias: tf.Variable;

  constructor(store: ParamStore, readonly name: string, inFeatures: number, outFeatures: number) {
    this.weightT = store.linear(`${name}.weight`, [outFeatures, inFeatures]);
    this.bias = store.vector(`${name}.bias`, outFeatures);
  }

  apply(x: Tensor2D): Tensor2D {
    return tf.add(tf.matMul(x, this.weightT as Tensor2D), this.bias);
  }
}

/** The ResNet stem's max-pool, with PyTorch's gradient routing (shared with the explained models). */
export function stemMaxPool(x: Tensor4D): Tensor4D {
  return maxPool2d(x, { size: 3, stride: 2, pad: 1 });
}

export { upsampleNearest2x };
