/**
 * `sds export`: the overlay TIFF read back by Debian's OpenSlide (its size, resolution and pixels
 * against the float store coloured independently), and the detection GeoJSON against QuPath's
 * feature layout and against means/maxes computed here from the float stores over the pipeline's
 * own patch list.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { run } from '../../cli/main.js';
import type { Manifest, OverlayEntry } from '../../contracts/index.js';
import { colorize, FloatStore } from '../../maps/index.js';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir, type AnalyzeResult } from '../../pipeline/index.js';
import { exportDetections, exportOverlayTiff } from '../../results/index.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';
import { syntheticManifest } from '../support/manifest.js';
import { measure } from '../support/resource-bound.js';

const exec = promisify(execFile);
const HAVE_OPENSLIDE = existsSync('/usr/bin/openslide-show-properties') && existsSync('/usr/bin/openslide-write-png');
const SLIDE_W = 512, SLIDE_H = 384, SLIDE_MPP = 0.5; // writeTissueSlide: 2000 px/mm
const PATCH = 64;

let root: string;
let analysis: AnalyzeResult;
let dir: string;

beforeAll(async () => {
  await initEngine({ announce: false });
  root = mkdtempSync(join(tmpdir(), 'sds-export-'));
  const slide = join(root, 'slide.tif');
  await writeTissueSlide(slide, SLIDE_W, SLIDE_H, 3);
  analysis = await analyzeSlideToDir({ slide, out: join(root, 'out'), model: { kind: 'random', arch: 'resnet18', classes: 3, seed: 0 }, layers: ['1_1'], variants: ['backward-hook'], patch: PATCH, workers: 1 });
  dir = analysis.dir;
});

afterAll(() => vi.restoreAllMocks());

async function properties(path: string): Promise<Record<string, string>> {
  const { stdout } = await exec('openslide-show-properties', [path]);
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^([\w.[\]-]+): '([^']*)'/gm)) out[m[1]!] = m[2]!;
  return out;
}

/** OpenSlide's RGBA of a region (x, y in level-0 pixels of the TIFF). */
async function openslideRegion(path: string, x: number, y: number, level: number, w: number, h: number): Promise<Uint8Array> {
  const png = join(root, `region-${Math.random().toString(36).slice(2)}.png`);
  await exec('openslide-write-png', [path, String(x), String(y), String(level), String(w), String(h), png]);
  return new Uint8Array(await sharp(png).ensureAlpha().raw().toBuffer());
}

function overlay(key: string): OverlayEntry {
  const all = [...analysis.manifest.overlays, ...(analysis.manifest.outputs ?? [])];
  return all.find((o) => `${o.variant}/${o.method}/${o.layer}` === key)!;
}

async function storeOf(o: OverlayEntry): Promise<FloatStore> {
  return FloatStore.open(join(dir, o.store));
}

/** Expected colour of one value, through the viewer's colour map (maps/dzi colorize). */
function colourOf(v: number, range: [number, number], cmap: 'diverging' | 'viridis'): number[] {
  return Array.from(colorize(Float32Array.of(v), range, cmap));
}

async function runCli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  try {
    return { code: await run(args), stderr };
  } finally {
    spy.mockRestore();
  }
}

