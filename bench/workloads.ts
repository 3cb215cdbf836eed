/**
 * The speed workloads, the same as ../shared/bench/torch_reference.py (random weights, the
 * backward-hook variant, no weight gradients), so our ms/patch can be quoted as a ratio.
 */
import type { ModelSpec } from '../contracts/index.js';
import { randomModel, seededNormal, tf, type Tensor4D } from '../models/index.js';
import { createMethod, VariantModel } from '../saliency/index.js';

/** The same workloads as data, for the worker pool. */
export interface PoolWorkload {
  name: string;
  arch: string;
  size: number;
  batch: number;
  method?: 'grad' | 'deeplift' | 'ig';
  layers?: string[];
  steps?: number;
  /**
   * The same workload on torchvision's network exported by torch.onnx (bench/onnx-workload.ts):
   * the native workload it is compared with; `layers` are then module paths (`layer2.1` = `2_1`).
   */
  onnxOf?: string;
}

export const POOL_WORKLOADS: PoolWorkload[] = [
  { name: 'resnet18_256_forward', arch: 'resnet18', size: 256, batch: 16 },
  { name: 'resnet18_256_grad_all', arch: 'resnet18', size: 256, batch: 16, method: 'grad', layers: ['1_1', '2_1', '3_1', '4_1'] },
  { name: 'onnx_resnet18_256_grad_all', arch: 'resnet18', size: 256, batch: 16, method: 'grad', layers: ['layer1.1', 'layer2.1', 'layer3.1', 'layer4.1'], onnxOf: 'resnet18_256_grad_all' },
  { name: 'resnet18_256_deeplift_2_1', arch: 'resnet18', size: 256, batch: 16, method: 'deeplift', layers: ['2_1'] },
  { name: 'resnet18_256_ig_2_1', arch: 'resnet18', size: 256, batch: 1, method: 'ig', layers: ['2_1'], steps: 50 },
  { name: 'unet34_1536_grad_all', arch: 'unet-resnet34', size: 1536, batch: 1, method: 'grad', layers: ['1_2', '2_3', '3_5', '4_2'] },
];

/**
 * ms per patch with every worker busy: after one warm-up task per worker, `reps` tasks per worker
 * run concurrently and the wall time is divided by all their patches.
 */
export async function timeOnPool(w: PoolWorkload, workers: number, reps: number, engine?: string, model?: ModelSpec): Promise<number> {
  const { WorkerPool } = await import('../pool/index.js');
  const pool = await WorkerPool.create({ model: model ?? { kind: 'random', arch: w.arch, classes: 2, seed: 1 }, variant: 'backward-hook', size: workers, engine });
  try {
    const r = seededNormal(7);
    const batch = () => Float32Array.from({ length: w.batch * 3 * w.size * w.size }, r);
    const task = (data: Float32Array) =>
      w.method
        ? pool.attribute({ method: w.method, data, shape: [w.batch, 3, w.size, w.size], layers: w.layers!, targets: [1], steps: w.steps, internalBatchSize: 10 })
        : pool.forward({ data, shape: [w.batch, 3, w.size, w.size] });
    const warm = Array.from({ length: pool.size }, batch);
    await Promise.all(warm.map(task));
    const inputs = Array.from({ length: pool.size * reps }, batch);
    const t0 = performance.now();
    await Promise.all(inputs.map(task));
    return (performance.now() - t0) / (inputs.length * w.batch);
  } finally {
    await pool.close();
  }
}

/** RSS and live tensors after `first` and after `total` patches of the grad_all workload. */
export async function soak(first: number, total: number, onProgress?: (done: number) => void): Promise<{ at: number; rssMb: number; tensors: number }[]> {
  const base = randomModel('resnet18', 2, 1);
  const model = new VariantModel(base, 'backward-hook');
  const x = tf.randomNormal([16, 256, 256, 3], 0, 1, 'float32', 7) as Tensor4D;
  const dispose = () => {
    x.dispose();
    base.dispose();
  };
  const out: { at: number; rssMb: number; tensors: number }[] = [];
  try {
    for (let done = 0; done < total; ) {
      const res = await createMethod('grad', model).attribute(x, { layers: ['1_1', '2_1', '3_1', '4_1'], targets: [1] });
      for (const a of res.attributions.values()) a.dispose();
      done += 16;
      onProgress?.(done);
      if ((done >= first && !out.length) || done >= total) out.push({ at: done, rssMb: process.memoryUsage().rss / 2 ** 20, tensors: tf.memory().numTensors });
    }
    return out;
  } finally {
    dispose();
  }
}
