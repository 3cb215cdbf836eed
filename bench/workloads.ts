/**
 * The speed workloads, the same as ../shared/bench/torch_reference.py (random weights, the
 * backward-hook variant, no weight gradients), so our ms/patch can be quoted as a ratio.
 */
import { randomModel, tf, type Model, type Tensor4D } from '../models/index.js';
import { createMethod, VariantModel } from '../saliency/index.js';

export interface Workload {
  name: string;
  /** Patches per timed call. */
  patches: number;
  setup(): { run: () => Promise<void>; dispose: () => void };
}

function withModel(arch: string, size: number, batch: number, body: (m: Model, x: Tensor4D) => Promise<void>): () => { run: () => Promise<void>; dispose: () => void } {
  return () => {
    const base = randomModel(arch, 2, 1);
    const model = new VariantModel(base, 'backward-hook');
    const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 7) as Tensor4D;
    return {
      run: () => body(model, x),
      dispose: () => {
        x.dispose();
        base.dispose();
      },
    };
  };
}

async function attributeAndRelease(model: Model, method: 'grad' | 'deeplift' | 'ig', x: Tensor4D, layers: string[], steps?: number): Promise<void> {
  const res = await createMethod(method, model).attribute(x, { layers, targets: [1], steps, internalBatchSize: 10 });
  for (const a of res.attributions.values()) {
    await a.data();
    a.dispose();
  }
}

export const WORKLOADS: Workload[] = [
  {
    name: 'resnet18_256_forward',
    patches: 16,
    setup: withModel('resnet18', 256, 16, async (m, x) => {
      const y = tf.tidy(() => m.forward(x));
      await y.data();
      y.dispose();
    }),
  },
  { name: 'resnet18_256_grad_all', patches: 16, setup: withModel('resnet18', 256, 16, (m, x) => attributeAndRelease(m, 'grad', x, ['1_1', '2_1', '3_1', '4_1'])) },
  { name: 'resnet18_256_deeplift_2_1', patches: 16, setup: withModel('resnet18', 256, 16, (m, x) => attributeAndRelease(m, 'deeplift', x, ['2_1'])) },
  { name: 'resnet18_256_ig_2_1', patches: 1, setup: withModel('resnet18', 256, 1, (m, x) => attributeAndRelease(m, 'ig', x, ['2_1'], 50)) },
  { name: 'unet34_1536_grad_all', patches: 1, setup: withModel('unet-resnet34', 1536, 1, (m, x) => attributeAndRelease(m, 'grad', x, ['1_2', '2_3', '3_5', '4_2'])) },
];

/** Median ms per patch over `reps` timed calls after one warm-up. */
export async function timeWorkload(w: Workload, reps: number): Promise<number> {
  const { run, dispose } = w.setup();
  try {
    await run();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run();
      times.push((performance.now() - t0) / w.patches);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    dispose();
  }
}

/** RSS and live tensors after `first` and after `total` patches of the grad_all workload. */
export async function soak(first: number, total: number, onProgress?: (done: number) => void): Promise<{ at: number; rssMb: number; tensors: number }[]> {
  const w = WORKLOADS[1]!;
  const { run, dispose } = w.setup();
  const out: { at: number; rssMb: number; tensors: number }[] = [];
  try {
    for (let done = 0; done < total; ) {
      await run();
      done += w.patches;
      onProgress?.(done);
      if ((done >= first && !out.length) || done >= total) out.push({ at: done, rssMb: process.memoryUsage().rss / 2 ** 20, tensors: tf.memory().numTensors });
    }
    return out;
  } finally {
    dispose();
  }
}
