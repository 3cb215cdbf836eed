/**
 * ONNX ops beyond the four reference CNNs (issue #16): small PyTorch nets exported by
 * test/fixtures/onnx-ops/make.py at opsets 9, 11, 13, 14 and 17 (Clip as attributes and inputs,
 * HardSwish, LeakyRelu, Tanh, Softmax, MatMul, Reshape/Transpose/Squeeze/Unsqueeze, ReduceMean,
 * Resize/Upsample, Slice/Gather/Expand, the Shape subgraphs of a dynamic batch, constant folding)
 * reproduce PyTorch's output and input gradient at batch 2 and 1 and release every tensor; crafted
 * graphs check what torch.onnx does not emit (Dropout, NCHW Shape values, host Range), unsupported
 * ops, and the reader's limits on hostile files.
 */
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../core/errors.js';
import { initEngine, nchwToNhwc, nhwcToNchw, readSafetensors, tf, type HostTensor, type Tensor4D } from '../../models/index.js';
import { OnnxModel, parseOnnx, readOnnx, SUPPORTED_OPS } from '../../models/onnx/index.js';
import { ONNX_LIMITS } from '../../models/weights/limits.js';
import { relErr } from '../support/shared.js';
import { sdsError } from '../support/sds-error.js';

const DIR = fileURLToPath(new URL('../fixtures/onnx-ops/', import.meta.url));
const MODELS = ['legacy_o9', 'ops_net_o11', 'ops_net_o14', 'tensor_ops_o11', 'tensor_ops_o13', 'unet_o17'] as const;
const { onnx } = onnxProto;

/** Host NCHW (or 2-D) data as the engine's layout. */
function toEngine(t: HostTensor, batch?: number): tf.Tensor {
  const shape = [...t.shape];
  const n = batch ?? shape[0]!;
  const data = (t.data as Float32Array).subarray(0, (t.data.length / shape[0]!) * n);
  shape[0] = n;
  if (shape.length !== 4) return tf.tensor(data, shape);
  const [, c, h, w] = shape as [number, number, number, number];
  return tf.tensor4d(nchwToNhwc(data, n, c, h, w), [n, h, w, c]);
}

/** An engine tensor as host data in PyTorch layout. */
function toTorch(t: tf.Tensor): Float32Array {
  const d = t.dataSync() as Float32Array;
  if (t.rank !== 4) return Float32Array.from(d);
  const [n, h, w, c] = t.shape as [number, number, number, number];
  return nhwcToNchw(d, n, h, w, c);
}

describe('ONNX ops reproduce PyTorch (test/fixtures/onnx-ops)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  for (const name of MODELS) {
    it(`${name}: output and input gradient at batch 2 and 1, every tensor released`, async () => {
      const c = (await readSafetensors(`${DIR}${name}.safetensors`)).tensors;
      const start = tf.memory().numTensors;
      const model = new OnnxModel(await readOnnx(`${DIR}${name}.onnx`));
      try {
        for (const batch of [2, 1]) {
          const x = toEngine(c.get('input')!, batch) as Tensor4D;
          const w = toEngine(c.get('weights')!, batch);
          const per = c.get('output')!.data.length / 2;
          const perIn = c.get('input')!.data.length / 2;
          try {
            const pass = () =>
              tf.tidy(() => {
                const y = model.forward(x);
                const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(model.forward(v as Tensor4D), w)))(x);
                return [toTorch(y), toTorch(g)] as const;
              });
            pass(); // the first gradient pass may cache model-owned tensors (conv gradient filters)
            const before = tf.memory().numTensors;
            const [y, g] = pass();
            expect(tf.memory().numTensors, 'tensors after a forward and a gradient pass').toBe(before);
            const errY = relErr(y, (c.get('output')!.data as Float32Array).subarray(0, per * batch));
            const errG = relErr(g, (c.get('grad_input')!.data as Float32Array).subarray(0, perIn * batch));
            console.log(`[onnx-ops] ${name} batch ${batch}: output ${errY.toExponential(2)}, input gradient ${errG.toExponential(2)}`);
            expect(errY).toBeLessThanOrEqual(1e-4);
            expect(errG).toBeLessThanOrEqual(1e-4);
          } finally {
            x.dispose();
            w.dispose();
          }
        }
      } finally {
        model.dispose();
      }
      expect(tf.memory().numTensors).toBe(start);
    });
  }

  it('SUPPORTED_OPS names every op of issue #16 and the shape ops torch.onnx emits', () => {
    const wanted = ['Clip', 'HardSwish', 'LeakyRelu', 'Tanh', 'Softmax', 'MatMul', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'ReduceMean', 'Resize', 'Upsample', 'Dropout', 'Identity', 'Cast', 'Shape', 'Gather', 'Slice', 'Concat', 'ConstantOfShape', 'Expand'];
    expect(SUPPORTED_OPS).toEqual(expect.arrayContaining(wanted));
  });
});

