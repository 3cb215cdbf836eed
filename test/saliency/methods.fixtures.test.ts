import { describe, expect, it } from 'vitest';
import { tf } from '../../models/index.js';
import { createMethod, totalVariation, VARIANTS, type MethodName } from '../../saliency/index.js';
import { attributeNchw, fixtureVariant, toNchw, useFixtureCase, variantModel } from '../support/fixture-case.js';
import { hasFixtures, relErr } from '../support/shared.js';

// grad, DeepLift, GradCAM, logits and TV of every variant against PyTorch + Captum.
// Integrated Gradients (50 steps) is slower and lives in its own files.
for (const name of ['resnet18_c3', 'unet_resnet34_c3']) {
  describe.skipIf(!hasFixtures)(`${name}: variants and methods equal the PyTorch/Captum reference`, () => {
    const fixture = useFixtureCase(name);

    for (const v of VARIANTS) {
      it(`${v}: logits`, async () => {
        const c = fixture();
        const y = tf.tidy(() => variantModel(c, v).forward(c.x));
        const got = await toNchw(y);
        y.dispose();
        expect(relErr(got, c.tensors.get(`logits/${fixtureVariant(v)}`)!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      });

      for (const method of ['grad', 'deeplift'] as MethodName[]) {
        it(`${v}: ${method} at every fixture layer, and its TV`, async () => {
          const c = fixture();
          const got = await attributeNchw(c, v, method, c.layers);
          for (const layer of c.layers) {
            const key = `${fixtureVariant(v)}/${method}/${layer}`;
            const ref = c.tensors.get(`attr/${key}`)!;
            const a = got.get(layer)!;
            expect(a.shape, key).toEqual(ref.shape);
            expect(relErr(a.data, ref.data as Float32Array), key).toBeLessThanOrEqual(1e-4);
            const [n, ch, h, w] = a.shape as [number, number, number, number];
            const tv = totalVariation(a.data, n, ch, h, w);
            const tvRef = c.tensors.get(`tv/${key}`)!.data as Float32Array;
            if (tvRef.every((t) => t === 0)) expect(Array.from(tv), `tv/${key}`).toEqual(Array.from(tvRef));
            else expect(relErr(tv, tvRef), `tv/${key}`).toBeLessThanOrEqual(1e-4);
          }
        });
      }
    }

  });
}

// GradCAM is in the reference for the classifier only.
describe.skipIf(!hasFixtures)('resnet18_c3: GradCAM equals Captum LayerGradCam', () => {
  const fixture = useFixtureCase('resnet18_c3');

  it('GradCAM at the last block', async () => {
    const c = fixture();
    const res = await createMethod('gradcam', c.model).attribute(c.x, { layers: ['4_1'], targets: c.targets });
    const a = res.attributions.get('4_1')!;
    expect(a.shape).toEqual([2, 3, 3, 1]);
    const got = await toNchw(a);
    a.dispose();
    expect(relErr(got, c.tensors.get('gradcam/4_1')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  });
});
