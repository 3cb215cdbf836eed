/**
 * `OnnxModel.prepareFrom` when the graph reads the batch size before the layer (`n = x.size(0)`
 * ... `y.view(n, -1)`): the kept shape value must follow the batch of the values run from the layer
 * (Integrated Gradients runs k interpolation points per image), not be tiled like a tensor. Truth:
 * running from the layer's own value, tiled, equals the forward pass of the tiled input.
 */
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine, tf, type Tensor4D } from '../../models/index.js';
import { OnnxModel, parseOnnx } from '../../models/onnx/index.js';

const { onnx } = onnxProto;

/** x (N,2,3,3) -> n = Shape(x)[0]; a = Relu(x) (module `a`); y = Reshape(a, [n, -1]) -> (N, 18). */
function batchReadingModel(): Uint8Array {
  const dim = (v: number | string) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v });
  const info = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map(dim) } } } });
  const int64 = (name: string, values: number[], dims: number[]) => ({ name, dataType: 7, dims, int64Data: values });
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'batch-reading',
      initializer: [int64('zero', [0], []), int64('axes0', [0], [1]), int64('minus1', [-1], [1])],
      node: [
        { name: '/Shape', opType: 'Shape', input: ['x'], output: ['/Shape_output_0'] },
        { name: '/Gather', opType: 'Gather', input: ['/Shape_output_0', 'zero'], output: ['/Gather_output_0'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
        { name: '/Unsqueeze', opType: 'Unsqueeze', input: ['/Gather_output_0', 'axes0'], output: ['/Unsqueeze_output_0'] },
        { name: '/Concat', opType: 'Concat', input: ['/Unsqueeze_output_0', 'minus1'], output: ['/Concat_output_0'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
        { name: '/a/Relu', opType: 'Relu', input: ['x'], output: ['/a/Relu_output_0'] },
        { name: '/Reshape', opType: 'Reshape', input: ['/a/Relu_output_0', '/Concat_output_0'], output: ['y'] },
      ],
      input: [info('x', ['batch', 2, 3, 3])],
      output: [info('y', ['batch', 18])],
    },
  }).finish();
}

describe('OnnxModel.prepareFrom with a batch size read before the layer', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  it('runs from the layer at another batch size as the forward pass of the tiled input does', () => {
    const model = new OnnxModel(parseOnnx(batchReadingModel(), 'batch-reading.onnx'));
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(Float32Array.from({ length: 18 }, (_, i) => i / 4 - 2), [1, 3, 3, 2]) as Tensor4D;
    const start = model.prepareFrom('a', x);
    try {
      for (const k of [1, 3]) {
        const got = tf.tidy(() => start.run(tf.tile(start.value, [k, 1, 1, 1]) as Tensor4D));
        const want = tf.tidy(() => model.forward(tf.tile(x, [k, 1, 1, 1]) as Tensor4D));
        expect(got.shape).toEqual([k, 18]);
        expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
        tf.dispose([got, want]);
      }
    } finally {
      start.dispose();
      x.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(model.deepLiftObstacle).toBeUndefined(); // the shape arithmetic is not a nonlinearity
    model.dispose();
  });
});