/** ONNX helpers for crafted graphs. */
const dim = (v: number | string) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v });
const info = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map(dim) } } } });
const ints = (name: string, values: number[]) => ({ name, dataType: 7, dims: [values.length], int64Data: values });
type NodeSpec = { name: string; opType: string; input: string[]; output: string[]; attribute?: object[] };

function encode(nodes: NodeSpec[], outDims: (number | string)[], init: object[] = [], inDims: (number | string)[] = ['batch', 3, 5, 7], opset = 13): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'crafted', node: nodes, initializer: init, input: [info('x', inDims)], output: [info('y', outDims)] },
  } as Parameters<typeof onnx.ModelProto.encode>[0]).finish();
}

describe('ONNX ops on crafted graphs (analytic truths)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  it('Dropout (eval) and Identity pass values and gradients through', () => {
    const bytes = encode(
      [
        { name: '/drop/Dropout', opType: 'Dropout', input: ['x', 'ratio'], output: ['d'] },
        { name: '/Identity', opType: 'Identity', input: ['d'], output: ['y'] },
      ],
      ['batch', 3, 5, 7],
      [{ name: 'ratio', dataType: 1, dims: [], floatData: [0.5] }],
    );
    const start = tf.memory().numTensors;
    const model = new OnnxModel(parseOnnx(bytes, 'dropout.onnx'));
    const x = tf.randomNormal([2, 5, 7, 3]) as Tensor4D;
    const w = tf.randomNormal([2, 5, 7, 3]);
    try {
      const [y, g] = tf.tidy(() => [model.forward(x).dataSync(), tf.grad((v: tf.Tensor) => tf.sum(tf.mul(model.forward(v as Tensor4D), w)))(x).dataSync()]);
      expect(relErr(y!, x.dataSync())).toBe(0);
      expect(relErr(g!, w.dataSync())).toBe(0);
    } finally {
      x.dispose();
      w.dispose();
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  });

  it('Shape of an NHWC tensor reports NCHW dims; Gather, Cast and Range on them run on the host per batch', () => {
    // y = mean_hw(x) * float(shape(x)[1:4]) + float(range(0, shape(x)[1], 1)): (N, 3)
    const bytes = encode(
      [
        { name: '/ReduceMean', opType: 'ReduceMean', input: ['x'], output: ['m'], attribute: [{ name: 'axes', type: 7, ints: [2, 3] }, { name: 'keepdims', type: 2, i: 0 }] },
        { name: '/Shape', opType: 'Shape', input: ['x'], output: ['s'] },
        { name: '/Gather', opType: 'Gather', input: ['s', 'chw'], output: ['dims'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
        { name: '/Cast', opType: 'Cast', input: ['dims'], output: ['fdims'], attribute: [{ name: 'to', type: 2, i: 1 }] },
        { name: '/Mul', opType: 'Mul', input: ['m', 'fdims'], output: ['scaled'] },
        { name: '/Gather_1', opType: 'Gather', input: ['s', 'one'], output: ['c'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
        { name: '/Range', opType: 'Range', input: ['zero', 'c', 'one'], output: ['r'] },
        { name: '/Cast_1', opType: 'Cast', input: ['r'], output: ['fr'], attribute: [{ name: 'to', type: 2, i: 1 }] },
        { name: '/Add', opType: 'Add', input: ['scaled', 'fr'], output: ['y'] },
      ],
      ['batch', 3],
      [ints('chw', [1, 2, 3]), { name: 'one', dataType: 7, dims: [], int64Data: [1] }, { name: 'zero', dataType: 7, dims: [], int64Data: [0] }],
    );
    const start = tf.memory().numTensors;
    const model = new OnnxModel(parseOnnx(bytes, 'shape.onnx'));
    try {
      for (const n of [1, 3]) {
        const data = Float32Array.from({ length: n * 3 * 5 * 7 }, (_, i) => Math.sin(i));
        const out = model.run({ data, shape: [n, 3, 5, 7] });
        expect(out.logits.shape).toEqual([n, 3]);
        const want: number[] = [];
        for (let b = 0; b < n; b++)
          for (let ch = 0; ch < 3; ch++) {
            let s = 0;
            for (let p = 0; p < 35; p++) s += data[(b * 3 + ch) * 35 + p]!;
            want.push((s / 35) * [3, 5, 7][ch]! + ch);
          }
        expect(relErr(out.logits.data, want)).toBeLessThanOrEqual(1e-6);
      }
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  });

  it('Slice with negative and 3-wide steps and Gather with a negative index on NHWC tensors, with gradients', () => {
    // y = concat_W(x[:, :, 1:, ::-2], x[:, :, 1:, 0:7:3], x[:, :, 1:, -1:]) and its gradient: (N, 3, 4, 4 + 3 + 1)
    const tail = [{ name: 'axesW', dataType: 7, dims: [2], int64Data: [2, 3] }];
    const slice = (name: string, starts: number[], ends: number[], steps: number[]) => [
      ints(`${name}_s`, starts), ints(`${name}_e`, ends), ints(`${name}_t`, steps),
    ];
    const bytes = encode(
      [
        { name: '/Slice', opType: 'Slice', input: ['x', 'a_s', 'a_e', 'axesW', 'a_t'], output: ['a'] },
        { name: '/Slice_1', opType: 'Slice', input: ['x', 'b_s', 'b_e', 'axesW', 'b_t'], output: ['b'] },
        { name: '/Gather', opType: 'Gather', input: ['x', 'last'], output: ['g'], attribute: [{ name: 'axis', type: 2, i: 3 }] },
        { name: '/Unsqueeze', opType: 'Unsqueeze', input: ['g', 'three'], output: ['gu'] },
        { name: '/Slice_2', opType: 'Slice', input: ['gu', 'c_s', 'c_e', 'axesW'], output: ['c'] },
        { name: '/Concat', opType: 'Concat', input: ['a', 'b', 'c'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: 3 }] },
      ],
      ['batch', 3, 4, 8],
      [...tail, ...slice('a', [1, -1], [99, -99], [1, -2]), ...slice('b', [1, 0], [99, 7], [1, 3]), ints('c_s', [1, 0]), ints('c_e', [99, 1]), { name: 'last', dataType: 7, dims: [], int64Data: [-1] }, ints('three', [3])],
    );
    const start = tf.memory().numTensors;
    const model = new OnnxModel(parseOnnx(bytes, 'slice.onnx'));
    try {
      const n = 2;
      const data = Float32Array.from({ length: n * 3 * 5 * 7 }, (_, i) => i);
      const cols = [6, 4, 2, 0, 0, 3, 6, 6];
      const want: number[] = [];
      const grad = new Float32Array(data.length);
      for (let b = 0; b < n; b++)
        for (let ch = 0; ch < 3; ch++)
          for (let r = 1; r < 5; r++)
            for (const col of cols) {
              const at = ((b * 3 + ch) * 5 + r) * 7 + col;
              want.push(data[at]!);
              grad[at]! += 1;
            }
      const out = model.run({ data, shape: [n, 3, 5, 7] });
      expect(out.logits.shape).toEqual([n, 3, 4, 8]);
      expect(relErr(out.logits.data, want)).toBe(0);
      const x = tf.tensor4d(nchwToNhwc(data, n, 3, 5, 7), [n, 5, 7, 3]);
      const g = tf.tidy(() => toTorch(tf.grad((v: tf.Tensor) => tf.sum(model.forward(v as Tensor4D)))(x)));
      x.dispose();
      expect(relErr(g, grad)).toBe(0);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  });

  it('an op outside SUPPORTED_OPS is refused, naming the op type, the node and the supported ops', async () => {
    const bytes = encode([{ name: '/head/GridSample', opType: 'GridSample', input: ['x', 'x'], output: ['y'] }], ['batch', 3, 5, 7]);
    const start = tf.memory().numTensors;
    const e = await sdsError(() => new OnnxModel(parseOnnx(bytes, 'grid.onnx')));
    expect(e.code).toBe('WEIGHTS_UNSUPPORTED');
    expect(e.message).toMatch(/grid\.onnx: node \/head\/GridSample uses op GridSample/);
    expect(e.suggestion).toContain('Resize');
    expect(tf.memory().numTensors).toBe(start);
  });

  it('a supported op that cannot be folded on constants is refused naming the node', async () => {
    const bytes = encode(
      [
        { name: '/Softmax', opType: 'Softmax', input: ['k'], output: ['ks'] },
        { name: '/Mul', opType: 'Mul', input: ['x', 'ks'], output: ['y'] },
      ],
      ['batch', 3, 5, 7],
      [{ name: 'k', dataType: 1, dims: [1], floatData: [2] }],
    );
    const e = await sdsError(() => new OnnxModel(parseOnnx(bytes, 'fold.onnx')));
    expect(e.code).toBe('WEIGHTS_UNSUPPORTED');
    expect(e.message).toMatch(/node \/Softmax \(Softmax\): all inputs are constants/);
  });
});

describe('ONNX reader limits refuse hostile files before big allocations', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  const identities = (count: number): NodeSpec[] => Array.from({ length: count }, (_, i) => ({ name: `n${i}`, opType: 'Identity', input: [i === 0 ? 'x' : `t${i - 1}`], output: [i === count - 1 ? 'y' : `t${i}`] }));

  it('more nodes than ONNX_LIMITS.nodes', async () => {
    const e = await sdsError(() => parseOnnx(encode(identities(ONNX_LIMITS.nodes + 1), ['batch', 3, 5, 7]), 'nodes.onnx'));
    expect(e.code).toBe('WEIGHTS_TOO_LARGE');
    expect(e.message).toMatch(/nodes\.onnx: .*more than 100000 nodes.*ONNX_LIMITS\.nodes/);
  });

  it('more initializers than ONNX_LIMITS.initializers', async () => {
    const init = Array.from({ length: ONNX_LIMITS.initializers + 1 }, (_, i) => ({ name: `w${i}`, dataType: 1, dims: [] }));
    const e = await sdsError(() => parseOnnx(encode(identities(1), ['batch', 3, 5, 7], init), 'inits.onnx'));
    expect(e.code).toBe('WEIGHTS_TOO_LARGE');
    expect(e.message).toMatch(/ONNX_LIMITS\.initializers/);
  });

  it('dims past ONNX_LIMITS.tensorElements, initializerBytes and rank', async () => {
    const big = await sdsError(() => parseOnnx(encode(identities(1), ['batch', 3, 5, 7], [{ name: 'w', dataType: 1, dims: [1 << 20, 1 << 20] }]), 'big.onnx'));
    expect(big.code).toBe('WEIGHTS_TOO_LARGE');
    expect(big.message).toMatch(/initializer w has 1099511627776 elements .*ONNX_LIMITS\.tensorElements/);
    // the total is counted before each tensor is decoded: here at 16 bytes (4 values) instead of 1 GiB
    const small = { ...ONNX_LIMITS, initializerBytes: 16 };
    const three = { name: 'a', dataType: 1, dims: [3], floatData: [1, 2, 3] };
    const ok = parseOnnx(encode(identities(1), ['batch', 3, 5, 7], [three]), 'total.onnx', small);
    expect(ok.initializers.get('a')!.data).toEqual(Float32Array.of(1, 2, 3));
    const total = await sdsError(() => parseOnnx(encode(identities(1), ['batch', 3, 5, 7], [three, { ...three, name: 'b' }]), 'total.onnx', small));
    expect(total.code).toBe('WEIGHTS_TOO_LARGE');
    expect(total.message).toMatch(/total\.onnx: its initializers and tensor attributes decode to more than 16 bytes \(at initializer b\).*ONNX_LIMITS\.initializerBytes/);
    const rank = await sdsError(() => parseOnnx(encode(identities(1), ['batch', 3, 5, 7], [{ name: 'r', dataType: 1, dims: [1, 1, 1, 1, 1, 1, 1, 1, 1] }]), 'rank.onnx'));
    expect(rank.code).toBe('WEIGHTS_UNSUPPORTED');
    expect(rank.message).toMatch(/rank 9, past sds's limit of 8 \(ONNX_LIMITS\.rank\)/);
  });

  it('an attribute list past ONNX_LIMITS.attributeElements, subgraphs past ONNX_LIMITS.subgraphDepth', async () => {
    const pads = Array.from({ length: ONNX_LIMITS.attributeElements + 1 }, () => 0);
    const nodes = [{ name: '/Pad', opType: 'Pad', input: ['x'], output: ['y'], attribute: [{ name: 'pads', type: 7, ints: pads }] }];
    const e = await sdsError(() => parseOnnx(encode(nodes, ['batch', 3, 5, 7]), 'attr.onnx'));
    expect(e.code).toBe('WEIGHTS_TOO_LARGE');
    expect(e.message).toMatch(/ONNX_LIMITS\.attributeElements/);
    let body: object = { name: 'leaf', node: [] };
    for (let i = 0; i < ONNX_LIMITS.subgraphDepth + 2; i++) body = { name: `g${i}`, node: [{ name: `if${i}`, opType: 'If', input: ['x'], output: ['y'], attribute: [{ name: 'then_branch', type: 5, g: body }] }] };
    const deep = await sdsError(() => parseOnnx(encode([...(body as { node: NodeSpec[] }).node], ['batch', 3, 5, 7]), 'deep.onnx'));
    expect(deep.code).toBe('WEIGHTS_UNSUPPORTED');
    expect(deep.message).toMatch(/nested more than 8 deep \(ONNX_LIMITS\.subgraphDepth\)/);
  });

  it('values in typed fields past ONNX_LIMITS.typedFieldBytes (checked on the wire, not decoded)', async () => {
    // ModelProto { graph (7) { initializer (5) { float_data (4, packed) } } }, written by hand
    const len = (n: number) => {
      const out: number[] = [];
      for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
      out.push(n);
      return out;
    };
    const payload = ONNX_LIMITS.typedFieldBytes + 4;
    const field = (tag: number, size: number) => [tag, ...len(size)];
    const floatData = field(0x22, payload);
    const init = field(0x2a, floatData.length + payload);
    const graph = field(0x3a, init.length + floatData.length + payload);
    const bytes = new Uint8Array(graph.length + init.length + floatData.length + payload);
    bytes.set([...graph, ...init, ...floatData]);
    const e = await sdsError(() => parseOnnx(bytes, 'typed.onnx'));
    expect(e.code).toBe('WEIGHTS_TOO_LARGE');
    expect(e.message).toMatch(/more than 64 MiB of values in typed fields .*ONNX_LIMITS\.typedFieldBytes/);
  });

  it('a Resize or ConstantOfShape asking for a huge value is refused at load time, naming the node', async () => {
    const start = tf.memory().numTensors;
    const resize = encode(
      [{ name: '/up/Resize', opType: 'Resize', input: ['x', '', 'scales'], output: ['y'], attribute: [{ name: 'mode', type: 3, s: new TextEncoder().encode('nearest') }] }],
      ['batch', 3, 'h', 'w'],
      [{ name: 'scales', dataType: 1, dims: [4], floatData: [1, 1, 1e5, 1e5] }],
    );
    const e = await sdsError(() => new OnnxModel(parseOnnx(resize, 'resize.onnx')));
    expect(e.code).toBe('WEIGHTS_TOO_LARGE');
    expect(e.message).toMatch(/node \/up\/Resize \(Resize\) would make a value of .*ONNX_LIMITS\.valueElements/);
    const fill = encode(
      [
        { name: '/ConstantOfShape', opType: 'ConstantOfShape', input: ['shape'], output: ['z'] },
        { name: '/Add', opType: 'Add', input: ['x', 'z'], output: ['y'] },
      ],
      ['batch', 3, 5, 7],
      [ints('shape', [100000, 100000])],
    );
    const f = await sdsError(() => new OnnxModel(parseOnnx(fill, 'fill.onnx')));
    expect(f.code).toBe('WEIGHTS_TOO_LARGE');
    expect(f.message).toMatch(/node \/ConstantOfShape \(ConstantOfShape\) would make a value of 10000000000 elements .*ONNX_LIMITS\.hostElements/);
    expect(tf.memory().numTensors).toBe(start);
  });
});