describe.skipIf(!HAVE_OPENSLIDE)('export --tiff: OpenSlide reads the overlay at the slide\'s physical size', () => {
  it('overlay resolution, deflate: size ceil(slide / 4), resolution = slide MPP x 4, pixels = the store\'s coloured, level 1 = 2x2 means', async () => {
    const key = 'backward-hook/grad/1_1';
    const o = overlay(key);
    expect(o.downsample).toBe(4);
    const out = join(root, 'grad.tif');
    const r = await runCli(['export', dir, '--overlay', key, '--tiff', out, '--tile-size', '64']);
    expect(r.code, r.stderr).toBe(0);
    const p = await properties(out);
    expect(p['openslide.vendor']).toBe('generic-tiff');
    const levels = Number(p['openslide.level-count']);
    expect(levels).toBeGreaterThan(1);
    expect(Number(p['openslide.level[0].width'])).toBe(SLIDE_W / 4);
    expect(Number(p['openslide.level[0].height'])).toBe(SLIDE_H / 4);
    expect(Number(p['openslide.level[1].width'])).toBe(SLIDE_W / 8);
    // OpenSlide 3.4.1 reports no openslide.mpp-* for generic TIFF (4.0 does, from these tags): px/cm
    expect(p['tiff.ResolutionUnit']).toBe('centimeter');
    expect(1e4 / Number(p['tiff.XResolution'])).toBeCloseTo(SLIDE_MPP * 4, 6);
    expect(1e4 / Number(p['tiff.YResolution'])).toBeCloseTo(SLIDE_MPP * 4, 6);
    if (p['openslide.mpp-x']) expect(Number(p['openslide.mpp-x'])).toBeCloseTo(SLIDE_MPP * 4, 6);
    expect(p['tiff.ImageDescription']).toContain(`sds overlay ${key}`);
    expect(p['tiff.ImageDescription']).toContain('2 x 2 um per pixel');

    // the whole level 0 against the store's floats, coloured here one by one
    const store = await storeOf(o);
    const W = SLIDE_W / 4, H = SLIDE_H / 4;
    const values = await store.readRegion(0, 0, 0, W, H);
    const got = await openslideRegion(out, 0, 0, 0, W, H);
    let tissue = 0;
    for (let i = 0; i < W * H; i++) {
      const v = values[i]!;
      if (Number.isNaN(v)) {
        expect(got[i * 4 + 3], `pixel ${i} has no data: transparent`).toBe(0);
        continue;
      }
      tissue++;
      expect(Array.from(got.subarray(i * 4, i * 4 + 4)), `pixel ${i % W},${Math.floor(i / W)}`).toEqual(colourOf(v, o.range, 'diverging'));
    }
    expect(tissue).toBeGreaterThan(200);
    expect(tissue).toBeLessThan(W * H);

    // level 1: NaN-aware 2x2 means of level 0, as the viewer's tiles at that zoom
    const got1 = await openslideRegion(out, 0, 0, 1, W / 2, H / 2);
    for (let j = 0; j < H / 2; j++)
      for (let i = 0; i < W / 2; i++) {
        const q = [values[2 * j * W + 2 * i]!, values[2 * j * W + 2 * i + 1]!, values[(2 * j + 1) * W + 2 * i]!, values[(2 * j + 1) * W + 2 * i + 1]!].filter((v) => !Number.isNaN(v));
        const px = Array.from(got1.subarray((j * (W / 2) + i) * 4, (j * (W / 2) + i) * 4 + 4));
        if (!q.length) expect(px[3]).toBe(0);
        else {
          // the store keeps the mean as float32: compare within one colour step
          const want = colourOf(q.reduce((a, b) => a + b, 0) / q.length, o.range, 'diverging');
          for (let c = 0; c < 4; c++) expect(Math.abs(px[c]! - want[c]!)).toBeLessThanOrEqual(1);
        }
      }
  });

  it('--full-resolution, JPEG, a fixed range: the slide\'s level-0 size and MPP; each pixel the colour of the store pixel under it (JPEG error)', async () => {
    const o = overlay('backward-hook/grad/1_1');
    const out = join(root, 'full.tif');
    const range: [number, number] = [o.range[0] / 2, o.range[1] / 2];
    const r = await exportOverlayTiff(dir, { overlay: 'backward-hook/grad/1_1', out, fullResolution: true, compression: 'jpeg', range, tileSize: 128 });
    expect(r.levels.map((l) => l.downsample)).toEqual([1, 2, 4]);
    const p = await properties(out);
    expect(Number(p['openslide.level[0].width'])).toBe(SLIDE_W);
    expect(Number(p['openslide.level[0].height'])).toBe(SLIDE_H);
    expect(Number(p['openslide.level-count'])).toBe(3);
    expect(1e4 / Number(p['tiff.XResolution'])).toBeCloseTo(SLIDE_MPP, 6);
    expect(p['tiff.ImageDescription']).toContain('upsampled (nearest)');
    const store = await storeOf(o);
    const [x0, y0, w, h] = [96, 64, 256, 192];
    const values = await store.readRegion(0, x0 / 4, y0 / 4, w / 4, h / 4);
    const got = await openslideRegion(out, x0, y0, 0, w, h);
    let err = 0, n = 0, bigErr = 0;
    for (let j = 0; j < h; j++)
      for (let i = 0; i < w; i++) {
        const v = values[Math.floor(j / 4) * (w / 4) + Math.floor(i / 4)]!;
        const want = Number.isNaN(v) ? [255, 255, 255] : colourOf(v, range, 'diverging').slice(0, 3);
        for (let c = 0; c < 3; c++) {
          const e = Math.abs(got[(j * w + i) * 4 + c]! - want[c]!);
          err += e;
          n++;
          if (e > 40) bigErr++;
        }
      }
    // JPEG (4:4:4) at quality 90 on 4 px colour blocks: small on average, large only at a few edges
    expect(err / n).toBeLessThan(4);
    expect(bigErr / n).toBeLessThan(0.02);
  });

  it('a slide without MPP: no resolution tags, and the description says why', async () => {
    const noMpp = join(root, 'no-mpp');
    cpSync(dir, noMpp, { recursive: true });
    const m = JSON.parse(readFileSync(join(noMpp, 'manifest.json'), 'utf8')) as Manifest;
    delete m.slide.mpp;
    writeFileSync(join(noMpp, 'manifest.json'), JSON.stringify(m));
    const out = join(root, 'no-mpp.tif');
    const r = await exportOverlayTiff(noMpp, { overlay: 'model/output/class-2', out, tileSize: 16 });
    expect(r.mpp).toBeUndefined();
    const p = await properties(out);
    expect(p['tiff.XResolution']).toBeUndefined();
    expect(p['tiff.ImageDescription']).toContain('the slide states no microns per pixel');
  });

  it('a model output: viridis by default, at the output\'s own 32 px resolution', async () => {
    const out = join(root, 'p.tif');
    const r = await exportOverlayTiff(dir, { overlay: 'model/output/class-1', out, tileSize: 16 });
    expect(r.colormap).toBe('viridis');
    expect(r.range).toEqual([0, 1]);
    const p = await properties(out);
    expect(Number(p['openslide.level[0].width'])).toBe(SLIDE_W / 32);
    expect(1e4 / Number(p['tiff.XResolution'])).toBeCloseTo(SLIDE_MPP * 32, 6);
    const values = await (await storeOf(overlay('model/output/class-1'))).readRegion(0, 0, 0, 16, 12);
    const got = await openslideRegion(out, 0, 0, 0, 16, 12);
    for (let i = 0; i < 16 * 12; i++) {
      if (Number.isNaN(values[i]!)) expect(got[i * 4 + 3]).toBe(0);
      else expect(Array.from(got.subarray(i * 4, i * 4 + 4))).toEqual(colourOf(values[i]!, [0, 1], 'viridis'));
    }
  });
});

