import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine, tf, type Tensor4D } from '../../models/index.js';
import { checkpoint, setCheckpointValues } from '../../models/checkpoint.js';
import type { MethodName, Variant } from '../../saliency/index.js';
import { attributeNchw, loadCase } from '../support/fixture-case.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

describe('gradient checkpointing', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  it('gives the same gradients as keeping every activation, holds less, leaks nothing', async () => {
    const w = tf.randomNormal([3, 3, 4, 4], 0, 0.4, 'float32', 1) as Tensor4D;
    const block = (x: Tensor4D, s: Tensor4D) => tf.relu(tf.conv2d(tf.add(tf.relu(tf.conv2d(x, w, 1, 1)), s) as Tensor4D, w, 1, 1)) as Tensor4D;
    const x = tf.randomNormal([2, 64, 64, 4], 0, 1, 'float32', 2) as Tensor4D;
    const skip = tf.randomNormal([2, 64, 64, 4], 0, 1, 'float32', 3) as Tensor4D;
    const before = tf.memory().numTensors;
    const run = (ck: boolean) => {
      let held = 0;
      const gs = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
        let y = a as Tensor4D;
        for (let i = 0; i < 4; i++) y = ck ? checkpoint(block, [y, b as Tensor4D]) : block(y, b as Tensor4D);
        held = tf.memory().numBytes;
        return tf.sum(tf.square(y));
      })([x, skip]);
      return { gs, held };
    };
    const plain = run(false);
    const ck = run(true);
    for (let i = 0; i < 2; i++) expect(relErr(await ck.gs[i]!.data(), await plain.gs[i]!.data())).toBeLessThanOrEqual(1e-6);
    expect(ck.held).toBeLessThan(0.6 * plain.held);
    for (const g of [...plain.gs, ...ck.gs]) g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    for (const t of [w, x, skip]) t.dispose();
  });

  describe.skipIf(!hasFixtures)('U-Net (unet_resnet34_c3 fixture): every encoder and decoder block checkpointed = none', () => {
    it.each([
      ['original', 'grad'],
      ['backward-hook', 'grad'],
      ['forward-hook', 'deeplift'],
      ['surrogate', 'deeplift'],
    ] as [Variant, MethodName][])('%s %s', async (v, m) => {
      expect(FIXTURES).toBeTruthy();
      const c = await loadCase('unet_resnet34_c3');
      const old = setCheckpointValues(Infinity);
      try {
        const plain = await attributeNchw(c, v, m, c.layers);
        setCheckpointValues(0);
        const before = tf.memory().numTensors;
        const ck = await attributeNchw(c, v, m, c.layers);
        expect(tf.memory().numTensors).toBe(before);
        // the same products, summed in another order where residual and skip gradients meet: float32 rounding only
        for (const l of c.layers) expect(relErr(ck.get(l)!.data, plain.get(l)!.data)).toBeLessThanOrEqual(1e-5);
      } finally {
        setCheckpointValues(old);
        c.dispose();
      }
    });
  });
});
