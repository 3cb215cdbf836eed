/** Prediction difference and accuracy between an original model and a variant (SPEC 9). */
import { probabilities } from '../models/index.js';

export interface PredictionDifference {
  /** sum_k |p'_k - p_k| per image */
  all: Float64Array;
  /** |p'_y - p_y| per image */
  target: Float64Array;
}

/** Classifier logits (N,K) of the original and a variant; `targets` the classes y. */
export function predictionDifference(original: ArrayLike<number>, variant: ArrayLike<number>, n: number, k: number, targets: readonly number[]): PredictionDifference {
  const p = probabilities(original, n, k);
  const q = probabilities(variant, n, k);
  const all = new Float64Array(n);
  const target = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) all[i]! += Math.abs(q[i * k + j]! - p[i * k + j]!);
    const y = k === 1 ? 0 : targets[i]!;
    target[i] = Math.abs(q[i * k + y]! - p[i * k + y]!);
  }
  return { all, target };
}

/** Top-1 accuracy of logits (N,K) against labels; for one logit, sigmoid > 0.5. */
export function accuracy(logits: ArrayLike<number>, n: number, k: number, labels: readonly number[]): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    if (argmax(logits, i * k, k) === labels[i]) ok++;
  }
  return ok / n;
}

/** Index of the largest of k logits at `off`; a single logit counts as class 1 when positive. */
export function argmax(v: ArrayLike<number>, off: number, k: number): number {
  if (k === 1) return v[off]! > 0 ? 1 : 0;
  let best = 0;
  for (let j = 1; j < k; j++) if (v[off + j]! > v[off + best]!) best = j;
  return best;
}
