/**
 * Tensor hygiene of every attribution method on its error paths (STYLE: Captum): a bad target,
 * and a hook that throws mid-forward at each point a pass reaches, must leave
 * `tf.memory().numTensors` as it was; the happy path leaves exactly the returned attributions.
 * A seeded random ResNet18 (no files), surrogate paths from a seeded init.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../core/errors.js';
import { initEngine, pytorchConvInit, randomModel, tf, type ForwardHooks, type LayerStart, type Model, type Tensor, type Tensor4D } from '../../models/index.js';
import { attributeBatch, composeHooks, createMethod, METHODS, SurrogatePaths, VARIANTS, VariantModel, type AttributeOptions, type MethodName, type Variant } from '../../saliency/index.js';

const SIZE = 64;
/** Two layer sets: hidden layers only (passes start above the input), and one from the input. */
const LAYER_SETS: readonly (readonly string[])[] = [
  ['1_1', '3_0'],
  ['input', '4_1'],
];

class HookFailure extends Error {}

/**
 * A model whose `layer` hook throws the `at`-th time it sees `layer` (counted over every pass of
 * one attribution, `Infinity`: never), composed between the variant's hooks and the method's.
 */
class ThrowingModel implements Model {
  readonly arch;
  readonly kind;
  readonly numClasses;
  readonly normalization;
  readonly layerNames;
  readonly hookPoints;
  readonly convs;
  seen = 0;

  constructor(
    private readonly inner: Model,
    private readonly layer: string,
    private readonly at: number,
  ) {
    this.arch = inner.arch;
    this.kind = inner.kind;
    this.numClasses = inner.numClasses;
    this.normalization = inner.normalization;
    this.layerNames = inner.layerNames;
    this.hookPoints = inner.hookPoints;
    this.convs = inner.convs;
  }

  private hooks(h?: ForwardHooks): ForwardHooks {
    return composeHooks(
      {
        layer: (name, y) => {
          if (name === this.layer && ++this.seen === this.at) throw new HookFailure(`hook fails at ${name} (#${this.at})`);
          return y;
        },
      },
      h,
    );
  }

  forward(x: Tensor4D, h?: ForwardHooks): Tensor {
    return this.inner.forward(x, this.hooks(h));
  }

  forwardTo(layer: string, x: Tensor4D, h?: ForwardHooks): Tensor4D {
    return this.inner.forwardTo(layer, x, this.hooks(h));
  }

  prepareFrom(layer: string, x: Tensor4D, h?: ForwardHooks): LayerStart {
    const start = this.inner.prepareFrom(layer, x, this.hooks(h));
    return { value: start.value, run: (v, rh) => start.run(v, this.hooks(rh)), dispose: () => start.dispose() };
  }

  dispose(): void {}
}

const options = (layers: readonly string[], targets?: number[]): AttributeOptions => ({ layers, targets, steps: 2 });

describe('attribution methods leave no tensor behind on error paths', () => {
  let base: Model;
  let surrogate: SurrogatePaths;
  let x: Tensor4D;
  const models = new Map<Variant, Model>();

  beforeAll(async () => {
    await initEngine({ announce: false });
    base = randomModel('resnet18', 2, 0);
    surrogate = SurrogatePaths.fromStateDict(base, new Map(), 'seeded surrogate', { init: pytorchConvInit(1) });
    for (const v of VARIANTS) models.set(v, new VariantModel(base, v, v === 'surrogate' ? surrogate : undefined));
    x = tf.randomNormal([1, SIZE, SIZE, 3], 0, 1, 'float32', 7) as Tensor4D;
  });
  afterAll(() => {
    x?.dispose();
    surrogate?.dispose();
    base?.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  /** Runs `f` (expected to reject) and returns the change in live tensors. */
  async function leakedBy(f: () => Promise<unknown>, expected: (e: unknown) => void): Promise<number> {
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      await f();
    } catch (e) {
      error = e;
    }
    expect(error, 'it should reject').toBeDefined();
    expected(error);
    return tf.memory().numTensors - before;
  }

  for (const method of METHODS as readonly MethodName[]) {
    for (const variant of VARIANTS) {
      for (const layers of LAYER_SETS) {
        describe(`${method} x ${variant} at ${layers.join(',')}`, () => {
          it('happy path: only the returned attributions stay', async () => {
            const model = models.get(variant)!;
            // first run: the convolutions' backward caches (rotated filters, Winograd) are made once per model
            const warm = await createMethod(method, model).attribute(x, options(layers));
            for (const a of warm.attributions.values()) a.dispose();
            const before = tf.memory().numTensors;
            const res = await createMethod(method, model).attribute(x, options(layers));
            expect([...res.attributions.keys()]).toEqual([...layers]);
            expect(tf.memory().numTensors - before).toBe(layers.length);
            for (const a of res.attributions.values()) a.dispose();
            expect(tf.memory().numTensors).toBe(before);
          });

          it('a bad target rejects with an SdsError and leaks nothing', async () => {
            const model = models.get(variant)!;
            for (const targets of [[99], [-1], [0, 1, 0]]) {
              const leaked = await leakedBy(
                () => createMethod(method, model).attribute(x, options(layers, targets)),
                (e) => expect(e).toBeInstanceOf(SdsError),
              );
              expect(leaked, `targets ${targets}`).toBe(0);
            }
          });

          it('a hook that throws mid-forward, at every pass that reaches it, leaks nothing', async () => {
            const model = models.get(variant)!;
            for (const where of [model.layerNames[1]!, model.layerNames.at(-1)!]) {
              // how often one attribution reaches `where`: throw at each of those times in turn
              const dry = new ThrowingModel(model, where, Infinity);
              const res = await createMethod(method, dry).attribute(x, options(layers));
              for (const a of res.attributions.values()) a.dispose();
              expect(dry.seen, where).toBeGreaterThan(0);
              for (let at = 1; at <= dry.seen; at++) {
                const leaked = await leakedBy(
                  () => createMethod(method, new ThrowingModel(model, where, at)).attribute(x, options(layers)),
                  (e) => expect(e).toBeInstanceOf(HookFailure),
                );
                expect(leaked, `hook throws at ${where} #${at} of ${dry.seen}`).toBe(0);
              }
            }
          });
        });
      }
    }

    it(`${method}: attributeBatch rejects without leaking (bad target, throwing hook)`, async () => {
      const model = models.get('original')!;
      const data = new Float32Array(2 * 3 * SIZE * SIZE).map((_, i) => Math.sin(i));
      const shape = [2, 3, SIZE, SIZE] as const;
      const layers = LAYER_SETS[0]!;
      expect(await leakedBy(() => attributeBatch(model, method, data, shape, { layers, targets: [99], steps: 2, batch: 1 }), (e) => expect(e).toBeInstanceOf(SdsError))).toBe(0);
      // fails at the last pass (in the second chunk, after the first one's results were read)
      const last = model.layerNames.at(-1)!;
      const dry = new ThrowingModel(model, last, Infinity);
      const done = await attributeBatch(dry, method, data, shape, { layers, steps: 2, batch: 1 });
      expect(done.targets).toHaveLength(2);
      const throwing = new ThrowingModel(model, last, dry.seen);
      expect(await leakedBy(() => attributeBatch(throwing, method, data, shape, { layers, steps: 2, batch: 1 }), (e) => expect(e).toBeInstanceOf(HookFailure))).toBe(0);
    });
  }
});
