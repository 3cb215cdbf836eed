/**
 * One-logit ONNX models (a sigmoid classifier's single output): the reference VGG cut to class 0's
 * row of its last Gemm explains that logit, with the default target, exactly as Captum explained
 * class 0 of the two-class model (the case's targets are [0, 0]): grad, DeepLift and IG equal the
 * PyTorch + Captum reference for every variant.
 */
import { existsSync, readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, nchwToNhwc, readSafetensors, tf, type HostTensor, type Tensor4D } from '../../models/index.js';
import { OnnxModel, parseOnnx } from '../../models/onnx/index.js';
import { createMethod, SurrogatePaths, VariantModel, type MethodName, type Variant } from '../../saliency/index.js';
import { toNchw } from '../support/fixture-case.js';
import { relErr, SHARED } from '../support/shared.js';

const DIR = `${SHARED}fixtures/onnx-reference/`;
const present = existsSync(`${DIR}vgg_small_bn_c2.onnx`);
if (!present) console.warn(`[sds tests] ${DIR} is absent: the one-logit ONNX test is skipped`);
const { onnx } = onnxProto;

/** The VGG with its last Gemm cut to row 0 (B: [2, 64] -> [1, 64], C: [2] -> [1]). */
function oneLogitVgg(): Uint8Array {
  const m = onnx.ModelProto.decode(readFileSync(`${DIR}vgg_small_bn_c2.onnx`));
  const g = m.graph!;
  const last = g.node!.find((n) => n.output!.includes(g.output![0]!.name!))!;
  expect(last.opType).toBe('Gemm');
  for (const name of [last.input![1]!, last.input![2]!]) {
    const t = g.initializer!.find((i) => i.name === name)!;
    const dims = t.dims!.map(Number);
    const row = dims.length === 2 ? dims[1]! : 1;
    const raw = t.rawData!;
    t.rawData = raw.slice(0, row * 4);
    t.dims = dims.length === 2 ? [1, row] : [1];
  }
  const dim = g.output![0]!.type!.tensorType!.shape!.dim!;
  dim[1] = { dimValue: 1 };
  return onnx.ModelProto.encode(m).finish();
}

describe.skipIf(!present)('one-logit ONNX model (VGG cut to class 0)', () => {
  let model: OnnxModel;
  let surrogate: SurrogatePaths;
  let x: Tensor4D;
  let ref: Map<string, HostTensor>;

  beforeAll(async () => {
    await initEngine({ announce: false });
    model = new OnnxModel(parseOnnx(oneLogitVgg(), 'vgg-one-logit.onnx'));
    surrogate = SurrogatePaths.fromStateDict(model, (await readSafetensors(`${DIR}vgg_small_bn_c2.surrogate.safetensors`)).tensors, 'surrogate');
    ref = (await readSafetensors(`${DIR}vgg_small_bn_c2.case.safetensors`)).tensors;
    const input = ref.get('input')!;
    const [n, c, h, w] = input.shape as [number, number, number, number];
    x = tf.tensor4d(nchwToNhwc(input.data as Float32Array, n, c, h, w), [n, h, w, c]);
    expect(Array.from(ref.get('targets')!.data as BigInt64Array, Number)).toEqual([0, 0]);
  });
  afterAll(() => {
    x?.dispose();
    surrogate?.dispose();
    model?.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it('is a one-class classifier whose logit is class 0 of the reference', async () => {
    expect([model.kind, model.numClasses]).toEqual(['classifier', 1]);
    const y = tf.tidy(() => model.forward(x));
    const ref2 = ref.get('logits/original')!.data as Float32Array;
    expect(relErr((await y.data()) as Float32Array, Float32Array.from([ref2[0]!, ref2[2]!]))).toBeLessThanOrEqual(1e-4);
    y.dispose();
  });

  for (const v of ['original', 'backward-hook', 'forward-hook', 'surrogate'] as Variant[]) {
    for (const method of ['grad', 'deeplift', 'ig'] as MethodName[]) {
      it(`${v}: ${method} with the default target equals Captum's class 0`, async () => {
        const layers = method === 'ig' ? ['features.13'] : ['features.6', 'features.13', 'features.21'];
        const res = await createMethod(method, new VariantModel(model, v, surrogate)).attribute(x, { layers, ...(method === 'ig' ? { steps: 16 } : {}) });
        expect(res.targets).toEqual([0, 0]);
        for (const layer of layers) {
          const a = res.attributions.get(layer)!;
          const got = await toNchw(a);
          a.dispose();
          const key = `attr/${v.replace('-', '_')}/${method}/${layer}`;
          expect(relErr(got, ref.get(key)!.data as Float32Array), key).toBeLessThanOrEqual(method === 'ig' ? 1e-3 : 1e-4);
        }
      });
    }
  }
});
