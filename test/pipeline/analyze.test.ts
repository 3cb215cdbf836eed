import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { buildModel, initEngine, normalizeRgb, predictBatch, readSafetensors, rgbToChw } from '../../models/index.js';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import { attributeBatch, VariantModel } from '../../saliency/index.js';
import { FloatStore } from '../../maps/index.js';
import { openSlide } from '../../slide/index.js';
import { FIXTURES, hasFixtures, SHARED } from '../support/shared.js';

const CMU = `${SHARED}slides/CMU-1-Small-Region.svs`;

describe.skipIf(!hasFixtures || !existsSync(CMU))('whole-slide analysis (CMU-1-Small-Region, worker pool)', () => {
  it('stitches every tissue patch map at its slide position, equal to attributing that patch alone; model output = softmax', async () => {
    await initEngine({ announce: false });
    const weights = `${FIXTURES}resnet18_c3.safetensors`;
    const out = mkdtempSync(join(tmpdir(), 'sds-analyze-'));
    const r = await analyzeSlideToDir({ slide: CMU, out, model: { kind: 'file', weights }, layers: ['2_0'], methods: ['grad'], variants: ['backward-hook'], patch: 224, level: 0, overlap: 0, batch: 8, workers: 2, target: 2 });
    const slide = await openSlide(CMU);
    try {
      const { patches } = r.plan;
      expect(patches.length).toBeGreaterThan(20);
      expect(r.manifest.overlays).toHaveLength(1);
      const ov = r.manifest.overlays[0]!;
      expect(ov.downsample).toBe(8); // 224 px -> 28x28 at 2_0
      const store = await FloatStore.open(join(r.dir, ov.store));
      // values exactly where tissue patches are, nowhere else
      const all = await store.readRegion(0, 0, 0, store.width, store.height);
      const finite = all.filter(Number.isFinite).length;
      expect(finite).toBe(patches.filter((p) => p.x + 224 <= 2220 && p.y + 224 <= 2967).length * 28 * 28 + patches.filter((p) => p.x + 224 > 2220 || p.y + 224 > 2967).reduce((s, p) => s + Math.ceil(Math.min(224, 2220 - p.x) / 8) * Math.ceil(Math.min(224, 2967 - p.y) / 8), 0));
      // one patch, attributed directly in this thread
      const p = patches[5]!;
      const rgb = await slide.readRegion(0, p.x, p.y, 224, 224);
      const x = normalizeRgb(rgbToChw(rgb, 224, 224), 1, 224, 224, 'imagenet');
      const model = buildModel((await readSafetensors(weights)).tensors, 'resnet18_c3');
      try {
        const direct = await attributeBatch(new VariantModel(model, 'backward-hook'), 'grad', x, [1, 3, 224, 224], { layers: ['2_0'], targets: [2] });
        const stitched = await store.readRegion(0, p.x / 8, p.y / 8, 28, 28);
        const want = direct.layers.get('2_0')!.map;
        expect(maxAbsDiff(stitched, want)).toBeLessThanOrEqual(1e-6 * maxAbs(want));
        // the model's own output: per-class softmax probability, constant over the patch
        expect(r.manifest.outputs!.map((o) => o.layer)).toEqual(['class-1', 'class-2']);
        const logits = (await predictBatch(model, x, [1, 3, 224, 224])).logits;
        const z = Math.exp(logits[0]!) + Math.exp(logits[1]!) + Math.exp(logits[2]!);
        for (const [k, o] of r.manifest.outputs!.entries()) {
          const prob = await FloatStore.open(join(r.dir, o.store));
          const v = await prob.readRegion(0, p.x / o.downsample, p.y / o.downsample, 224 / o.downsample, 224 / o.downsample);
          for (const e of v) expect(e).toBeCloseTo(Math.exp(logits[k + 1]!) / z, 5);
        }
      } finally {
        model.dispose();
      }
    } finally {
      await slide.close();
    }
  });

  it('sds analyze writes the mask, OME-Zarr stores, Deep Zoom overlays and the manifest', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sds-analyze-'));
    await promisify(execFile)(process.execPath, [new URL('../../bin/sds.js', import.meta.url).pathname, 'analyze', CMU, '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--out', out, '--patch', '224', '--overlap', '0', '--layers', '2_1', '--variants', 'original,backward-hook', '--target', '2', '--workers', '2']);
    const dir = join(out, 'CMU-1-Small-Region');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as import('../../contracts/index.js').Manifest;
    expect(m.slide).toMatchObject({ width: 2220, height: 2967, mpp: { x: 0.499, y: 0.499 } });
    expect(m.patches.count).toBeGreaterThan(20);
    expect(m.overlays.map((o) => `${o.variant}/${o.layer}`)).toEqual(['original/2_1', 'backward-hook/2_1']);
    expect(m.outputs!.map((o) => `${o.variant}/${o.method}/${o.layer}`)).toEqual(['model/output/class-1', 'model/output/class-2']);
    expect(existsSync(join(dir, '.journal'))).toBe(false); // removed once complete
    for (const o of m.overlays) {
      expect(o.range[0]).toBe(-o.range[1]);
      expect(o.range[1]).toBeGreaterThan(0);
      const store = await FloatStore.open(join(dir, o.store));
      expect([store.width, store.height]).toEqual([o.width, o.height]);
      expect(readFileSync(join(dir, o.dzi), 'utf8')).toMatch(new RegExp(`Width="${o.width}" Height="${o.height}"`));
    }
    expect((await sharp(join(dir, m.tissueMask)).metadata()).format).toBe('png');
  });

  it('sds batch: a broken slide is reported and skipped, finished slides are not redone', async () => {
    const { mkdirSync, symlinkSync, statSync } = await import('node:fs');
    const folder = mkdtempSync(join(tmpdir(), 'sds-batch-in-'));
    const out = mkdtempSync(join(tmpdir(), 'sds-batch-out-'));
    mkdirSync(folder, { recursive: true });
    for (const f of ['openslide-python-small.svs', 'histolab-broken.svs']) symlinkSync(`${SHARED}slides/${f}`, join(folder, f));
    const args = [new URL('../../bin/sds.js', import.meta.url).pathname, 'batch', folder, '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--out', out, '--patch', '64', '--layers', '2_1', '--variants', 'backward-hook', '--workers', '1'];
    const first = await promisify(execFile)(process.execPath, args).then(() => 0, (e: { code: number; stdout: string }) => e);
    expect(first).not.toBe(0); // one slide failed
    const { stdout } = first as { stdout: string };
    expect(stdout).toMatch(/histolab-broken\.svs\s+failed: histolab-broken\.svs is not a TIFF file/);
    expect(stdout).toMatch(/openslide-python-small\.svs\s+done/);
    const manifest = join(out, 'openslide-python-small', 'manifest.json');
    const before = statSync(manifest).mtimeMs;
    const again = await promisify(execFile)(process.execPath, args).then(() => ({ stdout: '' }), (e: { stdout: string }) => e);
    expect(again.stdout).toMatch(/openslide-python-small\.svs\s+done earlier/);
    expect(statSync(manifest).mtimeMs).toBe(before);
  });
});

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
