import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine, tf, type Tensor4D } from '../../models/index.js';
import { addSame, concatChannels, relu } from '../../models/layers.js';
import { customUnary } from '../../models/tf.js';

// The model's own ops keep only what their backward pass needs, and release gradients as soon as
// they are used: tfjs would otherwise hold every intermediate gradient until the pass ends (what
// kept a 1536 px U-Net from fitting in one WASM instance).
describe('streaming backward pass of the model ops', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  /** A deep chain of relu / residual add / concat, with live-tensor probes in its backward pass. */
  function chain(depth: number, x: Tensor4D, seen: number[]): tf.Scalar {
    let y = x;
    for (let i = 0; i < depth; i++) {
      // the first half of the channels, recording the live tensors when the gradient passes
      const half = customUnary<Tensor4D>((v) => ({
        value: tf.slice(v, [0, 0, 0, 0], [-1, -1, -1, 4]),
        gradFunc: (dy) => {
          seen.push(tf.memory().numTensors);
          return tf.pad(dy, [[0, 0], [0, 0], [0, 0], [0, 4]]);
        },
      }));
      const a = relu(y);
      const b = addSame(a, y);
      y = half(concatChannels([b, a]));
    }
    return tf.sum(y);
  }

  it('live tensors do not grow while the gradient travels down, whatever the depth', () => {
    const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1) as Tensor4D;
    const growth = (depth: number) => {
      const seen: number[] = [];
      const g = tf.grad((v: tf.Tensor) => chain(depth, v as Tensor4D, seen))(x);
      g.dispose();
      // seen[0] is the top of the network: from there on nothing may pile up
      return Math.max(...seen.map((n) => n - seen[0]!));
    };
    const shallow = growth(5);
    const deep = growth(40);
    expect(deep).toBeLessThanOrEqual(shallow + 2);
    expect(deep).toBeLessThanOrEqual(4);
    x.dispose();
  });

  it('gradients equal those of tfjs own ops (relu, add, concat)', async () => {
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 2) as Tensor4D;
    const f = (ours: boolean) => (v: tf.Tensor) => {
      const t = v as Tensor4D;
      const a = ours ? relu(tf.sub(t, 0.2) as Tensor4D) : tf.relu(tf.sub(t, 0.2));
      const b = ours ? addSame(a as Tensor4D, t) : tf.add(a, t);
      const c = ours ? concatChannels([b as Tensor4D, a as Tensor4D]) : tf.concat([b, a], 3);
      return tf.sum(tf.mul(c, tf.range(1, 7).reshape([1, 1, 1, 6])));
    };
    const [g1, g2] = [tf.grad(f(true))(x), tf.grad(f(false))(x)];
    expect(Array.from(await g1.data())).toEqual(Array.from(await g2.data()));
    for (const t of [x, g1, g2]) t.dispose();
  });
});
