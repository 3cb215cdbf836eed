/**
 * Statistics inside a shape (results/region-stats.ts) against an independent count: every map pixel
 * of a float store written here is tested with its own ray-casting point-in-polygon at its centre
 * in level-0 pixels ((x + 0.5) * downsample), and the statistics are summed in the test. Shapes: a
 * rectangle, a concave polygon across chunk borders, a polygon with a hole over NaN (no tissue)
 * pixels, one reaching outside the map. The reads are checked too: only blocks inside the shape's
 * bounding box, each at most one chunk. Bad polygons are refused with BAD_ARGUMENT.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloatStore } from '../../maps/index.js';
import { checkStatsPolygon, regionStats } from '../../results/index.js';
import { SdsError } from '../../core/errors.js';
import { statsOverMap } from '../support/region-tools-fixture.js';

const W = 150, H = 110, CHUNK = 32, DS = 4;
const MPP = { x: 0.25, y: 0.3 };
const root = mkdtempSync(join(tmpdir(), 'sds-region-stats-'));
let store: FloatStore;
let values: Float32Array;

/** The statistics summed in the test over every map pixel, with its own point-in-polygon (test/support). */
function truth(rings: number[][][], threshold: number) {
  const t = statsOverMap(values, W, H, DS, rings, threshold);
  return { pixels: t.pixels, noTissue: t.noTissue, above: t.above, mean: t.sum / t.pixels, min: t.min, max: t.max };
}

