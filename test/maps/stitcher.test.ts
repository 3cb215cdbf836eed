import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../models/index.js';
import { hannWindow, Stitcher } from '../../maps/index.js';
import { patchGrid } from '../../slide/index.js';

const W = 700;
const H = 500;
const field = (x: number, y: number) => Math.sin(x / 40) + Math.cos(y / 55) + 0.002 * x;

/** Cuts the field into overlapping patches; each patch may carry its own error. */
function stitch(size: number, overlap: number, patchError: (k: number) => number, blend = true): Float32Array {
  const s = new Stitcher(W, H, 128);
  const grid = patchGrid(W, H, { size, overlap, level: 0, downsample: 1 });
  const out = new Float32Array(W * H);
  grid.forEach((p, k) => {
    const e = patchError(k);
    const v = Float32Array.from({ length: size * size }, (_, i) => field(p.x + (i % size), p.y + Math.floor(i / size)) + e);
    if (blend) s.add(p.x, p.y, v, size, size);
    else for (let j = 0; j < size && p.y + j < H; j++) for (let i = 0; i < size && p.x + i < W; i++) out[(p.y + j) * W + p.x + i] = v[j * size + i]!; // last wins
  });
  return blend ? s.read(0, 0, W, H) : out;
}

/** Largest jump between horizontal or vertical neighbours. */
function maxStep(a: Float32Array): number {
  let m = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (x + 1 < W) m = Math.max(m, Math.abs(a[y * W + x + 1]! - a[y * W + x]!));
      if (y + 1 < H) m = Math.max(m, Math.abs(a[(y + 1) * W + x]! - a[y * W + x]!));
    }
  return m;
}

describe('stitching overlapping patch maps', () => {
  const truth = Float32Array.from({ length: W * H }, (_, i) => field(i % W, Math.floor(i / W)));

  it('the window is smooth, symmetric and positive', () => {
    const w = hannWindow(64);
    expect(Math.min(...w)).toBeGreaterThan(0);
    expect(w[0]).toBeCloseTo(w[63]!, 12);
    expect(Math.max(...w)).toBeLessThanOrEqual(1);
  });

  it('a field cut into patches comes back exactly when the patches agree', () => {
    const got = stitch(128, 64, () => 0);
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - truth[i]!));
    expect(err).toBeLessThan(1e-5);
  });

  it('patches that disagree (per-patch offsets up to 0.05) blend without seams', () => {
    const r = seededRandom(11);
    const offsets = Array.from({ length: 200 }, () => (r() * 2 - 1) * 0.05);
    const blended = stitch(128, 64, (k) => offsets[k]!);
    const naive = stitch(128, 64, (k) => offsets[k]!, false);
    let err = 0;
    for (let i = 0; i < blended.length; i++) err = Math.max(err, Math.abs(blended[i]! - truth[i]!));
    expect(err).toBeLessThanOrEqual(0.05 + 1e-6); // a weighted mean of the patches' errors
    const smooth = maxStep(truth);
    // pasted patches jump by up to 0.1 at their borders; blended ones add only a few thousandths
    expect(maxStep(naive) - smooth).toBeGreaterThan(0.02);
    expect(maxStep(blended) - smooth).toBeLessThan(0.01);
  });

  it('memory follows the patches, not the canvas', () => {
    const s = new Stitcher(100_000, 100_000, 256);
    s.add(50_000, 50_000, new Float32Array(64 * 64).fill(1), 64, 64);
    expect(s.bytes).toBe(256 * 256 * 8);
    expect(Array.from(s.read(50_000, 50_000, 2, 1))).toEqual([1, 1]);
    expect(Number.isNaN(s.read(0, 0, 1, 1)[0])).toBe(true);
  });
});
