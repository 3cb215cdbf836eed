/**
 * The shared forward pass (saliency/shared.ts) gives, bit for bit, what each (variant, method) gets
 * from its own `createMethod(method, variantModel).attribute` (which the fixture suites tie to
 * PyTorch + Captum): grad, DeepLift and GradCAM, original + backward-hook from one tape, surrogate
 * and forward-hook from theirs, hidden layers and the input. The logits it returns are the model's
 * own. Tensor hygiene: only the returned tensors stay, also when a walk fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, pytorchConvInit, randomModel, tf, type Model, type Tensor, type Tensor4D } from '../../models/index.js';
import { createMethod, SurrogatePaths, VariantModel, type Variant } from '../../saliency/index.js';
import { attributeShared, BASELINE_CACHE_BYTES, forwardGroups, type SharedMethod } from '../../saliency/shared.js';

const SIZE = 64;
const METHODS: SharedMethod[] = ['grad', 'deeplift', 'gradcam'];

function bits(t: Tensor): Uint32Array {
  return new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
}

/** Index of the first differing word (-1: identical) and the two values there. */
function firstDifference(a: Tensor, b: Tensor): string {
  const x = bits(a), y = bits(b);
  if (x.length !== y.length) return `lengths ${x.length} vs ${y.length}`;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `word ${i}: ${a.dataSync()[i]} vs ${b.dataSync()[i]}`;
  return 'identical';
}

describe('one forward pass for every variant and method that share it', () => {
  let base: Model;
  let surrogate: SurrogatePaths;
  let x: Tensor4D;
  const models = new Map<Variant, Model>();

  beforeAll(async () => {
    await initEngine({ announce: false });
    base = randomModel('resnet18', 3, 0);
    surrogate = SurrogatePaths.fromStateDict(base, new Map(), 'seeded surrogate', { init: pytorchConvInit(1) });
    for (const v of ['original', 'backward-hook', 'forward-hook', 'surrogate'] as const) models.set(v, new VariantModel(base, v, v === 'surrogate' ? surrogate : undefined));
    x = tf.randomNormal([3, SIZE, SIZE, 3], 0, 1, 'float32', 11) as Tensor4D;
  });
  afterAll(() => {
    x?.dispose();
    surrogate?.dispose();
    base?.dispose();
  });

  it('groups original with backward-hook, every other variant alone, in order of appearance', () => {
    expect(forwardGroups(['surrogate', 'backward-hook', 'forward-hook', 'original'])).toEqual([['surrogate'], ['backward-hook', 'original'], ['forward-hook']]);
    expect(forwardGroups(['original'])).toEqual([['original']]);
  });

  // every group at every block; original + backward-hook also from the input (the pass then starts at the image)
  for (const layers of [['1_0', '1_1', '2_0', '2_1', '3_0', '3_1', '4_0', '4_1'], ['input', '2_1']]) {
    for (const group of (layers[0] === 'input' ? [['original', 'backward-hook']] : [['original', 'backward-hook'], ['surrogate'], ['forward-hook']]) as Variant[][]) {
      it(`${group.join(' + ')} at ${layers.join(',')}: every method equals its own pass bit for bit`, async () => {
        const model = models.get(group[0] === 'backward-hook' ? 'original' : group[0]!)!;
        // warm: the convolutions' backward caches and the DeepLift baseline are made once per model and size
        const warm = attributeShared(model, group, METHODS, x, { layers });
        for (const m of warm.attributions.values()) for (const l of m.values()) for (const t of l.values()) t.dispose();
        const before = tf.memory().numTensors;
        const shared = attributeShared(model, group, METHODS, x, { layers, logits: true });
        for (const variant of group)
          for (const method of METHODS) {
            const own = await createMethod(method, models.get(variant)!).attribute(x, { layers });
            expect(shared.targets).toEqual(own.targets);
            for (const layer of layers) {
              const a = shared.attributions.get(variant)!.get(method)!.get(layer)!;
              expect(firstDifference(a, own.attributions.get(layer)!), `${variant} ${method} ${layer}`).toBe('identical');
            }
            for (const t of own.attributions.values()) t.dispose();
          }
        if (group.includes('original')) {
          const logits = tf.tidy(() => base.forward(x));
          expect(firstDifference(shared.logits!, logits)).toBe('identical');
          logits.dispose();
        }
        // only the returned tensors stay
        let returned = shared.logits ? 1 : 0;
        for (const m of shared.attributions.values()) for (const l of m.values()) for (const t of l.values()) (returned++, t.dispose());
        expect(returned).toBe(group.length * METHODS.length * layers.length + 1);
        shared.logits?.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }

  it('reduce: each attribution goes through it as soon as it exists', () => {
    const res = attributeShared(models.get('original')!, ['original', 'backward-hook'], ['grad', 'deeplift'], x, { layers: ['2_1'], reduce: (a) => tf.mean(a, 3, true) as Tensor4D });
    const g = res.attributions.get('backward-hook')!.get('deeplift')!.get('2_1')!;
    expect(g.shape).toEqual([3, 8, 8, 1]);
    for (const m of res.attributions.values()) for (const l of m.values()) for (const t of l.values()) t.dispose();
  });

  it('error paths: a bad target, an unknown layer and a walk that fails leave no tensor behind', () => {
    const model = models.get('original')!;
    // warm: the DeepLift baseline cache for this size
    const warm = attributeShared(model, ['original'], ['deeplift'], x, { layers: ['1_1'] });
    for (const m of warm.attributions.values()) for (const l of m.values()) for (const t of l.values()) t.dispose();
    const before = tf.memory().numTensors;
    expect(() => attributeShared(model, ['original', 'backward-hook'], METHODS, x, { layers: ['1_1'], targets: [99] })).toThrow(/target/i);
    expect(() => attributeShared(model, ['original'], METHODS, x, { layers: ['9_9'] })).toThrow(/unknown layer "9_9"/);
    expect(() => attributeShared(model, ['original', 'surrogate'], METHODS, x, { layers: ['1_1'] })).toThrow(/do not share a forward pass/);
    // a reduce that throws in the second walk: the first walk's results and the tape are freed
    let calls = 0;
    expect(() =>
      attributeShared(model, ['original', 'backward-hook'], ['grad'], x, {
        layers: ['1_1', '2_1'],
        reduce: (a) => {
          if (++calls === 3) throw new Error('reduce fails');
          return tf.mean(a, 3, true) as Tensor4D;
        },
      }),
    ).toThrow(/reduce fails/);
    expect(tf.memory().numTensors).toBe(before);
    expect(BASELINE_CACHE_BYTES).toBeGreaterThan(0);
  });
});
