/** The engine-memory rule (models/engine-memory.ts) against the measurements it was fitted to. */
import { describe, expect, it } from 'vitest';
import { ENGINE_BUDGET_MIB, engineMiB, fittingBatch, largestPatch, type MemoryQuestion } from '../../models/index.js';
import type { ArchName } from '../../models/index.js';

const q = (arch: ArchName, layers: string[], methods: string[], variants: string[], patch = 256): MemoryQuestion => ({ arch, layers, methods, variants, patch });

describe('engine memory of a server job', () => {
  it('is at or above every measured peak heap, and under the budget where the run fitted', () => {
    // [question, images, measured MiB]
    const measured: [MemoryQuestion, number, number][] = [
      [q('resnet18', ['1_1', '2_1'], ['grad'], ['original'], 1024), 1, 673],
      [q('resnet18', ['1_1', '2_1'], ['grad'], ['original'], 2048), 1, 1853],
      [q('resnet18', ['1_1', '2_1'], ['grad'], ['original'], 2944), 1, 3624],
      [q('resnet18', ['1_1', '2_1'], ['grad'], ['original'], 512), 8, 853],
      [q('resnet18', ['input'], ['grad'], ['original'], 1024), 1, 3352],
      [q('resnet18', ['1_1', '2_1'], ['deeplift'], ['original'], 1024), 1, 1000],
      [q('resnet18', ['1_1', '2_1'], ['grad'], ['backward-hook'], 1024), 1, 783],
      [q('resnet18', ['1_1'], ['ig'], ['original'], 512), 1, 1540],
      [q('resnet34', ['1_1', '2_1'], ['grad'], ['original'], 1024), 1, 1129],
      [q('resnet50', ['1_1', '2_1'], ['grad'], ['original'], 1024), 1, 1739],
      [q('resnet50', ['input'], ['grad'], ['original'], 512), 1, 1418],
      [q('unet-resnet18', ['1_1'], ['grad'], ['original'], 1024), 1, 1542],
      [q('unet-resnet34', ['1_2', '2_3'], ['grad'], ['original'], 1024), 1, 1844],
      [q('unet-resnet34', ['input'], ['grad'], ['original'], 512), 1, 1641],
      [q('unet-resnet34', ['1_2', '2_3', '3_5', '4_2'], ['grad'], ['backward-hook'], 1536), 1, 3200],
      [q('unet-resnet50', ['1_1'], ['grad'], ['original'], 1024), 1, 2570],
    ];
    for (const [question, images, mib] of measured) {
      const est = engineMiB(question, images);
      const what = `${question.arch} ${question.methods} ${question.variants} ${question.layers} ${question.patch} x ${images}`;
      expect(est, what).toBeGreaterThanOrEqual(mib * 0.99);
      expect(est, what).toBeLessThanOrEqual(ENGINE_BUDGET_MIB * 1.03); // each of these ran (2944 px: just past the budget)
    }
  });

  it('refuses the 4096 px patch that died at 3.7 GB, and names the largest that fits', () => {
    const defaults = q('resnet18', ['1_1', '2_1'], ['grad'], ['original', 'backward-hook'], 4096);
    expect(engineMiB(defaults, 1)).toBeGreaterThan(ENGINE_BUDGET_MIB);
    expect(largestPatch(defaults)).toBe(2528);
    const largest: [ArchName, number, number, number, number][] = [
      // arch, grad at a block layer, at input, the defaults, ig at a block layer
      ['resnet18', 2880, 1024, 2528, 704],
      ['resnet34', 1824, 640, 1600, 448],
      ['resnet50', 1440, 512, 1280, 352],
      ['unet-resnet18', 1536, 544, 1344, 384],
      ['unet-resnet34', 1888, 672, 1664, 448],
      ['unet-resnet50', 1184, 416, 1056, 288],
    ];
    for (const [arch, block, input, defaultsPatch, ig] of largest) {
      expect([
        largestPatch(q(arch, ['1_1'], ['grad'], ['original'])),
        largestPatch(q(arch, ['input'], ['grad'], ['original'])),
        largestPatch(q(arch, ['1_1', '2_1'], ['grad'], ['original', 'backward-hook'])),
        largestPatch(q(arch, ['1_1'], ['ig'], ['original'])),
      ], arch).toEqual([block, input, defaultsPatch, ig]);
    }
    // the default patch fits every architecture, method and layer choice but IG at the input of the largest
    for (const arch of ['resnet18', 'resnet34', 'resnet50', 'unet-resnet18', 'unet-resnet34', 'unet-resnet50'] as ArchName[]) {
      expect(engineMiB(q(arch, ['input'], ['grad', 'deeplift'], ['original', 'surrogate']), 1), arch).toBeLessThanOrEqual(ENGINE_BUDGET_MIB);
    }
  });

  it('sizes the batch to what fits, at least one patch', () => {
    expect(fittingBatch(q('resnet18', ['1_1', '2_1'], ['grad'], ['original', 'backward-hook'], 256), 8)).toBe(8);
    expect(fittingBatch(q('resnet18', ['1_1', '2_1'], ['grad'], ['original'], 2048), 8)).toBe(2);
    expect(fittingBatch(q('unet-resnet34', ['1_2'], ['grad'], ['backward-hook'], 1536), 8)).toBe(1);
    expect(fittingBatch(q('resnet18', ['input'], ['grad'], ['original'], 1024), 8)).toBe(1);
    // IG's 16 interpolation images per pass are there whatever the batch: batches up to 16 cost the same
    const ig = q('resnet18', ['1_1'], ['ig'], ['original'], 256);
    expect(engineMiB(ig, 8)).toBe(engineMiB(ig, 1));
    expect(fittingBatch(ig, 8)).toBe(8);
  });
});
