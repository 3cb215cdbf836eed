import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openPatchSource } from '../../pipeline/index.js';
import { detectTissue, openSlide, otsuThreshold, patchGrid, tissuePatches, type TissueMask } from '../../slide/index.js';
import { SHARED } from '../support/shared.js';

const SLIDES = `${SHARED}slides/`;
const have = existsSync(`${SLIDES}monuseg-test-mosaic.tiff`);

describe('Otsu and the patch grid (analytic)', () => {
  it('Otsu splits two separated modes between them', () => {
    const hist = new Array<number>(256).fill(0);
    for (let i = 20; i < 40; i++) hist[i] = 10;
    for (let i = 180; i < 200; i++) hist[i] = 5;
    const t = otsuThreshold(hist);
    expect(t).toBeGreaterThanOrEqual(39);
    expect(t).toBeLessThan(180);
  });

  it('covers the slide with size-overlap strides, in level-0 coordinates', () => {
    const g = patchGrid(1000, 600, { size: 256, overlap: 0, level: 0, downsample: 1 });
    expect(g.length).toBe(4 * 3);
    expect(g.at(-1)).toMatchObject({ x: 768, y: 512, col: 3, row: 2 });
    const o = patchGrid(1000, 600, { size: 256, overlap: 56, level: 0, downsample: 1 });
    expect(o.filter((p) => p.row === 0).map((p) => p.x)).toEqual([0, 200, 400, 600, 800]);
    const l1 = patchGrid(1000, 600, { size: 256, overlap: 0, level: 1, downsample: 2 });
    expect(l1.map((p) => [p.x, p.y])).toEqual([[0, 0], [512, 0], [0, 512], [512, 512]]);
  });

  it('keeps patches by their tissue fraction', () => {
    // 8x8 mask at downsample 32: left half tissue
    const mask: TissueMask = { width: 8, height: 8, downsample: 32, threshold: 0, data: Uint8Array.from({ length: 64 }, (_, i) => (i % 8 < 4 ? 1 : 0)) };
    const spec = { size: 64, overlap: 0, level: 0, downsample: 1 };
    const kept = tissuePatches(patchGrid(256, 256, spec), spec, mask, 0.5);
    expect(new Set(kept.map((p) => p.x))).toEqual(new Set([0, 64]));
    expect(kept.every((p) => p.tissue === 1)).toBe(true);
  });
});

describe.skipIf(!have)('tissue detection on real slides', () => {
  it('MoNuSeg mosaic: the two blank-glass cells are empty, the 14 tissue cells mostly tissue', async () => {
    const slide = await openSlide(`${SLIDES}monuseg-test-mosaic.tiff`);
    try {
      const m = await detectTissue(slide);
      const cell = m.width / 4;
      const share = (cx: number, cy: number) => {
        let t = 0;
        for (let y = cy * cell; y < (cy + 1) * cell; y++) for (let x = cx * cell; x < (cx + 1) * cell; x++) t += m.data[y * m.width + x]!;
        return t / (cell * cell);
      };
      for (let cy = 0; cy < 4; cy++)
        for (let cx = 0; cx < 4; cx++) {
          const blank = cy === 3 && cx >= 2; // monuseg-test-mosaic.json places 14 images, leaving these
          if (blank) expect(share(cx, cy), `cell ${cx},${cy}`).toBeLessThan(0.01);
          else expect(share(cx, cy), `cell ${cx},${cy}`).toBeGreaterThan(0.5);
        }
    } finally {
      await slide.close();
    }
  });

  it('a slide as training data: tissue patches only, normalized', async () => {
    const src = await openPatchSource(`${SLIDES}CMU-1-Small-Region.svs`, 'imagenet', { patch: 224 });
    try {
      expect(src.count).toBeGreaterThan(5);
      expect(src.count).toBeLessThan(patchGrid(2220, 2967, { size: 224, overlap: 0, level: 0, downsample: 1 }).length / 2);
      const x = await src.read([0, src.count - 1]);
      expect(x.length).toBe(2 * 3 * 224 * 224);
      // tissue, not glass: normalized white glass would sit near +2
      let mean = 0;
      for (const v of x) mean += v;
      expect(mean / x.length).toBeLessThan(1.5);
    } finally {
      await src.close?.();
    }
  });
});
