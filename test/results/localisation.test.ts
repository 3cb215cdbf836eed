import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import type { Manifest } from '../../contracts/index.js';
import { syntheticManifest } from '../support/manifest.js';
import { exportSaliencyGeoJson, localisation, maskCoverage, type BinaryMask, type LocalisationRow } from '../../results/index.js';
import { auroc } from '../../saliency/index.js';
import { FloatStore } from '../../maps/index.js';
import { SHARED } from '../support/shared.js';

/** Exact coverage by supersampling: with these sizes every overlap is a whole number of level-0 px, and each holds `k` samples per axis. */
function supersampledCoverage(mask: BinaryMask, width: number, height: number, ds: number, k: number): Float32Array {
  const out = new Float32Array(width * height);
  const n = Math.round(ds * k);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let hit = 0;
      for (let j = 0; j < n; j++)
        for (let i = 0; i < n; i++) {
          const u = Math.floor((x * ds + (i + 0.5) / k) / mask.downsample);
          const v = Math.floor((y * ds + (j + 0.5) / k) / mask.downsample);
          if (u < mask.width && v < mask.height && mask.data[v * mask.width + u]) hit++;
        }
      out[y * width + x] = hit / (n * n);
    }
  return out;
}

function discMask(width: number, height: number, downsample: number, cx: number, cy: number, r: number): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let v = 0; v < height; v++) for (let u = 0; u < width; u++) data[v * width + u] = Math.hypot((u + 0.5) * downsample - cx, (v + 0.5) * downsample - cy) < r ? 1 : 0;
  return { width, height, downsample, data };
}

describe('mask coverage at an overlay resolution', () => {
  it('equals the exact area fraction for integer, fractional and finer-than-mask ratios', () => {
    for (const [maskDs, ds] of [[2, 8], [3, 8], [8, 2], [3, 4.5]] as const) {
      const slide = 240;
      const mw = Math.ceil(slide / maskDs);
      const mask = discMask(mw, mw, maskDs, 101, 117, 70);
      const w = Math.ceil(slide / ds);
      const got = maskCoverage(mask, w, ds, 0, w);
      const want = supersampledCoverage(mask, w, w, ds, 6);
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
      expect(err, `mask ds ${maskDs}, overlay ds ${ds}`).toBeLessThan(1e-6);
      // a band of rows is the same as those rows of the whole
      const band = maskCoverage(mask, w, ds, 7, 5);
      expect(Array.from(band)).toEqual(Array.from(got.subarray(7 * w, 12 * w)));
    }
  });
});

const SLIDE = { w: 640, h: 480 };
const OV = { w: 80, h: 60, ds: 8 };

