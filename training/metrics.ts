/** Held-out measures: accuracy of a classifier, per-class Dice of a segmentation. */

/** Index of the largest of k values at `offset`. */
export function argmaxAt(v: ArrayLike<number>, offset: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (v[offset + c]! > v[offset + best]!) best = c;
  return best;
}

export class AccuracyCounter {
  correct = 0;
  total = 0;
  /** Counts by [truth][prediction]. */
  readonly confusion: number[][];

  constructor(readonly numClasses: number) {
    this.confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  }

  /** logits (n, k) row-major, labels (n). */
  add(logits: ArrayLike<number>, labels: ArrayLike<number>): void {
    const k = this.numClasses;
    for (let i = 0; i < labels.length; i++) {
      const p = argmaxAt(logits, i * k, k);
      const t = labels[i]!;
      this.confusion[t]![p]!++;
      if (p === t) this.correct++;
      this.total++;
    }
  }

  get accuracy(): number {
    return this.total ? this.correct / this.total : NaN;
  }
}

/**
 * Dice per class over a whole held-out set (2 |P ∩ T| / (|P| + |T|), pixels pooled across
 * images, so small objects count by their area), from argmax predictions.
 */
export class DiceCounter {
  private readonly inter: Float64Array;
  private readonly pred: Float64Array;
  private readonly truth: Float64Array;
  pixels = 0;
  correct = 0;

  constructor(readonly numClasses: number) {
    this.inter = new Float64Array(numClasses);
    this.pred = new Float64Array(numClasses);
    this.truth = new Float64Array(numClasses);
  }

  /** logits (pixels, k) row-major (NHWC), labels (pixels). */
  add(logits: ArrayLike<number>, labels: ArrayLike<number>): void {
    const k = this.numClasses;
    for (let i = 0; i < labels.length; i++) {
      const p = argmaxAt(logits, i * k, k);
      const t = labels[i]!;
      this.pred[p]!++;
      this.truth[t]!++;
      if (p === t) {
        this.inter[t]!++;
        this.correct++;
      }
      this.pixels++;
    }
  }

  /** Dice of class c (NaN when the class is absent from both prediction and truth). */
  dice(c: number): number {
    const d = this.pred[c]! + this.truth[c]!;
    return d ? (2 * this.inter[c]!) / d : NaN;
  }

  get pixelAccuracy(): number {
    return this.pixels ? this.correct / this.pixels : NaN;
  }
}
