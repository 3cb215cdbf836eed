import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ContourTracer, exportSaliencyGeoJson, ringArea, traceContours, type Component, type Point } from '../../results/index.js';
import { syntheticManifest } from '../support/manifest.js';
import { FloatStore } from '../../maps/index.js';

function maskOf(width: number, height: number, inside: (x: number, y: number) => boolean): Uint8Array {
  const m = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) m[y * width + x] = inside(x, y) ? 1 : 0;
  return m;
}

/** No vertex repeats within a ring (apart from the closing one): the ring does not touch itself. */
function isSimpleVertexWise(ring: Point[]): boolean {
  const seen = new Set(ring.slice(0, -1).map(([x, y]) => `${x},${y}`));
  return seen.size === ring.length - 1;
}

function pointInRing(p: Point, ring: number[][]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]!, [xj, yj] = ring[j]!;
    if (yi! > p[1] !== yj! > p[1] && p[0] < ((xj! - xi!) * (p[1] - yi!)) / (yj! - yi!) + xi!) inside = !inside;
  }
  return inside;
}

describe('contours: binary mask -> polygons', () => {
  it('a disc: area within 2% of pi r^2, every vertex within 1 px of the circle, far fewer vertices than pixel steps', () => {
    const [cx, cy, r] = [64, 60, 40];
    const mask = maskOf(128, 128, (x, y) => (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 < r * r);
    const raw = traceContours(mask, 128, 128, { tolerance: 0 });
    const [c] = traceContours(mask, 128, 128, { tolerance: 0.7 });
    expect(raw).toHaveLength(1);
    expect(c!.holes).toHaveLength(0);
    expect(c!.pixels).toBe(mask.reduce((a, b) => a + b, 0));
    // pixel edges: the unsimplified ring covers exactly the pixels
    expect(ringArea(raw[0]!.outer)).toBe(c!.pixels);
    const area = ringArea(c!.outer);
    expect(area).toBeGreaterThan(0); // outer ring: positive (counter-clockwise) orientation
    expect(Math.abs(area - Math.PI * r * r) / (Math.PI * r * r)).toBeLessThan(0.02);
    for (const [x, y] of c!.outer) expect(Math.abs(Math.hypot(x - cx, y - cy) - r)).toBeLessThanOrEqual(1);
    expect(c!.outer.length).toBeLessThan(raw[0]!.outer.length / 2);
    expect(c!.outer.at(-1)).toEqual(c!.outer[0]);
  });

  it('a square with a square hole: two rings, outer positive and hole negative, exact areas and corners', () => {
    const mask = maskOf(32, 32, (x, y) => x >= 5 && x < 25 && y >= 5 && y < 25 && !(x >= 10 && x < 15 && y >= 12 && y < 17));
    const cs = traceContours(mask, 32, 32, { tolerance: 0.5 });
    expect(cs).toHaveLength(1);
    const c = cs[0]!;
    expect(c.holes).toHaveLength(1);
    expect(ringArea(c.outer)).toBe(400);
    expect(ringArea(c.holes[0]!)).toBe(-25);
    expect(c.pixels).toBe(375);
    const corners = (ring: Point[]) => ring.slice(0, -1).map(([x, y]) => `${x},${y}`).sort();
    expect(corners(c.outer)).toEqual(['25,25', '25,5', '5,25', '5,5']);
    expect(corners(c.holes[0]!)).toEqual(['10,12', '10,17', '15,12', '15,17']);
  });

  it('two pixels touching at a corner are two polygons (4-connectivity); a pinched hole stays a simple ring', () => {
    const two = traceContours(maskOf(6, 6, (x, y) => (x === 2 && y === 2) || (x === 3 && y === 3)), 6, 6);
    expect(two).toHaveLength(2);
    for (const c of two) {
      expect(ringArea(c.outer)).toBe(1);
      expect(c.outer).toHaveLength(5);
    }
    // a ring of 7 pixels around (1,1) whose missing corner (2,2) lets the hole touch the outside at
    // one point: one component, its hole a separate ring touching the shell at (2,2) (valid OGC)
    const ringMask = maskOf(3, 3, (x, y) => !(x === 1 && y === 1) && !(x === 2 && y === 2));
    const [c, ...rest] = traceContours(ringMask, 3, 3);
    expect(rest).toHaveLength(0);
    expect(c!.pixels).toBe(7);
    expect(c!.holes).toHaveLength(1);
    expect(ringArea(c!.outer)).toBe(8);
    expect(ringArea(c!.holes[0]!)).toBe(-1);
    expect(isSimpleVertexWise(c!.outer)).toBe(true);
    expect(isSimpleVertexWise(c!.holes[0]!)).toBe(true);
    expect(c!.outer.map(String)).toContain('2,2');
    expect(c!.holes[0]!.map(String)).toContain('2,2');
  });

  it('a component crossing band (chunk) borders comes out as one polygon, the same as from the whole mask', () => {
    // a U open at the top: its arms are separate until the bottom bar, two bands later
    const W = 40, H = 30;
    const u = (x: number, y: number) => (y >= 2 && y < 26 && ((x >= 4 && x < 9) || (x >= 20 && x < 26))) || (y >= 20 && y < 26 && x >= 4 && x < 26);
    const blob = (x: number, y: number) => x >= 30 && x < 36 && y >= 1 && y < 5; // finished in the first band
    const mask = maskOf(W, H, (x, y) => u(x, y) || blob(x, y));
    const whole = traceContours(mask, W, H, { tolerance: 0 });
    const t = new ContourTracer(W, { tolerance: 0 });
    const first = t.push(mask.subarray(0, 8 * W), 8);
    expect(first).toHaveLength(1); // the small square is complete after the first band: streamed out
    expect(ringArea(first[0]!.outer)).toBe(24);
    const got: Component[] = [...first, ...t.push(mask.subarray(8 * W, 21 * W), 13), ...t.push(mask.subarray(21 * W), H - 21), ...t.end()];
    expect(got).toHaveLength(2);
    const key = (c: Component) => JSON.stringify([c.pixels, [...c.outer.slice(0, -1).map(String)].sort(), c.holes.length]);
    expect(got.map(key).sort()).toEqual(whole.map(key).sort());
    const uc = got.find((c) => c.pixels > 24)!;
    expect(uc.holes).toHaveLength(0);
    expect(ringArea(uc.outer)).toBe(uc.pixels);
  });

  it('random masks (many saddles): every pixel centre lies in exactly the polygons of its own pixels, bands or not', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const density of [0.3, 0.5, 0.7]) {
      const W = 37, H = 29;
      const mask = maskOf(W, H, () => rnd() < density);
      const whole = traceContours(mask, W, H);
      const t = new ContourTracer(W);
      const banded: Component[] = [];
      for (let y = 0; y < H; ) {
        const rows = Math.min(H - y, 1 + Math.floor(rnd() * 7));
        banded.push(...t.push(mask.subarray(y * W, (y + rows) * W), rows));
        y += rows;
      }
      banded.push(...t.end());
      const key = (c: Component) => JSON.stringify([c.outer.slice(0, -1).map(String).sort(), c.holes.map((h) => h.slice(0, -1).map(String).sort()).sort()]);
      expect(banded.map(key).sort()).toEqual(whole.map(key).sort());
      let pixels = 0;
      for (const c of whole) {
        expect(ringArea(c.outer) + c.holes.reduce((s, h) => s + ringArea(h), 0)).toBe(c.pixels);
        for (const r of [c.outer, ...c.holes]) expect(isSimpleVertexWise(r)).toBe(true);
        pixels += c.pixels;
      }
      expect(pixels).toBe(mask.reduce((a, b) => a + b, 0));
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const p: Point = [x + 0.5, y + 0.5];
          const hits = whole.filter((c) => pointInRing(p, c.outer) && !c.holes.some((h) => pointInRing(p, h))).length;
          expect(hits).toBe(mask[y * W + x]);
        }
    }
  });

  it('drops components below minPixels and fills holes below minHoleArea; tracks sum and peak', () => {
    const mask = maskOf(20, 20, (x, y) => (x >= 2 && x < 12 && y >= 2 && y < 12 && !(x === 6 && y === 6)) || (x === 15 && y === 15));
    const values = Float32Array.from({ length: 400 }, (_, i) => (i % 20) + 0.5);
    const cs = traceContours(mask, 20, 20, { minPixels: 2, minHoleArea: 2 }, values);
    expect(cs).toHaveLength(1);
    expect(cs[0]!.holes).toHaveLength(0);
    expect(cs[0]!.pixels).toBe(99);
    expect(cs[0]!.peak).toBe(11.5);
    expect(cs[0]!.peakX).toBe(11);
    // sum of (x + 0.5) over the 10x10 block minus pixel (6, 6)
    expect(cs[0]!.sum).toBeCloseTo(10 * (2.5 + 11.5) * 5 - 6.5, 9);
  });
});

