/**
 * Adam with decoupled weight decay (PyTorch's AdamW; weight decay 0 is PyTorch's Adam) over
 * named tf.Variables, with the moments kept for checkpoints.
 */
import { tf, type Tensor } from '../models/index.js';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export class AdamW {
  readonly options: AdamWOptions;
  /** Steps taken (PyTorch's `state['step']`). */
  step = 0;
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();

  constructor(
    private readonly params: ReadonlyMap<string, tf.Variable>,
    options: Partial<AdamWOptions> = {},
    /** Which parameters decay (default: all). */
    private readonly decays: (key: string) => boolean = () => true,
  ) {
    this.options = { ...DEFAULT_ADAMW, ...options };
  }

  /** One update from `grads` (by parameter name; consumed) at learning rate `lr`. */
  apply(grads: ReadonlyMap<string, Tensor>, lr = this.options.lr): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const bc1 = 1 - beta1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    for (const [k, p] of this.params) {
      const g = grads.get(k);
      if (!g) continue; // PyTorch skips parameters without a gradient
      const m0 = this.m.get(k);
      const v0 = this.v.get(k);
      const [m, v, next] = tf.tidy(() => {
        const m = tf.add(tf.mul(m0 ?? tf.zerosLike(g), beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(v0 ?? tf.zerosLike(g), beta2), tf.mul(tf.square(g), 1 - beta2));
        const decayed = weightDecay && this.decays(k) ? tf.mul(p, 1 - lr * weightDecay) : p;
        const update = tf.mul(tf.div(m, tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps)), lr / bc1);
        return [m, v, tf.sub(decayed, update)];
      });
      p.assign(next!);
      next!.dispose();
      m0?.dispose();
      v0?.dispose();
      this.m.set(k, m!);
      this.v.set(k, v!);
    }
    for (const g of grads.values()) g.dispose();
  }

  /** The moments by parameter name (owned by the optimiser), for checkpoints. */
  moments(): { m: ReadonlyMap<string, Tensor>; v: ReadonlyMap<string, Tensor> } {
    return { m: this.m, v: this.v };
  }

  /** Restores a checkpoint's step and moments (takes ownership of the tensors). */
  restore(step: number, m: ReadonlyMap<string, Tensor>, v: ReadonlyMap<string, Tensor>): void {
    this.dispose();
    this.step = step;
    for (const [k, t] of m) this.m.set(k, t);
    for (const [k, t] of v) this.v.set(k, t);
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Linear warm-up, then cosine decay to `floor` x the base rate at `total` steps. */
export function warmupCosine(base: number, step: number, total: number, warmup: number, floor = 0.02): number {
  if (step < warmup) return (base * (step + 1)) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return base * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t)));
}
