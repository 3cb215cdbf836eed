/** Integrated Gradients against the reference, one model per test file so they run in parallel. */
import { describe, expect, it } from 'vitest';
import { tf } from '../../models/index.js';
import { totalVariation, VARIANTS, type Variant } from '../../saliency/index.js';
import { attributeNchw, fixtureVariant, outlierShare, useFixtureCase } from './fixture-case.js';
import { hasFixtures, relErr } from './shared.js';

/**
 * Keys whose error exceeds the fixtures' 1e-3 because a ReLU input within ~1e-7 of zero at one of
 * the 50 interpolation points lands on the other side of zero in float32 than in PyTorch (a
 * different accumulation order). Measured on WASM and CPU engines alike: the largest error is
 * 1.1e-3 to 1.8e-3 and at most 8 in 100,000 elements exceed 1e-3. These keys are held to a
 * 2.5e-3 maximum AND to at most 0.1% of elements beyond 1e-3, so a real regression still fails.
 */
const RELU_FLIP_KEYS = new Set([
  'resnet18_c3:original/ig/1_1',
  'resnet18_c3:backward_hook/ig/1_1',
  'resnet18_c3:surrogate/ig/1_1',
  'unet_resnet34_c3:original/ig/input',
  'unet_resnet34_c3:original/ig/1_2',
  'unet_resnet34_c3:backward_hook/ig/input',
]);

/** IG against the reference at the fixtures' 1e-3, or the ReLU-flip rule above for the keys listed there. */
export function expectIgClose(name: string, key: string, got: Float32Array, ref: Float32Array): void {
  const err = relErr(got, ref);
  if (RELU_FLIP_KEYS.has(`${name}:${key}`) && err > 1e-3) {
    expect(err, key).toBeLessThanOrEqual(2.5e-3);
    expect(outlierShare(got, ref, 1e-3), key).toBeLessThanOrEqual(1e-3);
  } else {
    expect(err, key).toBeLessThanOrEqual(1e-3);
  }
}

/**
 * `variants`: those checked by default (all of them unless given); SDS_FULL_FIXTURES=1 checks every
 * variant whatever the file asks.
 */
export function igFixtureSuite(name: string, variants: readonly Variant[] = VARIANTS): void {
  const checked = process.env.SDS_FULL_FIXTURES === '1' ? VARIANTS : variants;
  describe.skipIf(!hasFixtures)(`${name}: Integrated Gradients (50 Gauss-Legendre steps) equal Captum`, () => {
    const fixture = useFixtureCase(name);

    for (const v of checked) {
      it(`${v}: ig at every fixture layer, and its TV`, { timeout: 600_000 }, async () => {
        const c = fixture();
        const got = await attributeNchw(c, v, 'ig', c.layers, 50);
        for (const layer of c.layers) {
          const key = `${fixtureVariant(v)}/ig/${layer}`;
          const ref = c.tensors.get(`attr/${key}`)!.data as Float32Array;
          const a = got.get(layer)!;
          expectIgClose(name, key, a.data, ref);
          const [n, ch, h, w] = a.shape as [number, number, number, number];
          expect(relErr(totalVariation(a.data, n, ch, h, w), c.tensors.get(`tv/${key}`)!.data as Float32Array), `tv/${key}`).toBeLessThanOrEqual(1e-3);
        }
      });
    }
  });
}