// ---- GeoJSON export ------------------------------------------------------------------------------

const position = z.tuple([z.number().finite(), z.number().finite()]);
const ring = z
  .array(position)
  .min(4)
  .refine((r) => r[0]![0] === r.at(-1)![0] && r[0]![1] === r.at(-1)![1], 'ring not closed');
const featureSchema = z.object({
  type: z.literal('Feature'),
  geometry: z.object({ type: z.literal('Polygon'), coordinates: z.array(ring).min(1) }),
  properties: z.object({
    objectType: z.literal('annotation'),
    name: z.string(),
    classification: z.object({ name: z.string(), color: z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]) }),
    // QuPath reads measurements as a map of numbers only
    measurements: z.record(z.string(), z.number().finite()),
    metadata: z.record(z.string(), z.string()),
  }),
});
const collectionSchema = z.object({ type: z.literal('FeatureCollection'), features: z.array(featureSchema) });

/** RFC 7946 polygon rules beyond the shape: outer ring counter-clockwise, holes clockwise. */
function checkRfc7946(fc: z.infer<typeof collectionSchema>): void {
  for (const f of fc.features) {
    const [outer, ...holes] = f.geometry.coordinates as Point[][];
    expect(ringArea(outer!)).toBeGreaterThan(0);
    for (const h of holes) expect(ringArea(h)).toBeLessThan(0);
  }
}

