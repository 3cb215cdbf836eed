import { randomModel, tf } from '../models/index.js';

export interface BenchResult {
  workload: string;
  msPerPatch: number;
  patches: number;
}

/** ms per patch for a model forward pass on random input (after one warm-up batch). */
export async function benchForward(arch: string, size: number, batch: number, batches: number, numClasses = 2): Promise<BenchResult> {
  const model = randomModel(arch, numClasses, 1);
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  try {
    const once = async () => {
      const y = tf.tidy(() => model.forward(x));
      await y.data();
      y.dispose();
    };
    await once();
    const t0 = performance.now();
    for (let i = 0; i < batches; i++) await once();
    const ms = performance.now() - t0;
    return { workload: `${arch}_${size}_forward`, msPerPatch: ms / (batch * batches), patches: batch * batches };
  } finally {
    x.dispose();
    model.dispose();
  }
}
