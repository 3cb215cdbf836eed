/**
 * Surrogate-path training (SPEC 3): the original model is frozen; each path learns, from the
 * hook-point conv's own recorded input (teacher forcing), to reproduce that conv's output.
 * Loss = sum over paths of mean |path(X_i) - Y_i|; Adam exactly as PyTorch's.
 */
import { tf, type ForwardHooks, type Model, type Tensor, type Tensor4D } from '../models/index.js';
import { AdamW } from '../training/adam.js';
import type { SurrogatePaths } from './variants.js';

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export const DEFAULT_ADAM: AdamOptions = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export class SurrogateTrainer {
  readonly adam: AdamOptions;
  private readonly params: Map<string, tf.Variable>;
  /** PyTorch's Adam (AdamW without weight decay), the optimiser the demo models train with too. */
  private readonly optimiser: AdamW;
  /** Where the teacher pass may stop (every hook point runs below it); undefined: the whole model. */
  private readonly lastBlock: string | undefined;

  constructor(
    readonly model: Model,
    readonly paths: SurrogatePaths,
    adam: Partial<AdamOptions> = {},
  ) {
    this.adam = { ...DEFAULT_ADAM, ...adam };
    this.params = new Map([...paths.parameters()].map(([k, t]) => [k, t as tf.Variable]));
    for (const [k, p] of this.params) {
      if (!(p instanceof tf.Variable)) throw new Error(`surrogate parameter ${k} is not trainable: build the paths with trainable: true`);
    }
    this.optimiser = new AdamW(this.params, { ...this.adam, weightDecay: 0 });
    // native: all hook points sit in or below the first block of the last stage; an imported
    // graph: at or below the last hook point's own module, when that module is a layer
    const lastHook = model.hookPoints.at(-1);
    this.lastBlock = model.layerNames.filter((l) => l.endsWith('_0')).at(-1) ?? (lastHook && model.layerNames.includes(lastHook) ? lastHook : undefined);
  }

  /** Each path's teacher input and output on the frozen original model (kept; caller disposes). */
  private record(x: Tensor4D): Map<string, { x: Tensor4D; y: Tensor4D }> {
    const rec = new Map<string, { x: Tensor4D; y: Tensor4D }>();
    tf.tidy(() => {
      const hooks: ForwardHooks = {
        conv: (conv, v, apply) => {
          const y = apply(v);
          // own references: the model releases its intermediates as soon as they are consumed
          if (this.paths.paths.has(conv.name)) rec.set(conv.name, { x: tf.keep(tf.clone(v)), y: tf.keep(tf.clone(y)) });
          return y;
        },
      };
      if (this.lastBlock) this.model.forwardTo(this.lastBlock, x, hooks);
      else this.model.forward(x, hooks);
    });
    return rec;
  }

  private lossOf(rec: Map<string, { x: Tensor4D; y: Tensor4D }>): tf.Scalar {
    const terms = [...rec].map(([name, r]) => tf.mean(tf.abs(tf.sub(this.paths.paths.get(name)!.apply(r.x), r.y))));
    return tf.addN(terms) as tf.Scalar;
  }

  /** Loss without updating anything. */
  async loss(x: Tensor4D): Promise<number> {
    const rec = this.record(x);
    try {
      const l = tf.tidy(() => this.lossOf(rec));
      const v = (await l.data())[0]!;
      l.dispose();
      return v;
    } finally {
      disposeRecord(rec);
    }
  }

  /** Loss and its gradient for every path parameter (HWIO weights), kept; caller disposes. */
  lossAndGradients(x: Tensor4D): { loss: tf.Scalar; grads: Map<string, Tensor> } {
    const rec = this.record(x);
    try {
      const vars = [...this.params.values()];
      const { value, grads } = tf.variableGrads(() => this.lossOf(rec), vars);
      const byName = new Map<string, Tensor>();
      for (const [k, p] of this.params) byName.set(k, grads[p.name]!);
      return { loss: value, grads: byName };
    } finally {
      disposeRecord(rec);
    }
  }

  /** Adam steps taken so far. */
  get step(): number {
    return this.optimiser.step;
  }

  /** One Adam step on batch x; returns the loss before the step. */
  async trainStep(x: Tensor4D): Promise<number> {
    const { loss, grads } = this.lossAndGradients(x);
    this.optimiser.apply(grads); // consumes grads
    const value = (await loss.data())[0]!;
    loss.dispose();
    return value;
  }

  /** Adam moments by parameter name, for checkpoints. */
  moments(): { m: ReadonlyMap<string, Tensor>; v: ReadonlyMap<string, Tensor> } {
    return this.optimiser.moments();
  }

  /** Restores a checkpoint's step and moments (takes ownership of the tensors). */
  restoreMoments(step: number, m: ReadonlyMap<string, Tensor>, v: ReadonlyMap<string, Tensor>): void {
    this.optimiser.restore(step, m, v);
  }

  dispose(): void {
    this.optimiser.dispose();
  }
}

function disposeRecord(rec: Map<string, { x: Tensor4D; y: Tensor4D }>): void {
  for (const r of rec.values()) {
    r.x.dispose();
    r.y.dispose();
  }
}