beforeAll(async () => {
  store = await FloatStore.create(join(root, 'map.zarr'), { width: W, height: H, chunk: CHUNK });
  values = new Float32Array(W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      // no tissue: a disc, and the right-most columns (their chunks partly never written)
      const nan = (x - 70) ** 2 + (y - 60) ** 2 < 12 ** 2 || x >= 140;
      values[y * W + x] = nan ? NaN : 3 * Math.sin(x / 7) * Math.cos(y / 5) + x / 150;
    }
  await store.writeRegion(0, 0, W, H, values);
  await store.finalize();
  store = await FloatStore.open(join(root, 'map.zarr'), { cacheChunks: 2 });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const SHAPES: Record<string, number[][][]> = {
  // vertices off the pixel grid (no centre lies on an edge)
  rectangle: [[[41.3, 37.7], [301.9, 37.7], [301.9, 250.1], [41.3, 250.1], [41.3, 37.7]]],
  // a "U": concave, across several chunks, open ring (no closing point)
  concave: [[[20.2, 20.6], [180.7, 22.1], [181.3, 300.9], [130.1, 299.4], [128.9, 90.3], [72.2, 91.7], [70.6, 310.2], [18.9, 311.7]]],
  // around the NaN disc (centre (70, 60) map px = (282, 242) level-0), with a hole
  'with NaN and a hole': [
    [[200.5, 150.3], [380.1, 160.9], [390.7, 330.2], [210.3, 340.6]],
    [[250.1, 300.3], [300.7, 300.9], [290.2, 320.4]],
  ],
  // reaching past the map on every side (the map covers 600 x 440 level-0 px)
  'past the edges': [[[-50.5, -30.2], [700.3, -20.7], [650.9, 500.1], [-40.1, 480.6]]],
};

describe('region statistics against an independent point-in-polygon count', () => {
  for (const [name, rings] of Object.entries(SHAPES)) {
    it(`${name}: pixels, NaN pixels, mean, min, max, share above the threshold, area`, async () => {
      const threshold = 1.25;
      const want = truth(rings, threshold);
      const got = await regionStats(store, rings, { downsample: DS, threshold, mpp: MPP });
      expect(want.pixels).toBeGreaterThan(100);
      expect(got.pixels).toBe(want.pixels);
      expect(got.noTissue).toBe(want.noTissue);
      expect(got.above).toBe(want.above);
      expect(got.mean!).toBeCloseTo(want.mean, 6);
      expect(Math.abs(got.mean! - want.mean)).toBeLessThan(1e-6);
      expect(Math.abs(got.min! - want.min)).toBeLessThan(1e-6);
      expect(Math.abs(got.max! - want.max)).toBeLessThan(1e-6);
      expect(Math.abs(got.aboveShare! - want.above / want.pixels)).toBeLessThan(1e-6);
      expect(got.areaPx).toBe(want.pixels * DS * DS);
      expect(Math.abs(got.areaUm2! - want.pixels * DS * DS * MPP.x * MPP.y)).toBeLessThan(1e-6);
      if (name === 'with NaN and a hole') expect(got.noTissue).toBeGreaterThan(50);
    });
  }

  it('reads only chunk-sized blocks inside the bounding box of the shape', async () => {
    const reads: [number, number, number, number][] = [];
    const spy = Object.create(store) as FloatStore;
    spy.readRegion = (level, x, y, w, h) => {
      reads.push([x, y, w, h]);
      return store.readRegion(level, x, y, w, h);
    };
    const rings = SHAPES.concave!;
    const got = await regionStats(spy, rings, { downsample: DS, threshold: 0 });
    expect(got.pixels).toBe(truth(rings, 0).pixels);
    const xs = rings[0]!.map((p) => p[0]! / DS), ys = rings[0]!.map((p) => p[1]! / DS);
    expect(reads.length).toBeGreaterThan(4);
    for (const [x, y, w, h] of reads) {
      expect(w * h).toBeLessThanOrEqual(CHUNK * CHUNK);
      expect(x).toBeGreaterThanOrEqual(Math.floor(Math.min(...xs)) - 1);
      expect(y).toBeGreaterThanOrEqual(Math.floor(Math.min(...ys)) - 1);
      expect(x + w).toBeLessThanOrEqual(Math.ceil(Math.max(...xs)) + 1);
      expect(y + h).toBeLessThanOrEqual(Math.ceil(Math.max(...ys)) + 1);
      // never across a chunk border (one chunk per read)
      expect(Math.floor(x / CHUNK)).toBe(Math.floor((x + w - 1) / CHUNK));
      expect(Math.floor(y / CHUNK)).toBe(Math.floor((y + h - 1) / CHUNK));
    }
  });

  it('a shape over no tissue or outside the map: zero pixels, null statistics, no slide MPP: null µm²', async () => {
    const outside = await regionStats(store, [[[5000, 5000], [5100, 5000], [5100, 5100]]], { downsample: DS, threshold: 0 });
    expect(outside).toMatchObject({ pixels: 0, noTissue: 0, mean: null, min: null, max: null, aboveShare: null, areaPx: 0, areaUm2: null });
    // inside the NaN disc only
    const disc = await regionStats(store, [[[270.3, 230.2], [290.6, 230.9], [290.1, 250.7], [270.8, 250.4]]], { downsample: DS, threshold: 0 });
    expect(disc.pixels).toBe(0);
    expect(disc.noTissue).toBe(truth([[[270.3, 230.2], [290.6, 230.9], [290.1, 250.7], [270.8, 250.4]]], 0).noTissue);
    expect(disc.noTissue).toBeGreaterThan(0);
  });

  it('refuses bad polygons and thresholds with BAD_ARGUMENT', async () => {
    const bad: [string, unknown][] = [
      ['no rings', []],
      ['not an array', 'polygon'],
      ['two vertices', [[[0, 0], [10, 10]]]],
      ['a repeated vertex only', [[[0, 0], [0, 0], [0, 0], [0, 0]]]],
      ['NaN coordinate', [[[0, 0], [NaN, 10], [10, 0]]]],
      ['infinite coordinate', [[[0, 0], [Infinity, 10], [10, 0]]]],
      ['huge coordinate', [[[0, 0], [1e12, 10], [10, 0]]]],
      ['position of one number', [[[0, 0], [5], [10, 0]]]],
      ['zero area', [[[0, 0], [10, 10], [20, 20]]]],
      ['too many vertices', [Array.from({ length: 5001 }, (_, i) => [Math.cos(i), Math.sin(i)])]],
      ['too many rings', Array.from({ length: 33 }, () => [[0, 0], [10, 0], [0, 10]])],
    ];
    for (const [what, coords] of bad) {
      const err = await regionStats(store, coords, { downsample: DS, threshold: 0 }).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(SdsError);
      expect((err as SdsError).code, what).toBe('BAD_ARGUMENT');
      expect(() => checkStatsPolygon(coords), what).toThrow(/polygon/);
    }
    await expect(regionStats(store, SHAPES.rectangle, { downsample: DS, threshold: NaN })).rejects.toThrow(/threshold/);
    await expect(regionStats(store, SHAPES.rectangle, { downsample: 0, threshold: 0 })).rejects.toThrow(/downsample/);
  });
});
