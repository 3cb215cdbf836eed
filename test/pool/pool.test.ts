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

  it('a batch that does not fit the engine is split until it does: the same bytes as an unsplit run', async () => {
    const model = { kind: 'random' as const, arch: 'resnet18', classes: 3, seed: 4 };
    const r = seededNormal(7);
    const data = Float32Array.from({ length: 8 * 3 * 64 * 64 }, r);
    const task = { method: 'deeplift' as const, shape: [8, 3, 64, 64] as [number, number, number, number], layers: ['input', '2_0'], variant: 'backward-hook' as const };
    // the engine heap one image needs, and eight, each measured on a fresh worker
    const heapFor = async (n: number) => {
      const p = await WorkerPool.create({ model, variant: 'original', size: 1 });
      try {
        await p.attribute({ ...task, data: data.slice(0, n * 3 * 64 * 64), shape: [n, 3, 64, 64] });
        return p.peakHeapBytes;
      } finally {
        await p.close();
      }
    };
    const [one, eight] = [await heapFor(1), await heapFor(8)];
    expect(eight).toBeGreaterThan(one);
    const whole = await WorkerPool.create({ model, variant: 'original', size: 1 });
    // a budget between the two: eight images fail, fewer fit
    const tight = await WorkerPool.create({ model, variant: 'original', size: 2, heapBudgetBytes: Math.round((one + eight) / 2) });
    try {
      const a = await whole.attribute({ ...task, data });
      const b = await tight.attribute({ ...task, data });
      expect(tight.splits).toBeGreaterThan(0);
      expect(tight.replaced).toBeGreaterThan(0);
      expect(b.targets).toEqual(a.targets);
      for (const [i, l] of a.layers.entries()) {
        expect(b.layers[i]!.shape).toEqual(l.shape);
        expect(Buffer.from(b.layers[i]!.attr.buffer).equals(Buffer.from(l.attr.buffer)), l.layer).toBe(true);
        expect(Buffer.from(b.layers[i]!.map.buffer).equals(Buffer.from(l.map.buffer)), l.layer).toBe(true);
      }
      // a task estimated to hold fewer images goes in pieces at once: no engine fails, the same bytes
      const splits = whole.splits;
      const d = await whole.attribute({ ...task, data }, { maxImages: 3 });
      expect(whole.splits).toBeGreaterThan(splits);
      expect(whole.replaced).toBe(0);
      for (const [i, l] of a.layers.entries()) expect(Buffer.from(d.layers[i]!.attr.buffer).equals(Buffer.from(l.attr.buffer)), l.layer).toBe(true);
      // the size that failed is remembered: the next batch of this kind is split at once, no engine fails
      const replaced = tight.replaced;
      const c = await tight.attribute({ ...task, data });
      expect(tight.replaced).toBe(replaced);
      expect(Array.from(c.layers[0]!.attr)).toEqual(Array.from(a.layers[0]!.attr));
    } finally {
      await Promise.all([whole.close(), tight.close()]);
    }
  });

  it('one image that exhausts the 4 GiB of a WASM instance fails clearly (after one retry) naming real options, and the pool goes on', async () => {
    const pool = await WorkerPool.create({ model: { kind: 'random', arch: 'resnet18', classes: 3, seed: 4 }, variant: 'original', size: 1 });
    try {
      // the stem's output alone is 3072 x 3072 x 64 floats = 2.25 GiB, and BatchNorm needs another
      const t0 = performance.now();
      const err = await pool.forward({ data: new Float32Array(3 * 6144 * 6144), shape: [1, 3, 6144, 6144] }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OUT_OF_MEMORY' });
      expect((err as Error).message).toMatch(/single 6144 x 6144 px image twice.*4 GiB/);
      expect((err as { suggestion: string }).suggestion).toMatch(/--patch/);
      expect((err as { suggestion: string }).suggestion).not.toMatch(/--patch-size/);
      expect(pool.replaced).toBe(2);
      const ok = await pool.forward({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] });
      expect(ok.shape).toEqual([1, 3]);
      expect(performance.now() - t0).toBeLessThan(120_000);
    } finally {
      await pool.close();
    }
  });
});
