/**
 * ONNX import (issue #16, first step): the executor reproduces PyTorch's logits for the four
 * reference CNNs in fixtures/onnx-reference, maps module paths to the sidecar's ONNX tensors, finds
 * the sidecar's hook points, and refuses broken files and unsupported ops with clear errors.
 */
import { existsSync, readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../core/errors.js';
import { initEngine, nchwToNhwc, nhwcToNchw, readSafetensors, tf } from '../../models/index.js';
import { OnnxModel, parseOnnx, readOnnx } from '../../models/onnx/index.js';
import { relErr, SHARED } from '../support/shared.js';
import { sdsError } from '../support/sds-error.js';

const DIR = `${SHARED}fixtures/onnx-reference/`;
const hasOnnxFixtures = existsSync(`${DIR}vgg_small_bn_c2.onnx`);
if (!hasOnnxFixtures) console.warn(`[sds tests] ${DIR} is absent: the ONNX import tests against the PyTorch reference are skipped`);

const MODELS = ['densenet_small_c3', 'efficientnet_b0_c3', 'mobilenet_v3_small_c4', 'vgg_small_bn_c2'] as const;

interface Sidecar {
  num_classes: number;
  hook_points: { module: string; onnx_node: string; onnx_output: string; weight: string; in_channels: number; out_channels: number; kernel: number[]; stride: number[]; padding: number[]; dilation: number[]; groups: number }[];
  layers: Record<string, { onnx_tensor: string; shape: number[] }>;
}

const { onnx } = onnxProto;

const side = (name: string) => JSON.parse(readFileSync(`${DIR}${name}.json`, 'utf8')) as Sidecar;

describe.skipIf(!hasOnnxFixtures)('ONNX executor reproduces the PyTorch reference (fixtures/onnx-reference)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBe(0);
  });

  for (const name of MODELS) {
    it(`${name}: logits, layer map and shapes, hook points`, async () => {
      const sc = side(name);
      const model = new OnnxModel(await readOnnx(`${DIR}${name}.onnx`));
      try {
        const c = (await readSafetensors(`${DIR}${name}.case.safetensors`)).tensors;
        const input = c.get('input')!;
        const ref = c.get('logits/original')!;
        const layers = Object.keys(sc.layers);
        for (const l of layers) expect(model.layerTensor(l), l).toBe(sc.layers[l]!.onnx_tensor);
        expect(model.layerNames).toEqual(expect.arrayContaining(layers));
        const before = tf.memory().numTensors;
        const out = model.run({ data: input.data as Float32Array, shape: input.shape as [number, number, number, number] }, layers);
        expect(tf.memory().numTensors).toBe(before);
        expect(out.logits.shape).toEqual(ref.shape);
        expect(out.logits.shape[1]).toBe(sc.num_classes);
        const err = relErr(out.logits.data, ref.data as Float32Array);
        console.log(`[onnx] ${name}: logits max rel err ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(1e-4);
        // the case files hold no activations: shapes from the sidecar (= README's table)
        for (const l of layers) expect(out.layers.get(l)!.shape, l).toEqual(sc.layers[l]!.shape);
        expect(model.hookPoints).toEqual(sc.hook_points.map((h) => h.module));
        model.hookPointNodes.forEach((h, i) => {
          const s = sc.hook_points[i]!;
          expect([h.node, h.output, h.weight, h.inChannels, h.outChannels, h.groups]).toEqual([s.onnx_node, s.onnx_output, s.weight, s.in_channels, s.out_channels, s.groups]);
          expect([h.kernel, h.stride, h.dilation, h.pads.slice(0, 2)]).toEqual([s.kernel, s.stride, s.dilation, s.padding]);
        });
      } finally {
        model.dispose();
      }
    });
  }

  // the case files hold no activations; the gradient at each layer checks the layer map by value
  // and by position in the graph (README: checks.grad_vs_onnx_graph_gradient)
  for (const name of MODELS) {
    it(`${name}: gradients of the target logits at the named layers equal attr/original/grad`, async () => {
      const model = new OnnxModel(await readOnnx(`${DIR}${name}.onnx`));
      const c = (await readSafetensors(`${DIR}${name}.case.safetensors`)).tensors;
      const input = c.get('input')!;
      const [n, ch, h, w] = input.shape as [number, number, number, number];
      const targets = Array.from(c.get('targets')!.data as BigInt64Array, Number);
      const x = tf.tensor4d(nchwToNhwc(input.data as Float32Array, n, ch, h, w), [n, h, w, ch]);
      let pick: tf.Tensor | undefined;
      try {
        const k = side(name).num_classes;
        const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(targets, 'int32'), k).toFloat());
        pick = onehot;
        const layers = [...c.keys()].filter((key) => key.startsWith('attr/original/grad/')).map((key) => key.slice('attr/original/grad/'.length));
        expect(layers.length).toBeGreaterThan(0);
        for (const layer of layers) {
          const ours = tf.tidy(() => {
            const a = model.forwardTo(layer, x);
            const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(model.forward(x, { layer: (l, y) => (l === layer ? (v as tf.Tensor4D) : y) }), onehot)))(a);
            const [gn, gh, gw, gc] = g.shape as [number, number, number, number];
            return nhwcToNchw(g.dataSync() as Float32Array, gn, gh, gw, gc);
          });
          const err = relErr(ours, c.get(`attr/original/grad/${layer}`)!.data as Float32Array);
          console.log(`[onnx] ${name}: grad at ${layer} max rel err ${err.toExponential(2)}`);
          expect(err, layer).toBeLessThanOrEqual(1e-4);
        }
      } finally {
        pick?.dispose();
        x.dispose();
        model.dispose();
      }
    });
  }

  it('a truncated ONNX file is refused as truncated, naming the file', async () => {
    const bytes = readFileSync(`${DIR}vgg_small_bn_c2.onnx`);
    const e = await sdsError(() => parseOnnx(bytes.subarray(0, Math.floor(bytes.length / 2)), 'vgg_small_bn_c2.onnx'));
    expect(e.code).toBe('WEIGHTS_TRUNCATED');
    expect(e.message).toMatch(/vgg_small_bn_c2\.onnx is truncated/);
  });

  it('a file that is not ONNX is refused, naming the file', async () => {
    for (const f of ['vgg_small_bn_c2.json', 'vgg_small_bn_c2.case.safetensors', 'README.md']) {
      const e = await sdsError(() => readOnnx(`${DIR}${f}`));
      expect(e.code, f).toBe('NOT_A_WEIGHTS_FILE');
      expect(e.message).toContain(`${f} is not an ONNX model`);
    }
  });
});

describe('ONNX import errors (no fixtures needed)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  /** A tiny model: input x (N,3,4,4) -> Relu -> <op> -> y. */
  function tinyModel(opType: string, names = ['/body/Relu', '/head/Fancy']): Uint8Array {
    const dim = (v: number | string) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v });
    const info = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map(dim) } } } });
    return onnx.ModelProto.encode({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'tiny',
        node: [
          { name: names[0], opType: 'Relu', input: ['x'], output: ['/body/Relu_output_0'] },
          { name: names[1], opType, input: ['/body/Relu_output_0'], output: ['y'] },
        ],
        input: [info('x', ['batch', 3, 4, 4])],
        output: [info('y', ['batch', 3, 4, 4])],
      },
    }).finish();
  }

  it('an unsupported op is refused, naming the op type and the node', async () => {
    const before = tf.memory().numTensors;
    const e = await sdsError(() => new OnnxModel(parseOnnx(tinyModel('LpNormalization'), 'tiny.onnx')));
    expect(e.code).toBe('WEIGHTS_UNSUPPORTED');
    expect(e.message).toMatch(/tiny\.onnx: node \/head\/Fancy uses op LpNormalization/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a tiny supported graph runs, names its layers and disposes everything', () => {
    const before = tf.memory().numTensors;
    const model = new OnnxModel(parseOnnx(tinyModel('Sigmoid'), 'tiny.onnx'));
    try {
      expect(model.layerNames).toEqual(['input', 'body', 'head']);
      const data = Float32Array.from({ length: 48 }, (_, i) => i / 8 - 3);
      const out = model.run({ data, shape: [1, 3, 4, 4] }, ['body']);
      expect(out.logits.shape).toEqual([1, 3, 4, 4]);
      expect(out.logits.data[0]).toBeCloseTo(1 / (1 + Math.exp(-0)), 6);
      expect(out.logits.data[47]).toBeCloseTo(1 / (1 + Math.exp(-(47 / 8 - 3))), 6);
      expect(out.layers.get('body')!.data[47]).toBeCloseTo(47 / 8 - 3, 6);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a graph without module scopes (a frozen TorchScript export) names its layers by node', () => {
    const model = new OnnxModel(parseOnnx(tinyModel('Sigmoid', ['Relu_0', '/Sigmoid_1']), 'flat.onnx'));
    try {
      expect(model.layerNames).toEqual(['input', 'Relu_0', 'Sigmoid_1']);
    } finally {
      model.dispose();
    }
  });

  it('a truncated or foreign buffer is refused with the right code', async () => {
    const bytes = tinyModel('Sigmoid');
    expect((await sdsError(() => parseOnnx(bytes.subarray(0, bytes.length - 3), 'a.onnx'))).code).toBe('WEIGHTS_TRUNCATED');
    expect((await sdsError(() => parseOnnx(new TextEncoder().encode('hello, not a model\n'), 'b.onnx'))).code).toBe('NOT_A_WEIGHTS_FILE');
    expect((await sdsError(() => parseOnnx(new Uint8Array(), 'c.onnx'))).message).toMatch(/c\.onnx is not an ONNX model \(the file is empty\)/);
  });
});