// QuPath's GeoJSON feature layout (qupath-core PathObjectTypeAdapters, 0.4+), as far as an import reads it
const qupathFeature = z.object({
  type: z.literal('Feature'),
  id: z.string().optional(),
  geometry: z.object({ type: z.literal('Polygon'), coordinates: z.array(z.array(z.tuple([z.number(), z.number()])).min(4)).min(1) }),
  properties: z.looseObject({
    objectType: z.enum(['detection', 'annotation', 'tile', 'cell']),
    name: z.string().optional(),
    classification: z.object({ name: z.string().min(1), color: z.tuple([z.number().int(), z.number().int(), z.number().int()]).optional() }).optional(),
    measurements: z.record(z.string(), z.number().refine(Number.isFinite)),
  }),
});
const qupathCollection = z.object({ type: z.literal('FeatureCollection'), features: z.array(qupathFeature) });

async function meanMax(o: OverlayEntry, x: number, y: number, side: number): Promise<{ mean: number; max: number }> {
  // patches and map pixels align here (64 px patches, downsamples 4 and 32): the patch's pixels exactly
  const D = o.downsample;
  const v = await (await storeOf(o)).readRegion(0, x / D, y / D, side / D, side / D);
  const ok = Array.from(v).filter((a) => !Number.isNaN(a));
  return { mean: ok.reduce((a, b) => a + b, 0) / ok.length, max: Math.max(...ok) };
}