// two positive Gaussian blobs and a negative one, centred on pixel centres; NaN (no tissue) on the left
const W = 300, H = 200, DS = 4;
const BLOBS = [
  { x: 80, y: 64, amp: 2, sigma: 6 },
  { x: 200, y: 130, amp: 1, sigma: 8 },
  { x: 150, y: 40, amp: -3, sigma: 5 },
];
const field = (x: number, y: number) => (x < 10 ? NaN : BLOBS.reduce((s, b) => s + b.amp * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.sigma ** 2)), 0) + 0.001 * Math.sin(x * 0.7 + y * 1.3));

async function makeAnalysis(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sds-regions-'));
  // chunks of 64: both positive blobs cross chunk borders (x 64, y 128) and band borders
  const store = await FloatStore.create(join(dir, 'overlays/backward-hook/grad/1_2.zarr'), { width: W, height: H, chunk: 64 });
  const v = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) v[y * W + x] = field(x, y);
  await store.writeRegion(0, 0, W, H, v);
  await store.finalize();
  const manifest = syntheticManifest({
    slide: { path: '/x/slide.tiff', name: 'slide.tiff', width: W * DS, height: H * DS, mpp: { x: 0.25, y: 0.25 } },
    overlays: [{ variant: 'backward-hook', method: 'grad', layer: '1_2', downsample: DS, width: W, height: H, range: [-1, 1], store: 'overlays/backward-hook/grad/1_2.zarr', dzi: 'overlays/backward-hook/grad/1_2.dzi' }],
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

describe('GeoJSON export of the strongest saliency regions', () => {
  it('two Gaussian blobs: two polygons around their centres, right peaks, level-0 coordinates, valid RFC 7946', async () => {
    const dir = await makeAnalysis();
    const r = await exportSaliencyGeoJson(dir, { layer: '1_2', threshold: 0.5 });
    expect(r.path).toBe(join(dir, 'regions/backward-hook/grad/1_2.geojson'));
    const fc = collectionSchema.parse(JSON.parse(readFileSync(r.path, 'utf8')));
    checkRfc7946(fc);
    expect(fc.features).toHaveLength(2);
    // sorted by peak: the amplitude-2 blob first
    BLOBS.slice(0, 2).forEach((b, i) => {
      const f = fc.features[i]!;
      const m = f.properties.measurements;
      expect(m.max).toBeCloseTo(b.amp, 2); // the centre pixel: amplitude + tiny ripple
      const centre: Point = [(b.x + 0.5) * DS, (b.y + 0.5) * DS];
      expect([m.peak_x, m.peak_y]).toEqual(centre);
      const outer = f.geometry.coordinates[0]!;
      expect(pointInRing(centre, outer)).toBe(true);
      // the level set amp * exp(-d^2 / 2 s^2) = 0.5 is a circle of radius s sqrt(2 ln(2 amp)), in level-0 px
      const rad = b.sigma * Math.sqrt(2 * Math.log(2 * b.amp)) * DS;
      for (const [x, y] of outer) expect(Math.abs(Math.hypot(x! - centre[0], y! - centre[1]) - rad)).toBeLessThan(1.5 * DS);
      expect(Math.abs(m.area_px! - Math.PI * rad * rad) / (Math.PI * rad * rad)).toBeLessThan(0.08);
      expect(m.area_um2).toBeCloseTo(m.area_px! * 0.0625, 6);
      expect(m.mean).toBeGreaterThan(0.5);
      expect(m.mean).toBeLessThan(b.amp);
      expect(f.properties.classification.name).toBe('Saliency 1_2');
      expect(f.properties.metadata).toMatchObject({ layer: '1_2', variant: 'backward-hook', method: 'grad' });
    });
    expect(r.max).toBeCloseTo(2, 2);

    const neg = await exportSaliencyGeoJson(dir, { layer: '1_2', threshold: 0.5, sign: 'negative', out: join(dir, 'neg.geojson') });
    expect(neg.collection.features).toHaveLength(1);
    expect(neg.collection.features[0]!.properties.measurements.max).toBeCloseTo(-3, 2);
    expect(neg.collection.features[0]!.properties.measurements).toMatchObject({ peak_x: 150.5 * DS, peak_y: 40.5 * DS });
    const abs = await exportSaliencyGeoJson(dir, { layer: '1_2', threshold: 0.5, sign: 'abs', out: join(dir, 'abs.geojson') });
    expect(abs.collection.features.map((f) => Math.round(f.properties.measurements.max))).toEqual([-3, 2, 1]);
  });

  it('the default threshold is the 0.99 quantile of |value| over tissue (NaN left out)', async () => {
    const dir = await makeAnalysis();
    const r = await exportSaliencyGeoJson(dir, { layer: '1_2', sign: 'abs', out: join(dir, 'q.geojson') });
    const abs: number[] = [];
    for (let y = 0; y < H; y++) for (let x = 10; x < W; x++) abs.push(Math.abs(Math.fround(field(x, y))));
    abs.sort((a, b) => a - b);
    const want = abs[Math.round(0.99 * (abs.length - 1))]!;
    expect(Math.abs(r.threshold - want)).toBeLessThan((abs.at(-1)! / 65536) * 2);
    // the top 1% of |value| lies in the blobs' cores: each region holds one blob centre
    for (const f of r.collection.features) {
      const near = BLOBS.filter((b) => pointInRing([(b.x + 0.5) * DS, (b.y + 0.5) * DS], f.geometry.coordinates[0]!));
      expect(near).toHaveLength(1);
    }
    const selected = r.collection.features.reduce((s, f) => s + f.properties.measurements.area_px! / DS / DS, 0);
    expect(Math.abs(selected - 0.01 * abs.length)).toBeLessThan(0.002 * abs.length + 5);
  });

  it('names the overlays there are when asked for one that is missing', async () => {
    const dir = await makeAnalysis();
    await expect(exportSaliencyGeoJson(dir, { layer: '2_3' })).rejects.toThrow(/no overlay backward-hook grad 2_3/);
  });

  it('sds regions prints the summary and writes the file', async () => {
    const dir = await makeAnalysis();
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [new URL('../../bin/sds.js', import.meta.url).pathname, 'regions', dir, '--layer', '1_2', '--threshold', '0.5']);
    expect(stdout).toMatch(/backward-hook grad 1_2\s+>= 0\.5000\s+2\s+[\d.]+ mm²\s+2\.00/);
    expect(stderr).toMatch(/2 regions -> .*regions\/backward-hook\/grad\/1_2\.geojson/);
  });
});
