/**
 * One-logit models (MONAI's Camelyon16 ResNet18 has one sigmoid logit): every variant and method.
 *
 * Reference: the torch fixture's ResNet18 (3 classes) explains class 2 in both images. A ResNet18
 * whose `fc` keeps only class 2's row and bias has that logit as its one output, so its
 * attributions for its only target (0) must equal the PyTorch + Captum attributions for class 2,
 * variant by variant, method by method (grad, DeepLift, IG and GradCAM are linear in the explained
 * logit). The MONAI layout of the same weights (`features.N`, a 1x1-conv `fc` after AvgPool2d(7))
 * computes the same function at 224 px, so its attributions must equal the torchvision layout's.
 */
import { describe, expect, it } from 'vitest';
import { buildModel, initEngine, readSafetensors, tf, type HostTensor, type Model, type StateDict, type Tensor4D } from '../../models/index.js';
import { attributeBatch, createMethod, SurrogatePaths, VARIANTS, VariantModel, type MethodName } from '../../saliency/index.js';
import { fixtureVariant, toNchw } from '../support/fixture-case.js';
import { expectIgClose } from '../support/ig-fixtures.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

const CLASS = 2;

/** The fixture's state dict with `fc` cut down to one class's row. */
function oneLogit(sd: StateDict, cls: number): StateDict {
  const out = new Map(sd);
  const w = sd.get('fc.weight')!, b = sd.get('fc.bias')!;
  const k = w.shape[1]!;
  out.set('fc.weight', { ...w, shape: [1, k], data: (w.data as Float32Array).slice(cls * k, (cls + 1) * k) });
  out.set('fc.bias', { ...b, shape: [1], data: (b.data as Float32Array).slice(cls, cls + 1) });
  return out;
}

/** The same weights in MONAI TorchVisionFCModel's names: features.0-7, fc as a 1x1 conv. */
function monaiLayout(sd: StateDict): StateDict {
  const out: StateDict = new Map();
  const rename = (k: string) =>
    k
      .replace(/^conv1\./, 'features.0.')
      .replace(/^bn1\./, 'features.1.')
      .replace(/^layer(\d)\./, (_m, s: string) => `features.${3 + Number(s)}.`);
  for (const [k, t] of sd) {
    if (k === 'fc.weight') out.set(k, { ...t, shape: [...t.shape, 1, 1] } satisfies HostTensor);
    else out.set(rename(k), t);
  }
  return out;
}

describe.skipIf(!hasFixtures)('one-logit ResNet18: every variant and method equals the PyTorch/Captum reference for that logit', () => {
  let model: Model, surrogate: SurrogatePaths, x: Tensor4D, sd: StateDict;
  let ref: Map<string, HostTensor>;
  const METHODS: MethodName[] = ['grad', 'deeplift', 'ig'];

  it('loads the case (both images explain class 2)', async () => {
    await initEngine({ announce: false });
    sd = oneLogit((await readSafetensors(`${FIXTURES}resnet18_c3.safetensors`)).tensors, CLASS);
    model = buildModel(sd, 'resnet18 one logit');
    expect(model.numClasses).toBe(1);
    surrogate = SurrogatePaths.fromStateDict(model, (await readSafetensors(`${FIXTURES}resnet18_c3.surrogate.safetensors`)).tensors, 'surrogate');
    const c = await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`);
    ref = c.tensors;
    expect(Array.from(c.tensors.get('targets')!.data as BigInt64Array, Number)).toEqual([CLASS, CLASS]);
    const input = c.tensors.get('input')!;
    const [n, ch, h, w] = input.shape as [number, number, number, number];
    const nhwc = new Float32Array(n * h * w * ch);
    const d = input.data as Float32Array;
    for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let k = 0; k < ch; k++) nhwc[((i * h + y) * w + xx) * ch + k] = d[((i * ch + k) * h + y) * w + xx]!;
    x = tf.tensor4d(nhwc, [n, h, w, ch]);
  });

  for (const v of VARIANTS)
    for (const method of METHODS)
      it(`${v}: ${method} at ${method === 'ig' ? 'two' : 'every'} fixture layer${method === 'ig' ? 's (50 steps)' : ''} (default target: the one logit)`, { timeout: 300_000 }, async () => {
        // IG runs the network above each layer 50 times: two layers keep the suite short
        const layers = method === 'ig' ? ['1_1', '4_1'] : ['input', '1_1', '2_0', '3_1', '4_1'];
        const m = new VariantModel(model, v, surrogate);
        const res = await createMethod(method, m).attribute(x, { layers });
        expect(res.targets).toEqual([0, 0]);
        for (const layer of layers) {
          const a = res.attributions.get(layer)!;
          const got = await toNchw(a);
          a.dispose();
          const key = `${fixtureVariant(v)}/${method}/${layer}`;
          const want = ref.get(`attr/${key}`)!.data as Float32Array;
          // the same logit as the 3-class fixture's class 2: the same float32 ReLU flips in IG
          if (method === 'ig') expectIgClose('resnet18_c3', key, got, want);
          else expect(relErr(got, want), key).toBeLessThanOrEqual(1e-4);
        }
      });

  it('GradCAM at the last block', async () => {
    const res = await createMethod('gradcam', model).attribute(x, { layers: ['4_1'] });
    const a = res.attributions.get('4_1')!;
    const got = await toNchw(a);
    a.dispose();
    expect(relErr(got, ref.get('gradcam/4_1')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  });

  it('the MONAI layout of the same weights gives the same attributions at 224 px, through attributeBatch as slides use it', { timeout: 600_000 }, async () => {
    const monai = buildModel(monaiLayout(sd), 'monai one logit');
    expect(monai.arch).toBe('monai-resnet18');
    expect(monai.numClasses).toBe(1);
    const monaiSurrogate = SurrogatePaths.fromStateDict(monai, monaiLayout((await readSafetensors(`${FIXTURES}resnet18_c3.surrogate.safetensors`)).tensors), 'surrogate');
    const size = 224;
    const data = Float32Array.from({ length: 3 * size * size }, (_, i) => Math.sin(i * 0.37) * 1.5);
    try {
      for (const v of VARIANTS)
        for (const method of v === 'original' ? METHODS : (['grad', 'deeplift'] as MethodName[])) {
          const o = { layers: ['1_1', '4_1'], steps: 2 };
          const a = await attributeBatch(new VariantModel(monai, v, monaiSurrogate), method, data, [1, 3, size, size], o);
          const b = await attributeBatch(new VariantModel(model, v, surrogate), method, data, [1, 3, size, size], o);
          expect(a.targets).toEqual([0]);
          for (const l of o.layers) expect(relErr(a.layers.get(l)!.attr, b.layers.get(l)!.attr), `${v} ${method} ${l}`).toBeLessThanOrEqual(1e-5);
        }
    } finally {
      monaiSurrogate.dispose();
      monai.dispose();
    }
  });

  it('leaves no tensor behind', () => {
    x.dispose();
    surrogate.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});