describe('export --detections: QuPath detection tiles with the float stores\' statistics', () => {
  it('one detection per analysed patch (the pipeline\'s list), its square in level-0 px; mean, max and probabilities from the stores', async () => {
    const out = join(root, 'tiles.geojson');
    const r = await runCli(['export', dir, '--detections', out]);
    expect(r.code, r.stderr).toBe(0);
    const fc = qupathCollection.parse(JSON.parse(readFileSync(out, 'utf8')));
    const patches = analysis.plan.patches;
    expect(patches.length).toBeGreaterThan(8);
    expect(fc.features).toHaveLength(patches.length);
    const byPos = new Map(fc.features.map((f) => [`${f.geometry.coordinates[0]![0]!.join(',')}`, f]));
    const grad = overlay('backward-hook/grad/1_1'), c1 = overlay('model/output/class-1'), c2 = overlay('model/output/class-2');
    for (const p of patches) {
      const f = byPos.get(`${p.x},${p.y}`);
      expect(f, `patch at ${p.x},${p.y}`).toBeDefined();
      expect(f!.properties.objectType).toBe('detection');
      expect(f!.geometry.coordinates[0]).toEqual([[p.x, p.y], [p.x + PATCH, p.y], [p.x + PATCH, p.y + PATCH], [p.x, p.y + PATCH], [p.x, p.y]]);
      const m = f!.properties.measurements;
      expect(Object.keys(m).sort()).toEqual(['backward-hook grad 1_1 max', 'backward-hook grad 1_1 mean', 'probability class-1', 'probability class-2']);
      const g = await meanMax(grad, p.x, p.y, PATCH);
      expect(m['backward-hook grad 1_1 mean']!).toBeCloseTo(g.mean, 10);
      expect(Math.abs(m['backward-hook grad 1_1 mean']! / g.mean - 1)).toBeLessThan(1e-5);
      expect(Math.abs(m['backward-hook grad 1_1 max']! / g.max - 1)).toBeLessThan(1e-6);
      expect(m['probability class-1']!).toBeCloseTo((await meanMax(c1, p.x, p.y, PATCH)).mean, 6);
      expect(m['probability class-2']!).toBeCloseTo((await meanMax(c2, p.x, p.y, PATCH)).mean, 6);
      // class-<k> names are no class names: no classification
      expect(f!.properties.classification).toBeUndefined();
    }
  });

  it('with class names (outputs named by the weights): each patch classified by its most probable class, none when class 0 wins', async () => {
    const named = join(root, 'named');
    cpSync(dir, named, { recursive: true });
    const m = JSON.parse(readFileSync(join(named, 'manifest.json'), 'utf8')) as Manifest;
    m.outputs = m.outputs!.map((o) => ({ ...o, layer: o.layer === 'class-1' ? 'stroma' : 'tumour' }));
    writeFileSync(join(named, 'manifest.json'), JSON.stringify(m));
    const out = join(root, 'named.geojson');
    const r = await exportDetections(named, { out });
    const fc = qupathCollection.parse(JSON.parse(readFileSync(out, 'utf8')));
    let classified = 0;
    for (const f of fc.features) {
      const p1 = f.properties.measurements['probability stroma']!, p2 = f.properties.measurements['probability tumour']!;
      const p0 = 1 - p1 - p2;
      const want = p0 > Math.max(p1, p2) ? undefined : p1 >= p2 ? 'stroma' : 'tumour';
      expect(f.properties.classification?.name).toBe(want);
      if (want) classified++;
    }
    expect(classified).toBeGreaterThan(0);
    expect(Object.values(r.classes).reduce((a, b) => a + b, 0)).toBe(classified);
  });
});