async function syntheticAnalysis(fields: Record<string, (x: number, y: number) => number>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sds-loc-'));
  const overlays: Manifest['overlays'] = [];
  for (const [variant, f] of Object.entries(fields)) {
    const store = `overlays/${variant}/grad/1_2.zarr`;
    const s = await FloatStore.create(join(dir, store), { width: OV.w, height: OV.h, chunk: 16 });
    const v = new Float32Array(OV.w * OV.h);
    for (let y = 0; y < OV.h; y++) for (let x = 0; x < OV.w; x++) v[y * OV.w + x] = y < 5 ? NaN : f(x, y); // no tissue in the top rows
    await s.writeRegion(0, 0, OV.w, OV.h, v);
    await s.finalize();
    overlays.push({ variant, method: 'grad', layer: '1_2', downsample: OV.ds, width: OV.w, height: OV.h, range: [-1, 1], store, dzi: store.replace('.zarr', '.dzi') });
  }
  const manifest = syntheticManifest({ slide: { path: '/x/s.tiff', name: 's.tiff', width: SLIDE.w, height: SLIDE.h }, overlays });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

/** A PNG mask at downsample `ds`, white where `inside(level-0 x, y)` at the pixel centre. */
async function maskPng(path: string, ds: number, inside: (x: number, y: number) => boolean, white = 255): Promise<void> {
  const w = SLIDE.w / ds, h = SLIDE.h / ds;
  const px = Buffer.alloc(w * h);
  for (let v = 0; v < h; v++) for (let u = 0; u < w; u++) px[v * w + u] = inside((u + 0.5) * ds, (v + 0.5) * ds) ? white : 0;
  await sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toFile(path);
}

// a rectangle of whole overlay pixels: overlay x 20..59, y 15..44
const inRect = (x: number, y: number) => x >= 160 && x < 480 && y >= 120 && y < 360;
const rectPx = (x: number, y: number) => x >= 20 && x < 60 && y >= 15 && y < 45;
const hash = (x: number, y: number) => ((Math.sin(x * 12.9898 + y * 78.233) * 43758.5453) % 1 + 1) % 1;

describe('localisation: AUROC of each overlay against ground-truth masks', () => {
  it('analytic cases: a map high on the mask scores 1, a flat map 0.5, a negative one 0 signed and 1 by |v|', async () => {
    const dir = await syntheticAnalysis({
      high: (x, y) => (rectPx(x, y) ? 1 : 0) + 0.9 * hash(x, y),
      flat: () => 0.3,
      low: (x, y) => -((rectPx(x, y) ? 1 : 0) + 0.9 * hash(x, y)),
    });
    const png = join(dir, 'rect.png');
    await maskPng(png, 2, inRect);
    const rows = await localisation(dir, [{ name: 'rect', png }]); // downsample inferred: 640 / 320
    const by = (v: string) => rows.find((r) => r.variant === v)!;
    for (const r of rows) expect(r).toMatchObject({ mask: 'rect', layer: '1_2', positives: 40 * 30, n: OV.w * (OV.h - 5), exact: true });
    expect(by('high')).toMatchObject({ auroc: 1, aurocAbs: 1, aurocSigned: 1 });
    expect(by('flat')).toMatchObject({ auroc: 0.5, aurocAbs: 0.5, aurocSigned: 0.5 });
    expect(by('low')).toMatchObject({ auroc: 1, aurocAbs: 1, aurocSigned: 0 });
    const neg = await localisation(dir, [{ name: 'rect', png, downsample: 2 }], { score: 'negative' });
    expect(neg.find((r) => r.variant === 'low')!.auroc).toBe(1);
    expect(neg.find((r) => r.variant === 'high')!.auroc).toBe(0);
    // a 0/1 label image reads as the same mask
    const labels01 = join(dir, 'rect01.png');
    await maskPng(labels01, 2, inRect, 1);
    expect(await localisation(dir, [{ name: 'rect', png: labels01 }])).toEqual(rows);
  });

  it('a disc mask off the overlay grid: the same AUROC as labels computed directly from the mask', async () => {
    const f = (x: number, y: number) => Math.cos(x / 9) * Math.sin(y / 7) + 0.3 * hash(x, y) - 0.5;
    const dir = await syntheticAnalysis({ wavy: f });
    const png = join(dir, 'disc.png');
    const [cx, cy, r] = [301, 233, 140];
    await maskPng(png, 4, (x, y) => Math.hypot(x - cx, y - cy) < r);
    const [row] = await localisation(dir, [{ name: 'disc', png, downsample: 4 }]);
    // independent labels: the 2x2 block of mask pixels under each overlay pixel, at least half set
    const scores = new Float32Array(OV.w * OV.h);
    const labels = new Uint8Array(OV.w * OV.h);
    for (let y = 0; y < OV.h; y++)
      for (let x = 0; x < OV.w; x++) {
        let n = 0;
        for (let j = 0; j < 2; j++) for (let i = 0; i < 2; i++) n += Math.hypot((2 * x + i + 0.5) * 4 - cx, (2 * y + j + 0.5) * 4 - cy) < r ? 1 : 0;
        labels[y * OV.w + x] = n >= 2 ? 1 : 0;
        scores[y * OV.w + x] = y < 5 ? NaN : Math.fround(f(x, y));
      }
    expect(row!.aurocAbs).toBe(auroc(scores, labels, { score: 'abs' }));
    expect(row!.aurocSigned).toBe(auroc(scores, labels));
    expect(row!.positives).toBe(labels.reduce((s, l, i) => s + (i >= 5 * OV.w ? l : 0), 0));
  });

  it('a mask of another slide is refused with its size and the slide size', async () => {
    const dir = await syntheticAnalysis({ flat: () => 1 });
    const png = join(dir, 'wrong.png');
    await sharp(Buffer.alloc(100 * 100), { raw: { width: 100, height: 100, channels: 1 } }).png().toFile(png);
    await expect(localisation(dir, [{ name: 'x', png, downsample: 2 }])).rejects.toThrow(/mask .* is 100x100 px at downsample 2 \(200x200 level-0 px\), but the slide is 640x480/);
  });

  it('sds evaluate --analysis --mask: a Localisation section with a table and a bar chart, no model needed', async () => {
    const dir = await syntheticAnalysis({ high: (x, y) => (rectPx(x, y) ? 1 : 0) + 0.9 * hash(x, y), flat: () => 0.3 });
    const png = join(dir, 'rect.png');
    await maskPng(png, 2, inRect);
    const out = join(dir, 'report');
    const sds = new URL('../../bin/sds.js', import.meta.url).pathname;
    // a generated sample's JSON stands for its masks (all but the tissue mask)
    await maskPng(join(dir, 's.inner.png'), 4, (x, y) => x >= 240 && x < 400 && y >= 200 && y < 280);
    writeFileSync(join(dir, 's.json'), JSON.stringify({ masks: { inner: { file: 's.inner.png', downsample: 4 }, tissue: { file: 'absent.png', downsample: 4 } } }));
    await promisify(execFile)(process.execPath, [sds, 'evaluate', '--analysis', dir, '--mask', `rect=${png}@2,${join(dir, 's.json')}`, '--out', out]);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/### rect\n/);
    expect(md).toMatch(/### inner\n/);
    expect(md).not.toMatch(/### tissue/);
    expect(md).toMatch(/## Localisation against ground truth/);
    expect(md).toMatch(/\| high \| grad \| 1_2 \| 1\.0000 \| 1\.0000 \| 1200 \| 4400 \|/);
    expect(md).toMatch(/\| flat \| grad \| 1_2 \| 0\.5000 \|/);
    expect((await sharp(join(out, 'localisation-rect.png')).metadata()).format).toBe('png');
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { localisation: LocalisationRow[] };
    expect(json.localisation).toHaveLength(4);
    const err = await promisify(execFile)(process.execPath, [sds, 'evaluate', '--analysis', dir, '--out', out]).then(() => '', (e: { stderr: string }) => e.stderr);
    expect(err).toMatch(/--analysis needs --mask/);
  });
});

function pointInRing(p: [number, number], ring: number[][]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as [number, number], [xj, yj] = ring[j] as [number, number];
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

const MOSAIC = `${SHARED}slides/monuseg-test-mosaic.tiff`;
const NUCLEI_MASK = `${SHARED}slides/monuseg-test-mosaic.nuclei-mask.png`;
const UNET = `${SHARED}models/nuclei_unet_resnet34.safetensors`;
const haveMonuseg = existsSync(MOSAIC) && existsSync(NUCLEI_MASK) && existsSync(UNET);
if (!haveMonuseg) console.warn(`[sds tests] ${MOSAIC}, its nuclei mask or ${UNET} is absent: the MoNuSeg localisation test is skipped`);

describe.skipIf(!haveMonuseg)('localisation on real H&E (MoNuSeg crop, nuclei U-Net)', () => {
  it('at 1_2 the gradient separates nuclei by its sign, the backward-hook map better than the original', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sds-monuseg-'));
    // 512 px of one MoNuSeg test image (level-0 x, y 1100..1612) and the same crop of its mask
    const crop = { left: 1100, top: 1100, width: 512, height: 512 };
    const slide = join(dir, 'crop.tiff');
    await sharp(MOSAIC, { page: 0 }).extract(crop).removeAlpha().tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', quality: 95 }).toFile(slide);
    const png = join(dir, 'crop.nuclei.png');
    await sharp(NUCLEI_MASK).extract(crop).png().toFile(png);
    await initEngine({ announce: false });
    const r = await analyzeSlideToDir({ slide, out: dir, model: { kind: 'file', weights: UNET }, layers: ['1_2', '2_3'], methods: ['grad'], variants: ['original', 'backward-hook'], patch: 256, overlap: 0, batch: 4, workers: 1, journal: false, minTissue: 0 });
    const rows = await localisation(r.dir, [{ name: 'nuclei', png, downsample: 1 }], { score: 'negative' });
    const at = (variant: string, layer: string) => rows.find((x) => x.variant === variant && x.layer === layer)!;
    console.log(rows.map((x) => `${x.variant} ${x.layer}: AUROC -v ${x.auroc.toFixed(4)}, |v| ${x.aurocAbs.toFixed(4)} (${x.positives}/${x.n} nuclei px)`).join('\n'));
    // the mask and the overlays are registered: the model's own nucleus probability finds the nuclei
    const out = rows.find((x) => x.variant === 'model');
    if (out) expect(out.auroc).toBeGreaterThan(0.9);
    // nuclei carry strongly negative nucleus-class gradient at 1_2 (blue in the overlays), with either model
    expect(at('original', '1_2').auroc).toBeGreaterThan(0.85);
    expect(at('backward-hook', '1_2').auroc).toBeGreaterThan(0.85);
    // smoothing removes the checkerboard between nuclei: a little better still
    expect(at('backward-hook', '1_2').auroc).toBeGreaterThan(at('original', '1_2').auroc);
    // 2_3 is coarser (nuclei clusters): lower than 1_2, still far above chance
    expect(at('backward-hook', '2_3').auroc).toBeLessThan(at('backward-hook', '1_2').auroc);
    expect(at('backward-hook', '2_3').auroc).toBeGreaterThan(0.7);

    // the strongest negative regions at 1_2 as GeoJSON: most of their area is nuclei (20% of the crop)
    const regions = await exportSaliencyGeoJson(r.dir, { layer: '1_2', sign: 'negative', quantile: 0.8 });
    const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    let inside = 0, inNuclei = 0;
    for (const f of regions.collection.features) {
      const [outer, ...holes] = f.geometry.coordinates as [number, number][][];
      const xs = outer!.map((q) => q[0]), ys = outer!.map((q) => q[1]);
      for (let y = Math.floor(Math.min(...ys)); y < Math.max(...ys); y++)
        for (let x = Math.floor(Math.min(...xs)); x < Math.max(...xs); x++) {
          const p: [number, number] = [x + 0.5, y + 0.5];
          if (!pointInRing(p, outer!) || holes.some((h) => pointInRing(p, h))) continue;
          inside++;
          if (data[y * info.width + x]! > 127) inNuclei++;
        }
    }
    console.log(`${regions.collection.features.length} negative regions at 1_2 (|v| quantile 0.8): ${inside} px, ${((100 * inNuclei) / inside).toFixed(1)}% in nuclei`);
    expect(inside).toBeGreaterThan(0.03 * 512 * 512);
    expect(inNuclei / inside).toBeGreaterThan(0.6);
  });
});
