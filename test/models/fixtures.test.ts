import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, initEngine, predictBatch, readSafetensors, tf, type Model } from '../../models/index.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

describe.skipIf(!hasFixtures)('models reproduce PyTorch logits (torch-reference fixtures)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBe(0);
  });

  for (const [name, arch, hookPoints] of [
    ['resnet18_c3', 'resnet18', ['conv1', 'layer2.0.conv1', 'layer2.0.downsample.0', 'layer3.0.conv1', 'layer3.0.downsample.0', 'layer4.0.conv1', 'layer4.0.downsample.0']],
    ['unet_resnet34_c3', 'unet-resnet34', ['encoder.conv1', 'encoder.layer2.0.conv1', 'encoder.layer2.0.downsample.0', 'encoder.layer3.0.conv1', 'encoder.layer3.0.downsample.0', 'encoder.layer4.0.conv1', 'encoder.layer4.0.downsample.0']],
  ] as const) {
    it(`${name}: logits/original within 1e-4 of max|ref|`, async () => {
      const w = await readSafetensors(`${FIXTURES}${name}.safetensors`);
      const model: Model = buildModel(w.tensors, name);
      try {
        expect(model.arch).toBe(arch);
        expect(model.numClasses).toBe(3);
        expect(model.hookPoints).toEqual(hookPoints);
        const c = (await readSafetensors(`${FIXTURES}${name}.case.safetensors`)).tensors;
        const input = c.get('input')!;
        const ref = c.get('logits/original')!;
        const pred = await predictBatch(model, input.data as Float32Array, input.shape as [number, number, number, number]);
        expect(pred.shape).toEqual(ref.shape);
        expect(relErr(pred.logits, ref.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      } finally {
        model.dispose();
      }
    });
  }

  it('forwardTo stops at a block and gives its NHWC output', async () => {
    const w = await readSafetensors(`${FIXTURES}resnet18_c3.safetensors`);
    const model = buildModel(w.tensors, 'resnet18_c3');
    try {
      const shapes = tf.tidy(() => {
        const x = tf.zeros([1, 96, 96, 3]) as tf.Tensor4D;
        return ['input', '1_1', '2_0', '3_1', '4_1'].map((l) => model.forwardTo(l, x).shape);
      });
      expect(shapes).toEqual([
        [1, 96, 96, 3],
        [1, 24, 24, 64],
        [1, 12, 12, 128],
        [1, 6, 6, 256],
        [1, 3, 3, 512],
      ]);
      expect(() => tf.tidy(() => model.forwardTo('5_0', tf.zeros([1, 96, 96, 3]) as tf.Tensor4D))).toThrow(/unknown layer "5_0" for resnet18/);
    } finally {
      model.dispose();
    }
  });
});
