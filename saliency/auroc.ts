/**
 * Area under the ROC curve as the Mann-Whitney U statistic: the probability that a positive's
 * score beats a negative's, ties counting one half. NaN scores are left out (no tissue).
 */
import { SdsError } from '../core/errors.js';

export interface AurocOptions {
  /** 'abs' ranks by |score| (saliency of either sign), 'raw' by the score itself (default). */
  score?: 'raw' | 'abs';
}

export interface AurocDetail {
  /** NaN when one class is empty */
  auroc: number;
  positives: number;
  negatives: number;
  /** true when every pair was compared exactly; false for the binned (large-data) path */
  exact: boolean;
  /** bound on |auroc - exact auroc| (0 when exact) */
  maxError: number;
}

/** U / (P N) from ascending positives and negatives in one merge pass, ties counted 1/2. */
function mannWhitney(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const P = pos.length;
  const N = neg.length;
  if (!P || !N) return NaN;
  let u = 0;
  let below = 0; // negatives strictly below the current positive value
  for (let i = 0; i < P; ) {
    const s = pos[i]!;
    let c = 0;
    while (i < P && pos[i] === s) {
      i++;
      c++;
    }
    while (below < N && neg[below]! < s) below++;
    let eq = below;
    while (eq < N && neg[eq] === s) eq++;
    u += c * (below + 0.5 * (eq - below));
  }
  return u / P / N;
}

function transform(opts: AurocOptions | undefined): (v: number) => number {
  return opts?.score === 'abs' ? Math.abs : (v) => v;
}

/** Exact AUROC of `scores` against `labels` (non-zero = positive), NaN scores ignored. */
export function auroc(scores: Float32Array, labels: Uint8Array, opts?: AurocOptions): number {
  return aurocDetail(scores, labels, opts).auroc;
}

export function aurocDetail(scores: Float32Array, labels: Uint8Array, opts?: AurocOptions): AurocDetail {
  const acc = new AurocAccumulator({ ...opts, exactLimit: Infinity });
  acc.add(scores, labels);
  return acc.result();
}

/**
 * Float32 -> uint32 key with the same order as the float (negatives flipped), so histogram bins
 * of the key's top bits are ordered intervals of scores.
 */
const keyFloat = new Float32Array(1);
const keyBits = new Uint32Array(keyFloat.buffer);
function orderedKey(v: number): number {
  keyFloat[0] = v === 0 ? 0 : v; // -0 ties with +0
  const b = keyBits[0]!;
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

const BIN_SHIFT = 12; // 2^20 bins: 1 sign, 8 exponent and 11 mantissa bits (relative width 5e-4)
const BINS = 1 << (32 - BIN_SHIFT);

/**
 * AUROC over data fed in pieces (a whole-slide map chunk by chunk). Scores are kept and the result
 * is exact while there are at most `exactLimit` of them (4 bytes each); past that the accumulator
 * switches to 2^20 ordered bins and reports a bound on the error from pairs sharing a bin.
 */
export class AurocAccumulator {
  private readonly f: (v: number) => number;
  private readonly exactLimit: number;
  private pos: Float32Array<ArrayBuffer> = new Float32Array(1024);
  private neg: Float32Array<ArrayBuffer> = new Float32Array(1024);
  private np = 0;
  private nn = 0;
  private histPos?: Float64Array;
  private histNeg?: Float64Array;

  constructor(opts: AurocOptions & { exactLimit?: number } = {}) {
    this.f = transform(opts);
    this.exactLimit = opts.exactLimit ?? 1 << 24;
  }

  get count(): number {
    return this.np + this.nn;
  }

  add(scores: Float32Array, labels: Uint8Array): void {
    if (scores.length !== labels.length) throw new SdsError('BAD_ARGUMENT', `auroc: ${scores.length} scores but ${labels.length} labels`);
    for (let i = 0; i < scores.length; i++) {
      const v = scores[i]!;
      if (Number.isNaN(v)) continue;
      this.push(this.f(v), labels[i] !== 0);
    }
  }

  private push(s: number, positive: boolean): void {
    if (this.histPos) {
      const b = orderedKey(s) >>> BIN_SHIFT;
      if (positive) {
        this.histPos[b]!++;
        this.np++;
      } else {
        this.histNeg![b]!++;
        this.nn++;
      }
      return;
    }
    if (this.np + this.nn >= this.exactLimit) {
      this.toHistogram();
      this.push(s, positive);
      return;
    }
    if (positive) {
      if (this.np === this.pos.length) this.pos = grow(this.pos);
      this.pos[this.np++] = s;
    } else {
      if (this.nn === this.neg.length) this.neg = grow(this.neg);
      this.neg[this.nn++] = s;
    }
  }

  private toHistogram(): void {
    this.histPos = new Float64Array(BINS);
    this.histNeg = new Float64Array(BINS);
    for (let i = 0; i < this.np; i++) this.histPos[orderedKey(this.pos[i]!) >>> BIN_SHIFT]!++;
    for (let i = 0; i < this.nn; i++) this.histNeg[orderedKey(this.neg[i]!) >>> BIN_SHIFT]!++;
    this.pos = new Float32Array(0);
    this.neg = new Float32Array(0);
  }

  result(): AurocDetail {
    const P = this.np;
    const N = this.nn;
    if (!this.histPos) {
      return { auroc: mannWhitney(sortedKeys(this.pos.subarray(0, P)), sortedKeys(this.neg.subarray(0, N))), positives: P, negatives: N, exact: true, maxError: 0 };
    }
    if (!P || !N) return { auroc: NaN, positives: P, negatives: N, exact: false, maxError: 0 };
    let u = 0;
    let same = 0;
    let below = 0;
    for (let b = 0; b < BINS; b++) {
      const p = this.histPos[b]!;
      const n = this.histNeg![b]!;
      if (p) {
        u += p * (below + 0.5 * n);
        same += p * n;
      }
      below += n;
    }
    // pairs sharing a bin were counted 1/2 each; their true share lies anywhere in [0, 1]
    return { auroc: u / P / N, positives: P, negatives: N, exact: false, maxError: (0.5 * same) / P / N };
  }
}

/**
 * The scores' order-preserving keys, sorted: two 16-bit radix passes, linear time (a typed-array
 * sort of 10^7 floats takes seconds). Keys compare exactly as the floats do, ties included.
 */
function sortedKeys(values: Float32Array): Uint32Array {
  const n = values.length;
  let a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = orderedKey(values[i]!);
  let b = new Uint32Array(n);
  const count = new Uint32Array(65537);
  for (const shift of [0, 16]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[((a[i]! >>> shift) & 0xffff) + 1]!++;
    for (let d = 0; d < 65536; d++) count[d + 1]! += count[d]!;
    for (let i = 0; i < n; i++) b[count[(a[i]! >>> shift) & 0xffff]!++] = a[i]!;
    [a, b] = [b, a];
  }
  return a;
}

function grow(a: Float32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
  const b = new Float32Array(a.length * 2);
  b.set(a);
  return b;
}
