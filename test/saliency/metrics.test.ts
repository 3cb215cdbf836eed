import { describe, expect, it } from 'vitest';
import { initEngine, readSafetensors, tf, type Model } from '../../models/index.js';
import { auc, channelMean, createMethod, igSteps, insertionDeletion, legendreGauss, predictionDifference, rankPixels, riseBlurKernel, roll, rollAverage, totalVariation, upscaleMap, VariantModel } from '../../saliency/index.js';
import { toNchw, useFixtureCase } from '../support/fixture-case.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

describe('quadrature (analytic)', () => {
  it('Gauss-Legendre integrates polynomials up to degree 2n-1 exactly on [0,1]', () => {
    for (const n of [1, 2, 5, 50]) {
      const { alphas, weights } = igSteps(n);
      for (let deg = 0; deg <= 2 * n - 1 && deg < 30; deg++) {
        const integral = alphas.reduce((s, t, i) => s + weights[i]! * t ** deg, 0);
        expect(integral).toBeCloseTo(1 / (deg + 1), 12);
      }
    }
    expect(legendreGauss(2).nodes[1]).toBeCloseTo(1 / Math.sqrt(3), 15);
  });
  it('riemann_trapezoid is the trapezoid rule', () => {
    const { alphas, weights } = igSteps(5, 'riemann_trapezoid');
    expect(alphas).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(weights).toEqual([0.125, 0.25, 0.25, 0.25, 0.125]);
  });
});

describe('total variation and maps (analytic)', () => {
  it('a constant map has TV exactly 0; a checkerboard has the largest', () => {
    const flat = new Float32Array(2 * 4 * 4).fill(3.25);
    expect(Array.from(totalVariation(flat, 1, 2, 4, 4))).toEqual([0]);
    const checker = Float32Array.from({ length: 16 }, (_, i) => ((i >> 2) + (i & 3)) % 2);
    // centred +-0.5, scaled by 1/0.5: every neighbour step is 2; 2*4*3 steps / 16 = 3
    expect(totalVariation(checker, 1, 1, 4, 4)[0]).toBeCloseTo(3, 12);
  });
  it('the roll average removes a period-2 checkerboard entirely', async () => {
    await initEngine({ announce: false });
    const g = tf.tensor4d(Float32Array.from({ length: 36 }, (_, i) => (Math.floor(i / 6) + (i % 6)) % 2), [1, 6, 6, 1]);
    const r = rollAverage(g);
    expect(Array.from(await r.data())).toEqual(new Array(36).fill(0.5));
    g.dispose();
    r.dispose();
  });
  it('the roll average equals the mean of the four torch.roll shifts (any shape)', async () => {
    await initEngine({ announce: false });
    const g = tf.randomNormal([2, 5, 7, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const r = rollAverage(g);
    const ref = tf.tidy(() => tf.div(tf.addN([roll(g, 0, 0), roll(g, 0, 1), roll(g, 1, 0), roll(g, 1, 1)]), 4));
    const [a, b] = [await r.data(), await ref.data()];
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-6);
    for (const t of [g, r, ref]) t.dispose();
  });
  it('ranks pixels by descending saliency, ties by lower index', () => {
    expect(Array.from(rankPixels([0.5, 1, 0.5, -1, 1]))).toEqual([1, 4, 0, 2, 3]);
  });
  it('AUC is the trapezoid area over n steps', () => {
    expect(auc([1, 0.5, 0])).toBeCloseTo(0.5, 15);
    expect(auc([0, 1, 1, 1, 1])).toBeCloseTo(0.875, 15);
  });
});

describe.skipIf(!hasFixtures)('metrics against the PyTorch reference (resnet18_c3)', () => {
  const fixture = useFixtureCase('resnet18_c3');

  it('the insertion blur kernel equals scipy gaussian_filter', async () => {
    const ref = (await readSafetensors(`${FIXTURES}rise_blur_kernel.safetensors`)).tensors.get('kernel')!;
    expect(ref.shape).toEqual([11, 11]);
    expect(relErr(riseBlurKernel(), ref.data as Float32Array)).toBeLessThanOrEqual(1e-6);
    expect(riseBlurKernel().reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('the insertion/deletion saliency is the nearest-upscaled channel mean of DeepLift at 2_0', async () => {
    const c = fixture();
    const res = await createMethod('deeplift', c.model).attribute(c.x, { layers: ['2_0'], targets: c.targets });
    const a = res.attributions.get('2_0')!;
    const map = tf.tidy(() => upscaleMap(channelMean(tf.slice(a, [0, 0, 0, 0], [1, -1, -1, -1])), 96, 96, 'nearest'));
    a.dispose();
    const got = await toNchw(map);
    map.dispose();
    expect(relErr(got, c.tensors.get('insdel/saliency')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  });

  it('deletion and insertion scores and AUCs', async () => {
    const c = fixture();
    const input = c.tensors.get('input')!.data as Float32Array;
    const image0 = input.subarray(0, 3 * 96 * 96);
    const before = tf.memory().numTensors;
    const r = await insertionDeletion(c.model, image0, 96, 96, c.tensors.get('insdel/saliency')!.data as Float32Array);
    expect(r.step).toBe(Number((c.tensors.get('insdel/step')!.data as BigInt64Array)[0]));
    expect(r.cls).toBe(Number((c.tensors.get('insdel/class')!.data as BigInt64Array)[0]));
    expect(relErr(r.deletion, c.tensors.get('insdel/deletion_scores')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(relErr(r.insertion, c.tensors.get('insdel/insertion_scores')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(relErr([r.deletionAuc], c.tensors.get('insdel/deletion_auc')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(relErr([r.insertionAuc], c.tensors.get('insdel/insertion_auc')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(tf.memory().numTensors).toBe(before); // nothing of the run remains
  });

  for (const v of ['forward-hook', 'surrogate'] as const) {
    it(`prediction difference of ${v}`, async () => {
      const c = fixture();
      const logits = async (m: Model) => {
        const y = tf.tidy(() => m.forward(c.x));
        const d = (await y.data()) as Float32Array;
        y.dispose();
        return d;
      };
      const d = predictionDifference(await logits(c.model), await logits(new VariantModel(c.model, v, c.surrogate)), 2, 3, c.targets);
      const key = v.replace('-', '_');
      expect(relErr(d.all, c.tensors.get(`pred_diff/${key}/all`)!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      expect(relErr(d.target, c.tensors.get(`pred_diff/${key}/target`)!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    });
  }
});
