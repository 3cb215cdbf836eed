import { describe, expect, it } from 'vitest';
import { auroc, aurocDetail, AurocAccumulator } from '../../saliency/index.js';
import { seededRandom } from '../../models/index.js';

/** The definition itself: every (positive, negative) pair, ties 1/2. */
function pairwise(scores: Float32Array, labels: Uint8Array, f: (v: number) => number = (v) => v): number {
  let u = 0, pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!labels[i] || Number.isNaN(scores[i]!)) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] || Number.isNaN(scores[j]!)) continue;
      const a = f(scores[i]!), b = f(scores[j]!);
      u += a > b ? 1 : a === b ? 0.5 : 0;
      pairs++;
    }
  }
  return u / pairs;
}

const rng = seededRandom;

const f32 = (xs: number[]) => Float32Array.from(xs);
const u8 = (xs: number[]) => Uint8Array.from(xs);

describe('auroc (Mann-Whitney U)', () => {
  it('analytic cases: perfect 1, reversed 0, all ties 1/2, one class empty NaN', () => {
    expect(auroc(f32([0.9, 0.8, 0.1, 0.2]), u8([1, 1, 0, 0]))).toBe(1);
    expect(auroc(f32([0.1, 0.2, 0.9, 0.8]), u8([1, 1, 0, 0]))).toBe(0);
    expect(auroc(f32([3, 3, 3, 3, 3]), u8([1, 0, 1, 0, 0]))).toBe(0.5);
    expect(auroc(f32([1, 2, 3]), u8([1, 1, 1]))).toBeNaN();
    expect(auroc(f32([]), u8([]))).toBeNaN();
  });

  it('a small case with ties, by hand: 5 of 6 pairs', () => {
    // positives 0.8, 0.5, 0.5; negatives 0.5, 0.2: 0.8 beats both (2), each 0.5 ties one and beats one (1.5 + 1.5)
    expect(auroc(f32([0.8, 0.5, 0.5, 0.5, 0.2]), u8([1, 1, 1, 0, 0]))).toBeCloseTo(5 / 6, 12);
  });

  it('ignores NaN scores and can rank by |score|', () => {
    const s = f32([NaN, -5, 0.1, 4, NaN, -0.2]);
    const l = u8([0, 1, 0, 1, 1, 0]);
    const d = aurocDetail(s, l);
    expect([d.positives, d.negatives]).toEqual([2, 2]);
    // raw: -5 loses to both negatives, 4 beats both -> 2 of 4
    expect(d.auroc).toBe(0.5);
    expect(auroc(s, l, { score: 'abs' })).toBe(1);
  });

  it('equals the brute-force pairwise count on random data with ties and NaNs', () => {
    const r = rng(7);
    for (const n of [1, 2, 17, 300, 1000]) {
      const s = new Float32Array(n);
      const l = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        // quantized values: many ties; a few NaNs; positives shifted up a little
        l[i] = r() < 0.3 ? 1 : 0;
        s[i] = r() < 0.05 ? NaN : Math.round((r() * 2 - 1 + l[i]! * 0.4) * 20) / 20;
      }
      const want = pairwise(s, l);
      if (Number.isNaN(want)) expect(auroc(s, l)).toBeNaN();
      else expect(auroc(s, l)).toBeCloseTo(want, 12);
      const wantAbs = pairwise(s, l, Math.abs);
      if (!Number.isNaN(wantAbs)) expect(auroc(s, l, { score: 'abs' })).toBeCloseTo(wantAbs, 12);
    }
  });

  it('fed in pieces it gives the same exact value; past its limit it bins and bounds its error', () => {
    const r = rng(11);
    const n = 20000;
    const s = new Float32Array(n);
    const l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      l[i] = r() < 0.2 ? 1 : 0;
      s[i] = (r() - 0.5) * (l[i] ? 1.5 : 1) + (l[i] ? 0.2 : 0);
    }
    const exact = auroc(s, l);
    const pieces = new AurocAccumulator();
    for (let i = 0; i < n; i += 4096) pieces.add(s.subarray(i, i + 4096), l.subarray(i, i + 4096));
    expect(pieces.result()).toMatchObject({ auroc: exact, exact: true, maxError: 0 });

    const binned = new AurocAccumulator({ exactLimit: 5000 });
    for (let i = 0; i < n; i += 4096) binned.add(s.subarray(i, i + 4096), l.subarray(i, i + 4096));
    const b = binned.result();
    expect(b.exact).toBe(false);
    expect([b.positives + b.negatives]).toEqual([n]);
    expect(Math.abs(b.auroc - exact)).toBeLessThanOrEqual(b.maxError + 1e-12);
    // 2^20 ordered bins: pairs sharing a bin are rare
    expect(b.maxError).toBeLessThan(1e-3);
    // values that are equal stay ties in the binned path: all-equal scores give exactly 1/2
    const ties = new AurocAccumulator({ exactLimit: 0 });
    ties.add(f32([2, 2, 2, 2]), u8([1, 0, 1, 0]));
    expect(ties.result().auroc).toBe(0.5);
  });

  it('rejects scores and labels of different lengths', () => {
    expect(() => auroc(f32([1, 2]), u8([1]))).toThrow(/2 scores but 1 labels/);
  });
});
