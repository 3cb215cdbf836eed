/**
 * The synthetic H&E generator: determinism (same seed, same pixels and bytes; any tiling, same pixels), the
 * written pyramidal TIFF read back by our reader and by OpenSlide (when installed), the ground-truth masks,
 * and properties a pathologist would expect (nuclei darker and bluer than stroma, tumour denser in nuclei).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../core/errors.js';
import { createScene, ensureSample, majorityDown, MASK_DOWNSAMPLE, validSample, writeSample, type SampleManifest, type SceneRegion } from '../../slides-sample/index.js';
import { halve } from '../../slide/downsample.js';
import { openSlide } from '../../slide/index.js';

const run = promisify(execFile);
const SDS = new URL('../../bin/sds.js', import.meta.url).pathname;
/** Odd sizes on purpose: partial edge tiles, and a level made by halving an odd size. */
const W = 1001;
const H = 701;
const SEED = 1;
const tmp = mkdtempSync(join(tmpdir(), 'sds-sample-'));
const slideA = join(tmp, 'a', 'sample.svs');
const slideB = join(tmp, 'b', 'sample.svs');
let manifest: SampleManifest;
let full: SceneRegion;

const haveOpenSlide = (() => {
  try {
    execFileSync('openslide-show-properties', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!haveOpenSlide) console.warn('sample tests: openslide-show-properties not installed (apt-get install openslide-tools): the OpenSlide cross-checks are SKIPPED');

beforeAll(async () => {
  manifest = await writeSample({ path: slideA, width: W, height: H, seed: SEED });
  await writeSample({ path: slideB, width: W, height: H, seed: SEED });
  full = createScene({ width: W, height: H, seed: SEED }).render(0, 0, W, H);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sum = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);

/** Mean absolute difference over all samples. */
function mad(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

function cropRegion(r: SceneRegion, rw: number, x: number, y: number, w: number, h: number): SceneRegion {
  const out: SceneRegion = { rgb: new Uint8Array(w * h * 3), nuclei: new Uint8Array(w * h), tumour: new Uint8Array(w * h), tissue: new Uint8Array(w * h) };
  for (let j = 0; j < h; j++) {
    out.rgb.set(r.rgb.subarray(((y + j) * rw + x) * 3, ((y + j) * rw + x + w) * 3), j * w * 3);
    for (const k of ['nuclei', 'tumour', 'tissue'] as const) out[k].set(r[k].subarray((y + j) * rw + x, (y + j) * rw + x + w), j * w);
  }
  return out;
}

/** Mean colour, luminance and blue share over the pixels where `where` is 1. */
function colourStats(rgb: Uint8Array, where: Uint8Array): { n: number; lum: number; blue: number; sat: number } {
  let n = 0;
  let lum = 0;
  let blue = 0;
  let sat = 0;
  for (let p = 0; p < where.length; p++) {
    if (!where[p]) continue;
    const r = rgb[p * 3]!;
    const g = rgb[p * 3 + 1]!;
    const b = rgb[p * 3 + 2]!;
    n++;
    lum += 0.299 * r + 0.587 * g + 0.114 * b;
    blue += b / (r + g + b + 1);
    const max = Math.max(r, g, b);
    sat += max ? (255 * (max - Math.min(r, g, b))) / max : 0;
  }
  return { n, lum: lum / n, blue: blue / n, sat: sat / n };
}

function and(...masks: Uint8Array[]): Uint8Array {
  return Uint8Array.from(masks[0]!, (_, i) => (masks.every((m) => m[i]) ? 1 : 0));
}

function not(m: Uint8Array): Uint8Array {
  return Uint8Array.from(m, (v) => 1 - v);
}

/** Decoded greyscale PNG as 0/1. */
async function maskPng(path: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)) };
}

describe('synthetic scene', () => {
  it('is a pure function of the seed: same seed, same pixels; another seed, another slide', () => {
    const again = createScene({ width: W, height: H, seed: SEED }).render(0, 0, W, H);
    for (const k of ['rgb', 'nuclei', 'tumour', 'tissue'] as const) expect(Buffer.compare(again[k], full[k]), k).toBe(0);
    const other = createScene({ width: W, height: H, seed: SEED + 1 }).render(0, 0, W, H);
    let differ = 0;
    for (let i = 0; i < other.rgb.length; i++) if (other.rgb[i] !== full.rgb[i]) differ++;
    expect(differ / other.rgb.length).toBeGreaterThan(0.1);
  });

  it('renders a region identically however it is tiled (regions equal crops of one larger render)', () => {
    // The test means something only if the area holds tissue, tumour and nuclei.
    expect(sum(full.tissue)).toBeGreaterThan(0.1 * W * H);
    expect(sum(full.tumour)).toBeGreaterThan(0.01 * W * H);
    expect(sum(full.nuclei)).toBeGreaterThan(0.01 * W * H);
    const scene = createScene({ width: W, height: H, seed: SEED });
    const regions = [
      [0, 0, 256, 256],
      [256, 256, 256, 256],
      [300, 200, 97, 311],
      [511, 383, 2, 3],
      [W - 70, H - 50, 70, 50],
    ] as const;
    for (const [x, y, w, h] of regions) {
      const r = scene.render(x, y, w, h);
      const want = cropRegion(full, W, x, y, w, h);
      for (const k of ['rgb', 'nuclei', 'tumour', 'tissue'] as const) expect(Buffer.compare(r[k], want[k]), `${k} of ${w}x${h} at (${x}, ${y})`).toBe(0);
    }
    // Outside the slide is glass, and still deterministic.
    const outside = scene.render(-40, -30, 60, 50);
    expect(sum(outside.tissue)).toBe(0);
    expect(Buffer.compare(outside.rgb, scene.render(-40, -30, 60, 50).rgb)).toBe(0);
  });

  it('masks are consistent: tumour only in tissue, nuclei in tissue', () => {
    expect(sum(and(full.tumour, not(full.tissue)))).toBe(0);
    const nucleiOutside = sum(and(full.nuclei, not(full.tissue)));
    expect(nucleiOutside / sum(full.nuclei)).toBeLessThan(0.01);
  });

  it('looks like H&E: nuclei darker and bluer than stroma, glass bright and grey, tissue coloured', () => {
    const stroma = colourStats(full.rgb, and(full.tissue, not(full.nuclei), not(full.tumour)));
    const nuclei = colourStats(full.rgb, full.nuclei);
    const glass = colourStats(full.rgb, not(full.tissue));
    expect(nuclei.n).toBeGreaterThan(1000);
    expect(nuclei.lum).toBeLessThan(stroma.lum - 50);
    expect(nuclei.blue).toBeGreaterThan(stroma.blue + 0.05);
    expect(glass.lum).toBeGreaterThan(230);
    expect(glass.sat).toBeLessThan(12);
    expect(stroma.sat).toBeGreaterThan(50);
  });

  it('tumour regions hold more nuclei per area than the other tissue', () => {
    const inTumour = sum(and(full.nuclei, full.tumour)) / sum(full.tumour);
    const rest = and(full.tissue, not(full.tumour));
    const elsewhere = sum(and(full.nuclei, rest)) / sum(rest);
    expect(inTumour).toBeGreaterThan(2 * elsewhere);
  });

  it('a 2048 px region of the default 8192 px sample, and a full-zoom 512 px crop (test-output/sample/)', async () => {
    const scene = createScene({ width: 8192, height: 8192, seed: 1 });
    const t0 = performance.now();
    const r = scene.render(2600, 1800, 2048, 2048);
    const nsPerPixel = ((performance.now() - t0) * 1e6) / 2048 ** 2;
    console.log(`sample render: ${nsPerPixel.toFixed(0)} ns/px (2048x2048, one call)`);
    // Same properties on real sample content: tumour next to stroma.
    const tumourDensity = sum(and(r.nuclei, r.tumour)) / sum(r.tumour);
    const rest = and(r.tissue, not(r.tumour));
    expect(sum(r.tumour)).toBeGreaterThan(0.2 * 2048 ** 2);
    expect(sum(rest)).toBeGreaterThan(0.1 * 2048 ** 2);
    expect(tumourDensity).toBeGreaterThan(2 * (sum(and(r.nuclei, rest)) / sum(rest)));
    const out = new URL('../../test-output/sample/', import.meta.url).pathname;
    mkdirSync(out, { recursive: true });
    await sharp(Buffer.from(r.rgb), { raw: { width: 2048, height: 2048, channels: 3 } }).png().toFile(join(out, 'region-2048.png'));
    const crop = cropRegion(r, 2048, 700, 800, 512, 512);
    await sharp(Buffer.from(crop.rgb), { raw: { width: 512, height: 512, channels: 3 } }).png().toFile(join(out, 'crop-512.png'));
    await sharp(Buffer.from(crop.nuclei.map((v) => v * 255)), { raw: { width: 512, height: 512, channels: 1 } }).png().toFile(join(out, 'crop-512.nuclei.png'));
  });

  it('rejects bad sizes and regions with a clear error', () => {
    expect(() => createScene({ width: 0, height: 10, seed: 1 })).toThrow(SdsError);
    expect(() => createScene({ width: 10, height: 10, seed: 1, mpp: 0 })).toThrow(/mpp/);
    const scene = createScene({ width: 100, height: 100, seed: 1 });
    expect(() => scene.render(0, 0, 0, 10)).toThrow(/positive size/);
    expect(() => scene.render(0.5, 0, 10, 10)).toThrow(SdsError);
  });
});

describe('sample slide (pyramidal JPEG TIFF, Aperio layout)', () => {
  it('the same seed writes the same bytes (slide, masks, JSON); nothing temporary is left', () => {
    for (const suffix of ['.svs', '.nuclei.png', '.tumour.png', '.tissue.png', '.json']) {
      const a = readFileSync(slideA.replace(/\.svs$/, suffix));
      const b = readFileSync(slideB.replace(/\.svs$/, suffix));
      expect(Buffer.compare(a, b), suffix).toBe(0);
    }
    expect(readdirSync(join(tmp, 'a')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(manifest.bytes).toBe(statSync(slideA).size);
  });

  it('our reader opens it: levels, 256 px tiles, MPP, magnification, thumbnail', async () => {
    const slide = await openSlide(slideA);
    try {
      expect(slide.info.vendor).toBe('aperio');
      expect(slide.levels.map((l) => [l.width, l.height, l.tileWidth, l.tileHeight, l.compression, l.virtual])).toEqual([
        [1001, 701, 256, 256, 'JPEG', false],
        [501, 351, 256, 256, 'JPEG', false],
      ]);
      expect(slide.mpp).toEqual({ x: 0.5, y: 0.5 });
      expect(slide.magnification).toBe(20);
      expect(slide.associated.map((a) => [a.name, a.width, a.height])).toEqual([['thumbnail', 1001, 701]]);
      expect(manifest.levels.map((l) => [l.width, l.height])).toEqual([
        [1001, 701],
        [501, 351],
      ]);
    } finally {
      await slide.close();
    }
  });

  it('readRegion equals the rendered pixels within JPEG error (mean abs diff < 1.6 at Q=90, 4:4:4)', async () => {
    const slide = await openSlide(slideA);
    try {
      const l0 = await slide.readRegion(0, 0, 0, W, H);
      const d0 = mad(l0, full.rgb);
      expect(d0).toBeLessThan(1.6);
      expect(d0).toBeGreaterThan(0); // it is a lossy JPEG, not a copy
      // Level 1 is the 2x2 box average of the rendered level 0, then JPEG.
      const l1 = await slide.readRegion(1, 0, 0, 501, 351);
      expect(mad(l1, halve({ width: W, height: H, data: full.rgb }).data)).toBeLessThan(1.8);
      // The right and bottom edge tiles are partial: their pixels too.
      const edge = await slide.readRegion(0, 768, 512, W - 768, H - 512);
      expect(mad(edge, cropRegion(full, W, 768, 512, W - 768, H - 512).rgb)).toBeLessThan(1.6);
      const thumb = await slide.readAssociated('thumbnail');
      expect(mad(thumb.data, full.rgb)).toBeLessThan(2.5);
    } finally {
      await slide.close();
    }
  });

  it('ground-truth masks: nuclei at full resolution, tumour and tissue at 1/4 (block majority), JSON says so', async () => {
    const dir = join(tmp, 'a');
    expect(manifest).toMatchObject({ seed: 1, width: W, height: H, mpp: 0.5, magnification: 20, tileSize: 256, slide: 'sample.svs' });
    expect(manifest.masks.nuclei).toEqual({ file: 'sample.nuclei.png', downsample: 1, width: W, height: H });
    const small = { width: Math.ceil(W / MASK_DOWNSAMPLE), height: Math.ceil(H / MASK_DOWNSAMPLE) };
    expect(manifest.masks.tumour).toEqual({ file: 'sample.tumour.png', downsample: MASK_DOWNSAMPLE, ...small });
    const nuclei = await maskPng(join(dir, manifest.masks.nuclei.file));
    expect([nuclei.width, nuclei.height]).toEqual([W, H]);
    expect(Buffer.compare(nuclei.data, full.nuclei)).toBe(0);
    for (const k of ['tumour', 'tissue'] as const) {
      const m = await maskPng(join(dir, manifest.masks[k].file));
      expect([m.width, m.height]).toEqual([small.width, small.height]);
      expect(Buffer.compare(m.data, majorityDown(full[k], W, H, MASK_DOWNSAMPLE)), k).toBe(0);
    }
    const json = JSON.parse(readFileSync(join(dir, 'sample.json'), 'utf8')) as SampleManifest;
    expect(json).toEqual(manifest);
  });

  it('majorityDown: a block is 1 where at least half of its pixels (inside the image) are', () => {
    // 5x3 image, blocks of 2: the last column and row are partial.
    // 1 1 | 0 0 | 1
    // 1 0 | 0 1 | 0      blocks: 3/4, 1/4, 1/2
    // ----+-----+--
    // 0 0 | 0 1 | 0              0/2, 1/2, 0/1
    const mask = Uint8Array.from([1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
    expect(Array.from(majorityDown(mask, 5, 3, 2))).toEqual([1, 0, 1, 0, 1, 0]);
  });

  it.skipIf(!haveOpenSlide)('OpenSlide opens it as aperio with its MPP, and decodes the same pixels as our reader', async () => {
    const { stdout } = await run('openslide-show-properties', [slideA]);
    const props = new Map([...stdout.matchAll(/^([^:\n]+): '([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(props.get('openslide.vendor')).toBe('aperio');
    expect(props.get('openslide.mpp-x')).toBe('0.5');
    expect(props.get('openslide.mpp-y')).toBe('0.5');
    expect(props.get('openslide.objective-power')).toBe('20');
    expect(props.get('openslide.level-count')).toBe('2');
    expect(props.get('openslide.level[0].width')).toBe(String(W));
    expect(props.get('openslide.level[1].height')).toBe('351');
    expect(props.get('openslide.level[0].tile-width')).toBe('256');
    const png = join(tmp, 'openslide-l0.png');
    await run('openslide-write-png', [slideA, '0', '0', '0', String(W), String(H), png]);
    const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const slide = await openSlide(slideA);
    try {
      expect(mad(new Uint8Array(data), await slide.readRegion(0, 0, 0, W, H))).toBe(0);
    } finally {
      await slide.close();
    }
  });

  it('sds sample makes the sample and reuses a valid one', async () => {
    const out = join(tmp, 'cli', 'sample.svs');
    const sds = (...args: string[]) => run(process.execPath, [SDS, 'sample', '--out', out, '--size', '300x200', ...args]);
    const first = await sds();
    expect(first.stdout.trim()).toBe(out);
    expect(first.stderr).toMatch(/wrote 300x200 sample/);
    const mtime = statSync(out).mtimeMs;
    const again = await sds();
    expect(again.stdout.trim()).toBe(out);
    expect(again.stderr).toMatch(/already there/);
    expect(statSync(out).mtimeMs).toBe(mtime);
  });

  it('a sample that does not match the request, or is damaged, is made again rather than reused; force remakes it', async () => {
    const path = join(tmp, 'ensure', 'sample.svs');
    const o = { path, width: 300, height: 200, seed: 1 };
    expect((await ensureSample(o)).created).toBe(true);
    expect((await ensureSample(o)).created).toBe(false);
    expect((await ensureSample({ ...o, force: true })).created).toBe(true);
    expect(await validSample({ ...o, seed: 2 })).toBeUndefined();
    expect((await ensureSample({ ...o, seed: 2 })).created).toBe(true);
    writeFileSync(path, readFileSync(path).subarray(0, 1000)); // truncated slide
    expect(await validSample({ ...o, seed: 2 })).toBeUndefined();
    const remade = await ensureSample({ ...o, seed: 2 });
    expect(remade.created).toBe(true);
    expect(statSync(path).size).toBe(remade.manifest.bytes);
  });
});
