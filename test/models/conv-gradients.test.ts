import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine, tf } from '../../models/index.js';
import { cacheRotations, conv2dFilterGradient, conv2dInputGradient, forgetRotations } from '../../models/conv-gradients.js';
import { winogradApplies, winogradConv3x3, winogradFilters } from '../../models/winograd.js';
import { relErr } from '../support/shared.js';

/**
 * Every (input, weight, output) index triple of an NHWC/HWIO convolution, by direct enumeration:
 * the independent truth both gradient tests sum over.
 */
function forEachTap(g: { n: number; size: number; ho: number; k: number; s: number; p: number; ci: number; co: number }, fn: (x: number, w: number, dy: number) => void): void {
  const { n, size, ho, k, s, p, ci, co } = g;
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < ho; j++)
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const yy = i * s + ky - p;
            const xx = j * s + kx - p;
            if (yy < 0 || xx < 0 || yy >= size || xx >= size) continue;
            for (let a = 0; a < ci; a++)
              for (let o = 0; o < co; o++) fn(((b * size + yy) * size + xx) * ci + a, ((ky * k + kx) * ci + a) * co + o, ((b * ho + i) * ho + j) * co + o);
          }
}

describe('conv filter gradient (the WASM engine has none of its own)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });
  it.each([
    [2, 9, 3, 4, 3, 1, 1],
    [2, 10, 3, 5, 3, 2, 1],
    [1, 11, 2, 3, 7, 2, 3],
    [2, 8, 4, 4, 1, 2, 0],
  ])('n=%i size=%i cin=%i cout=%i k=%i stride=%i pad=%i equals the direct sum', async (n, size, ci, co, k, s, p) => {
    const x = tf.randomNormal([n, size, size, ci], 0, 1, 'float32', 1) as tf.Tensor4D;
    const ho = Math.floor((size + 2 * p - k) / s) + 1;
    const dy = tf.randomNormal([n, ho, ho, co], 0, 1, 'float32', 3) as tf.Tensor4D;
    const g = conv2dFilterGradient(x, dy, [k, k, ci, co], s, p);
    const [xv, dv, gv] = [await x.data(), await dy.data(), await g.data()];
    const ref = new Float64Array(k * k * ci * co);
    forEachTap({ n, size, ho, k, s, p, ci, co }, (xi, wi, di) => (ref[wi]! += xv[xi]! * dv[di]!));
    expect(relErr(gv, ref)).toBeLessThanOrEqual(1e-5);
    for (const t of [x, dy, g]) t.dispose();
  });
});

describe('conv input gradient as a forward convolution', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });
  it.each([
    [96, 3, 8, 7, 2, 3],
    [95, 3, 8, 7, 2, 3],
    [24, 8, 16, 3, 2, 1],
    [25, 8, 16, 3, 2, 1],
    [12, 8, 16, 1, 2, 0],
    [13, 8, 16, 1, 2, 0],
    [10, 8, 8, 3, 1, 1],
  ])('size=%i cin=%i cout=%i k=%i stride=%i pad=%i equals the direct sum', async (size, ci, co, k, s, p) => {
    const x = [2, size, size, ci];
    const w = tf.randomNormal([k, k, ci, co], 0, 1, 'float32', 5) as tf.Tensor4D;
    const ho = Math.floor((size + 2 * p - k) / s) + 1;
    const dy = tf.randomNormal([2, ho, ho, co], 0, 1, 'float32', 6) as tf.Tensor4D;
    const g = conv2dInputGradient(dy, w, x, s, p);
    expect(g.shape).toEqual(x);
    const [wv, dv, gv] = [await w.data(), await dy.data(), await g.data()];
    const ref = new Float64Array(2 * size * size * ci);
    forEachTap({ n: 2, size, ho, k, s, p, ci, co }, (xi, wi, di) => (ref[xi]! += wv[wi]! * dv[di]!));
    expect(relErr(gv, ref)).toBeLessThanOrEqual(1e-5);
    for (const t of [w, dy, g]) t.dispose();
  });
});

describe('Winograd F(2x2,3x3) input gradient of constant 3x3 filters', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  it('applies only where it pays and is exact enough: 3x3, stride 1, pad 1, even sides, 128+ channels', () => {
    expect(winogradApplies([2, 8, 8, 128], [3, 3, 128, 128], 1, 1)).toBe(true);
    expect(winogradApplies([2, 9, 8, 128], [3, 3, 128, 128], 1, 1)).toBe(false);
    expect(winogradApplies([2, 8, 8, 64], [3, 3, 64, 128], 1, 1)).toBe(false);
    expect(winogradApplies([2, 8, 8, 128], [3, 3, 128, 128], 2, 1)).toBe(false);
    expect(winogradApplies([2, 8, 8, 128], [1, 1, 128, 128], 1, 0)).toBe(false);
  });

  it.each([
    [8, 128, 128],
    [6, 128, 256],
    [9, 128, 128],
  ])('size=%i cin=%i cout=%i equals the direct sum, and its cached filters go with the weight', async (size, ci, co) => {
    const before = tf.memory().numTensors;
    const w = tf.randomNormal([3, 3, ci, co], 0, 0.05, 'float32', 8) as tf.Tensor4D;
    cacheRotations(w);
    const dy = tf.randomNormal([2, size, size, co], 0, 1, 'float32', 9) as tf.Tensor4D;
    const g = conv2dInputGradient(dy, w, [2, size, size, ci], 1, 1);
    const [wv, dv, gv] = [await w.data(), await dy.data(), await g.data()];
    const ref = new Float64Array(2 * size * size * ci);
    forEachTap({ n: 2, size, ho: size, k: 3, s: 1, p: 1, ci, co }, (xi, wi, di) => (ref[xi]! += wv[wi]! * dv[di]!));
    expect(relErr(gv, ref)).toBeLessThanOrEqual(1e-5);
    forgetRotations(w);
    for (const t of [w, dy, g]) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the forward transform alone equals the engine convolution (any filter, even sides)', async () => {
    const x = tf.randomNormal([3, 10, 6, 40], 0, 1, 'float32', 10) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 40, 24], 0, 0.1, 'float32', 11) as tf.Tensor4D;
    const u = winogradFilters((await w.data()) as Float32Array, 40, 24);
    const y = winogradConv3x3(x, u);
    const ref = tf.conv2d(x, w, 1, 1);
    expect(relErr(await y.data(), await ref.data())).toBeLessThanOrEqual(1e-5);
    for (const t of [x, w, y, ref, ...u.u, ...u.basis]) t.dispose();
  });
});
