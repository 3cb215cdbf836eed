import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, randomModel, seededNormal } from '../../models/index.js';
import { WorkerPool } from '../../pool/index.js';
import { attributeBatch, VariantModel } from '../../saliency/index.js';

describe('worker pool (one WASM engine per worker)', () => {
  let pool: WorkerPool;
  beforeAll(async () => {
    await initEngine({ announce: false });
    pool = await WorkerPool.create({ model: { kind: 'random', arch: 'resnet18', classes: 3, seed: 4 }, variant: 'backward-hook', size: 2 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('gives exactly the in-process attributions, batches spread over the workers', async () => {
    const r = seededNormal(3);
    const batches = Array.from({ length: 4 }, () => Float32Array.from({ length: 2 * 3 * 64 * 64 }, r));
    const fromPool = await Promise.all(batches.map((b) => pool.attribute({ method: 'deeplift', data: Float32Array.from(b), shape: [2, 3, 64, 64], layers: ['input', '2_0'] })));
    const base = randomModel('resnet18', 3, 4);
    try {
      const local = new VariantModel(base, 'backward-hook');
      for (const [i, b] of batches.entries()) {
        const mine = await attributeBatch(local, 'deeplift', b, [2, 3, 64, 64], { layers: ['input', '2_0'] });
        expect(fromPool[i]!.targets).toEqual(mine.targets);
        for (const l of fromPool[i]!.layers) {
          expect(l.shape).toEqual(mine.layers.get(l.layer)!.shape);
          expect(Array.from(l.attr)).toEqual(Array.from(mine.layers.get(l.layer)!.attr));
        }
      }
    } finally {
      base.dispose();
    }
  });

  it('a bad task rejects with the worker error, and the pool keeps working', async () => {
    await expect(pool.attribute({ method: 'grad', data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32], layers: ['9_9'] })).rejects.toThrow(/unknown layer "9_9"/);
    const ok = await pool.forward({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] });
    expect(ok.shape).toEqual([1, 3]);
  });
});

describe('worker pool: a failed or bloated engine is replaced, the task runs again', () => {
  it('a worker past its heap limit is replaced after its task; the results do not change', async () => {
    const model = { kind: 'random' as const, arch: 'resnet18', classes: 3, seed: 4 };
    const batch = () => Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i));
    const plain = await WorkerPool.create({ model, variant: 'original', size: 1 });
    const recycling = await WorkerPool.create({ model, variant: 'original', size: 1, recycleAboveBytes: 1 });
    try {
      for (let k = 0; k < 3; k++) {
        const [a, b] = await Promise.all([plain.forward({ data: batch(), shape: [2, 3, 32, 32] }), recycling.forward({ data: batch(), shape: [2, 3, 32, 32] })]);
        expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
      }
      expect(plain.replaced).toBe(0);
      expect(recycling.replaced).toBe(3);
    } finally {
      await Promise.all([plain.close(), recycling.close()]);
    }
  });

  it('a batch that exhausts the 4 GiB of a WASM instance fails clearly (after one retry), and the pool goes on', async () => {
    const pool = await WorkerPool.create({ model: { kind: 'random', arch: 'resnet18', classes: 3, seed: 4 }, variant: 'original', size: 1 });
    try {
      // the stem's output alone is 8 x 1024 x 1024 x 64 floats = 2 GiB, and BatchNorm needs another
      const t0 = performance.now();
      await expect(pool.forward({ data: new Float32Array(8 * 3 * 2048 * 2048), shape: [8, 3, 2048, 2048] })).rejects.toThrow(/failed on this batch twice.*4 GiB/);
      expect(pool.replaced).toBe(2);
      const ok = await pool.forward({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] });
      expect(ok.shape).toEqual([1, 3]);
      expect(performance.now() - t0).toBeLessThan(120_000);
    } finally {
      await pool.close();
    }
  });
});
