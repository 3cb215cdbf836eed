/**
 * The WebGPU engine (tfjs-backend-webgpu over Dawn from the npm `webgpu` package) against the
 * PyTorch + Captum reference: logits, grad and DeepLift of the original and backward-hook variants
 * at every fixture layer, per method and through the shared forward pass (saliency/shared.ts), with
 * the project's own gradient ops. Needs a GPU whose driver Dawn accepts: elsewhere it is skipped,
 * saying why (this repository's CI machines have none; see README "Engines").
 */
import { describe, expect, it } from 'vitest';
import { initEngine, tf, webGpuUnavailable } from '../../models/index.js';
import { attributeShared } from '../../saliency/index.js';
import { attributeNchw, fixtureVariant, toNchw, useFixtureCase, variantModel } from '../support/fixture-case.js';
import { hasFixtures, relErr } from '../support/shared.js';

const why = await webGpuUnavailable();
if (why) console.warn(`WebGPU engine tests skipped: ${why}`);
if (why && process.env.SDS_REQUIRE_WEBGPU === '1') throw new Error(`SDS_REQUIRE_WEBGPU=1 but ${why}`);

describe.skipIf(!!why || !hasFixtures)('WebGPU engine: resnet18_c3 equals the PyTorch/Captum reference', () => {
  const fixture = useFixtureCase('resnet18_c3', 'webgpu');

  it('runs on WebGPU', () => {
    fixture();
    expect(tf.getBackend()).toBe('webgpu');
  });

  for (const v of ['original', 'backward-hook'] as const) {
    it(`${v}: logits, grad and DeepLift at every fixture layer`, async () => {
      const c = fixture();
      const y = tf.tidy(() => variantModel(c, v).forward(c.x));
      expect(relErr(await toNchw(y), c.tensors.get(`logits/${fixtureVariant(v)}`)!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      y.dispose();
      for (const method of ['grad', 'deeplift'] as const) {
        const got = await attributeNchw(c, v, method, c.layers);
        for (const layer of c.layers) {
          const key = `${fixtureVariant(v)}/${method}/${layer}`;
          expect(relErr(got.get(layer)!.data, c.tensors.get(`attr/${key}`)!.data as Float32Array), key).toBeLessThanOrEqual(1e-4);
        }
      }
    });
  }

  it('the shared forward pass gives the same attributions on WebGPU', async () => {
    const c = fixture();
    const res = attributeShared(variantModel(c, 'original'), ['original', 'backward-hook'], ['grad', 'deeplift'], c.x, { layers: c.layers, targets: c.targets });
    for (const [variant, byMethod] of res.attributions)
      for (const [method, byLayer] of byMethod)
        for (const [layer, a] of byLayer) {
          const key = `${fixtureVariant(variant)}/${method}/${layer}`;
          expect(relErr(await toNchw(a), c.tensors.get(`attr/${key}`)!.data as Float32Array), key).toBeLessThanOrEqual(1e-4);
          a.dispose();
        }
  });
});

describe('WebGPU engine selection', () => {
  it.skipIf(!why)('where it cannot run, --backend webgpu is a clear error naming the default', async () => {
    await expect(initEngine({ engine: 'webgpu', announce: false })).rejects.toThrow(/engine webgpu could not be loaded/);
  });
});
