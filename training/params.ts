/**
 * The trainable parameters and BatchNorm buffers of a network, by PyTorch state_dict name.
 * Values come through the models' own `ParamBinder` (a state_dict, or an init for what it lacks),
 * and go back out in PyTorch layout, so a trained network loads through `buildModel` unchanged.
 */
import { oihwToHwio, ParamBinder, type ParamInit } from '../models/params.js';
import { tf, type Tensor, type WritableTensor } from '../models/index.js';
import type { StateDict } from '../models/weights/types.js';

/** How a parameter is stored in the engine: conv HWIO, linear (in,out), vectors as they are. */
type Layout = 'conv' | 'linear' | 'vector';

export interface ParamEntry {
  variable: tf.Variable;
  layout: Layout;
  /** PyTorch shape. */
  shape: readonly number[];
}

export class ParamStore {
  /** Trainable: conv / linear weights and biases, BatchNorm weight and bias. */
  readonly params = new Map<string, ParamEntry>();
  /** Not trained by gradients: BatchNorm running_mean / running_var. */
  readonly buffers = new Map<string, ParamEntry>();
  /** Keys in creation order: the order a state_dict lists them. */
  private readonly order: string[] = [];
  private readonly binder: ParamBinder;
  /** Training steps (BatchNorm updates) taken, exported as num_batches_tracked. */
  batchesTracked = 0;

  constructor(sd: StateDict, source: string, arch: string, init?: ParamInit) {
    this.binder = new ParamBinder(sd, source, arch, init);
  }

  private add(into: Map<string, ParamEntry>, key: string, shape: readonly number[], layout: Layout): tf.Variable {
    const values = this.binder.take(key, shape);
    let t: Tensor;
    if (layout === 'conv') {
      const [o, i, kh, kw] = shape as [number, number, number, number];
      t = tf.tensor4d(oihwToHwio(values, o, i, kh, kw), [kh, kw, i, o]);
    } else if (layout === 'linear') {
      const [o, i] = shape as [number, number];
      t = tf.transpose(tf.tensor2d(values, [o, i]));
    } else {
      t = tf.tensor1d(values);
    }
    const variable = tf.variable(t, into === this.params);
    t.dispose();
    into.set(key, { variable, layout, shape });
    this.order.push(key);
    return variable;
  }

  conv(key: string, shape: readonly number[]): tf.Variable {
    return this.add(this.params, key, shape, 'conv');
  }

  linear(key: string, shape: readonly number[]): tf.Variable {
    return this.add(this.params, key, shape, 'linear');
  }

  vector(key: string, length: number): tf.Variable {
    return this.add(this.params, key, [length], 'vector');
  }

  /** gamma, beta (trained) and the running statistics (buffers) of BatchNorm `name`. */
  batchNorm(name: string, channels: number): { gamma: tf.Variable; beta: tf.Variable; runningMean: tf.Variable; runningVar: tf.Variable } {
    return {
      gamma: this.vector(`${name}.weight`, channels),
      beta: this.vector(`${name}.bias`, channels),
      runningMean: this.add(this.buffers, `${name}.running_mean`, [channels], 'vector'),
      runningVar: this.add(this.buffers, `${name}.running_var`, [channels], 'vector'),
    };
  }

  /** Throws WEIGHTS_MISMATCH if the state_dict had keys this network does not use. */
  finish(): void {
    this.binder.finish();
  }

  /** Parameters whose decoupled weight decay applies (conv and linear weights, not biases or BN). */
  decays(key: string): boolean {
    const e = this.params.get(key);
    return e !== undefined && e.layout !== 'vector' && key.endsWith('.weight');
  }

  /** Everything in PyTorch layout, in state_dict order (creation order), F32 (or F16 with `dtype`). */
  async toStateDict(dtype: 'F32' | 'F16' = 'F32'): Promise<Map<string, WritableTensor>> {
    const out = new Map<string, WritableTensor>();
    for (const key of this.order) {
      const e = this.params.get(key) ?? this.buffers.get(key)!;
      out.set(key, { shape: [...e.shape], data: await torchLayout(e), dtype });
      if (key.endsWith('.running_var')) out.set(`${key.slice(0, -'running_var'.length)}num_batches_tracked`, { shape: [], data: BigInt64Array.of(BigInt(this.batchesTracked)) });
    }
    return out;
  }

  dispose(): void {
    for (const e of [...this.params.values(), ...this.buffers.values()]) e.variable.dispose();
    this.params.clear();
    this.buffers.clear();
  }
}

async function torchLayout(e: ParamEntry): Promise<Float32Array> {
  const data = (await e.variable.data()) as Float32Array;
  if (e.layout === 'vector') return Float32Array.from(data);
  if (e.layout === 'linear') {
    const [o, i] = e.shape as [number, number];
    const out = new Float32Array(o * i);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[a * i + b] = data[b * o + a]!;
    return out;
  }
  const [o, i, kh, kw] = e.shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let b = 0; b < i; b++) for (let a = 0; a < o; a++) out[((a * i + b) * kh + y) * kw + x] = data[((y * kw + x) * i + b) * o + a]!;
  return out;
}