describe('export: bad input is refused with the remedy', () => {
  it('an unknown overlay names the ones there are', async () => {
    const r = await runCli(['export', dir, '--overlay', 'backward-hook/grad/9_9', '--tiff', join(root, 'x.tif')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the analysis has no overlay "backward-hook\/grad\/9_9"/);
    expect(r.stderr).toMatch(/choose one of: backward-hook\/grad\/1_1, model\/output\/class-1, model\/output\/class-2/);
    expect(existsSync(join(root, 'x.tif'))).toBe(false);
  });

  it('a folder that is not an analysis', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const r = await runCli(['export', empty, '--detections', join(root, 'y.geojson')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no manifest\.json/);
    expect(r.stderr).toMatch(/written by `sds analyze`/);
  });

  it('an existing output is kept without --force and replaced with it; bad ranges and missing flags are named', async () => {
    const out = join(root, 'exists.geojson');
    writeFileSync(out, 'mine');
    const r = await runCli(['export', dir, '--detections', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exists\.geojson exists\n {2}hint: choose another name, or add --force/);
    expect(readFileSync(out, 'utf8')).toBe('mine');
    expect((await runCli(['export', dir, '--detections', out, '--force'])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/^\{"type":"FeatureCollection"/);
    const tif = join(root, 'r.tif');
    const bad = await runCli(['export', dir, '--overlay', 'backward-hook/grad/1_1', '--tiff', tif, '--range', '1,0']);
    expect(bad.stderr).toMatch(/--range "1,0" is not auto or lo,hi with lo < hi/);
    expect((await runCli(['export', dir, '--tiff', tif])).stderr).toMatch(/--tiff needs --overlay/);
    expect((await runCli(['export', dir])).stderr).toMatch(/nothing to export/);
    expect((await runCli(['export', dir, '--detections', join(root, 'no', 'such', 'f.geojson')])).stderr).toMatch(/the folder .*no\/such does not exist/);
    expect(existsSync(tif)).toBe(false);
  });

  it('maps that do not match the manifest\'s patch count are refused, not exported wrong', async () => {
    const bad = join(root, 'bad');
    cpSync(dir, bad, { recursive: true });
    const m = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8')) as Manifest;
    m.patches.count += 1;
    writeFileSync(join(bad, 'manifest.json'), JSON.stringify(m));
    await expect(exportDetections(bad, { out: join(root, 'bad.geojson') })).rejects.toThrow(/found \d+ analysed patches in .*, but the manifest says \d+/);
    expect(existsSync(join(root, 'bad.geojson'))).toBe(false);
    copyFileSync(join(dir, 'manifest.json'), join(bad, 'manifest.json'));
  });
});

describe('a slide of 192000 x 153600 px (synthetic analysis): memory stays a few tiles, values stay right', () => {
  // one saliency map at 32 level-0 px per pixel (6000 x 4800), data only in an 11 x 11 patch block
  const W = 192000, H = 153600, D = 32, P = 256, S = P / D;
  const [C0, R0, N] = [10, 5, 11];
  const valueAt = (col: number, row: number) => col + row / 100;
  let big: string;

  beforeAll(async () => {
    big = join(root, 'big');
    const store = await FloatStore.create(join(big, 'overlays/backward-hook/grad/4_1.zarr'), { width: W / D, height: H / D });
    for (let row = R0; row < R0 + N; row++)
      for (let col = C0; col < C0 + N; col++) await store.writeRegion(col * S, row * S, S, S, new Float32Array(S * S).fill(valueAt(col, row)));
    await store.finalize();
    const entry = { variant: 'backward-hook', method: 'grad', layer: '4_1', downsample: D, width: W / D, height: H / D, range: [-200, 200] as [number, number], store: 'overlays/backward-hook/grad/4_1.zarr', dzi: 'overlays/backward-hook/grad/4_1.dzi' };
    const m = syntheticManifest({ slide: { path: '/nowhere/big.svs', name: 'big.svs', width: W, height: H, mpp: { x: 0.25, y: 0.26 } }, overlays: [entry], patches: { size: P, level: 0, downsample: 1, overlap: 0, count: N * N } });
    writeFileSync(join(big, 'manifest.json'), JSON.stringify(m));
  });

  it.skipIf(!HAVE_OPENSLIDE)('the TIFF (BigTIFF) of a 6000 x 4800 overlay: peak memory far below its 110 MiB of RGBA; OpenSlide reads size, resolution and a block\'s colour', async () => {
    const out = join(root, 'big.tif');
    const r = await measure(() => exportOverlayTiff(big, { overlay: 'backward-hook/grad/4_1', out, bigTiff: true }), 15_000);
    expect(r.error).toBeUndefined();
    expect(r.value!.bigTiff).toBe(true);
    expect(r.peakGrowthMB).toBeLessThan(40);
    const p = await properties(out);
    expect(Number(p['openslide.level[0].width'])).toBe(W / D);
    expect(Number(p['openslide.level[0].height'])).toBe(H / D);
    expect(Number(p['openslide.level-count'])).toBe(6);
    expect(1e4 / Number(p['tiff.XResolution'])).toBeCloseTo(0.25 * D, 6);
    expect(1e4 / Number(p['tiff.YResolution'])).toBeCloseTo(0.26 * D, 6);
    // the block of patch (12, 7) and glass beside the data
    const got = await openslideRegion(out, 12 * S, 7 * S, 0, S, S);
    const want = colourOf(valueAt(12, 7), [-200, 200], 'diverging');
    for (let i = 0; i < S * S; i++) expect(Array.from(got.subarray(i * 4, i * 4 + 4))).toEqual(want);
    expect(Array.from((await openslideRegion(out, 4000, 4000, 0, 2, 1)).subarray(0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('detections: the 121 patches with data among 450000 grid places, each with the value written there as mean and max; memory flat', async () => {
    const out = join(root, 'big.geojson');
    const m = await measure(() => exportDetections(big, { out }), 15_000);
    expect(m.error).toBeUndefined();
    expect(m.peakGrowthMB).toBeLessThan(20);
    const r = m.value!;
    expect(r.features).toBe(N * N);
    const fc = qupathCollection.parse(JSON.parse(readFileSync(out, 'utf8')));
    for (const f of fc.features) {
      const [x, y] = f.geometry.coordinates[0]![0]!;
      const [col, row] = [x! / P, y! / P];
      expect(col >= C0 && col < C0 + N && row >= R0 && row < R0 + N).toBe(true);
      expect(f.properties.measurements['backward-hook grad 4_1 mean']).toBeCloseTo(valueAt(col, row), 4);
      expect(f.properties.measurements['backward-hook grad 4_1 max']).toBeCloseTo(valueAt(col, row), 4);
    }
  });
});
