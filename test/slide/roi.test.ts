/**
 * Regions of interest without a slide (contracts/roi.ts, slide/roi.ts): which patches of a grid
 * have their centre inside QuPath's regions, against an independent winding-number test of every
 * centre; the layouts QuPath and others write; and the refusals of bad or huge files.
 */
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRoi, ROI_LIMITS } from '../../contracts/roi.js';
import { checkRoiOnSlide, readRoi, roiIdentity, roiPatches } from '../../slide/roi.js';
import { sdsError } from '../support/sds-error.js';
import { centreIn, gridPatches, HOLE, insideAny, keys, OUTER, polygon, qupath, TRI_A, TRI_B, TRI_C, type Ring } from '../support/roi-truth.js';

const root = mkdtempSync(join(tmpdir(), 'sds-roi-slide-'));
const file = (name: string, value: unknown) => {
  const p = join(root, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
};
const grid = gridPatches(10, 8, 64);
const spec = { size: 64, downsample: 1 };

describe('ROI patches: a patch is inside when its centre is', () => {
  it('a polygon with a hole: the centres inside the exterior and outside the hole, none in the hole', () => {
    const got = roiPatches(grid, spec, parseRoi(polygon(OUTER, HOLE), 'hole.geojson'));
    const want = grid.filter(centreIn([[OUTER, HOLE]], 64));
    const inHole = grid.filter(centreIn([[HOLE]], 64));
    expect(inHole.length).toBe(4);
    expect(want.length).toBe(grid.filter(centreIn([[OUTER]], 64)).length - inHole.length);
    expect(keys(got)).toEqual(keys(want));
  });

  it('a MultiPolygon: the union of its parts, an overlap counted once (not punched out as even-odd over all rings would)', () => {
    const polys = [[TRI_A], [TRI_B], [TRI_C]];
    const got = roiPatches(grid, spec, parseRoi({ type: 'MultiPolygon', coordinates: polys }, 'multi.geojson'));
    expect(grid.filter((p) => centreIn([[TRI_B]], 64)(p) && centreIn([[TRI_C]], 64)(p)).length).toBeGreaterThanOrEqual(2);
    expect(keys(got)).toEqual(keys(grid.filter(centreIn(polys, 64))));
  });

  it('a concave 10-gon with two holes and a rectangle over a 40 x 30 grid of 50 px patches, and a level-2 grid (downsample 4)', () => {
    const star: Ring = Array.from({ length: 10 }, (_, i) => {
      const r = i % 2 ? 330.3 : 690.7, a = (i * Math.PI) / 5 + 0.1;
      return [1000.3 + r * Math.cos(a), 750.1 + r * Math.sin(a)] as [number, number];
    });
    const h1: Ring = [[900.2, 650.6], [1100.9, 660.1], [1000.4, 850.8]];
    const h2: Ring = [[1300.7, 700.3], [1500.2, 710.9], [1400.6, 800.2]];
    const rect: Ring = [[1700.4, 100.4], [1990.2, 100.4], [1990.2, 400.6], [1700.4, 400.6]];
    const roi = parseRoi([qupath(polygon(star, h1, h2)), qupath(polygon(rect), 'Other')], 'star.geojson');
    const fine = gridPatches(40, 30, 50);
    const want = fine.filter((p) => insideAny([[star, h1, h2], [rect]], p.x + 25, p.y + 25));
    expect(want.length).toBeGreaterThan(200);
    expect(keys(roiPatches(fine, { size: 50, downsample: 1 }, roi))).toEqual(keys(want));
    // 16 analysis px at downsample 4: 64 level-0 px patches, centres at 32 + 64k
    const coarse = gridPatches(31, 23, 64);
    expect(keys(roiPatches(coarse, { size: 16, downsample: 4 }, roi))).toEqual(keys(coarse.filter(centreIn([[star, h1, h2], [rect]], 64))));
  });

  it('the layouts QuPath and others write give the same regions and identity: FeatureCollection, Feature, array, bare Polygon, GeometryCollection; z and unclosed rings', async () => {
    const open = OUTER.slice(0, -1).map(([x, y]) => [x, y, 0]) as unknown as Ring;
    const layouts = [
      { type: 'FeatureCollection', features: [qupath(polygon(OUTER, HOLE))] },
      qupath(polygon(OUTER, HOLE)),
      [qupath(polygon(OUTER, HOLE)), qupath({ type: 'Point', coordinates: [3, 4] }, 'Count'), { type: 'Feature', geometry: null, properties: null }],
      polygon(OUTER, HOLE),
      { type: 'GeometryCollection', geometries: [polygon(open, HOLE), { type: 'LineString', coordinates: [[0, 0], [1, 1]] }] },
    ];
    const want = keys(grid.filter(centreIn([[OUTER, HOLE]], 64)));
    const ids = new Set<string>();
    for (const [i, v] of layouts.entries()) {
      const roi = await readRoi(file(`layout-${i}.geojson`, v));
      expect(roi.polygons).toHaveLength(1);
      expect(keys(roiPatches(grid, spec, roi))).toEqual(want);
      if (i < 4) ids.add(roiIdentity(roi));
    }
    expect(ids.size).toBe(1);
    expect((await readRoi(file('labels.geojson', [qupath(polygon(OUTER)), qupath({ type: 'MultiPolygon', coordinates: [[TRI_A], [TRI_B]] }, 'Stroma')]))).polygons.map((p) => p.label)).toEqual(['feature 1 (Tumor)', 'feature 2 part 1 (Stroma)', 'feature 2 part 2 (Stroma)']);
    expect(roiIdentity(parseRoi(polygon(OUTER), 'a'))).not.toBe(roiIdentity(parseRoi(polygon(OUTER.map(([x, y]) => [x + 0.01, y])), 'b')));
  });
});

describe('ROI: bad input is refused naming the file and the problem', () => {
  it('not JSON, not GeoJSON, points only, a bad coordinate, an unknown geometry, a short ring, no features, a missing file', async () => {
    const cases: [unknown, RegExp][] = [
      ['{"type": "FeatureCollection", "features": [', /not JSON/],
      [{ hello: 1 }, /not GeoJSON features \(no "type"\)/],
      [{ type: 'Topology', objects: {} }, /not GeoJSON features \(type "Topology"\)/],
      [{ type: 'FeatureCollection', features: [qupath({ type: 'Point', coordinates: [1, 2] }), qupath({ type: 'MultiPoint', coordinates: [[1, 2]] })] }, /no Polygon or MultiPolygon among its 2 features \(2 without an area/],
      [{ type: 'FeatureCollection', features: [qupath(polygon(OUTER)), qupath(polygon([[0, 0], [1, 'a'], [2, 2]] as unknown as Ring))] }, /features\.1\.geometry: coordinates\.0\.1\.1: .*expected number/],
      [qupath({ type: 'Circle', radius: 3 }), /feature\.geometry: geometry type "Circle" is not a GeoJSON geometry/],
      [[qupath(polygon([[0, 0], [1, 1]]))], /\[0\]\.geometry: coordinates\.0: a ring needs at least 3 positions/],
      [{ type: 'FeatureCollection', features: [] }, /holds no features/],
      [{ type: 'FeatureCollection', features: {} }, /without a "features" array/],
    ];
    for (const [i, [value, message]] of cases.entries()) {
      const p = file(`bad-${i}.geojson`, value);
      const e = await sdsError(readRoi(p));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message.startsWith(`ROI ${p}: `)).toBe(true);
      expect(e.message).toMatch(message);
      expect(e.suggestion).toMatch(/Export objects as GeoJSON/);
    }
    const missing = await sdsError(readRoi(join(root, 'nowhere.geojson')));
    expect(missing.code).toBe('FILE_NOT_FOUND');
    expect(missing.message).toContain('nowhere.geojson');
    expect((await sdsError(readRoi(root))).code).toBe('FILE_NOT_FOUND'); // a folder
  });

  it('a huge file is refused by its size before it is read; too many vertices by count', async () => {
    const big = join(root, 'huge.geojson');
    writeFileSync(big, '');
    truncateSync(big, ROI_LIMITS.bytes + 1); // sparse: nothing is written or read
    expect((await sdsError(readRoi(big))).message).toMatch(/huge\.geojson: 32\.0 MiB, more than the 32 MiB/);
    const ring = Array.from({ length: ROI_LIMITS.vertices + 1 }, (_, i) => [i % 7, i % 5]);
    expect((await sdsError(() => parseRoi(polygon(ring as Ring), 'many.geojson'))).message).toMatch(/many\.geojson: more than 1000000 vertices/);
  });

  it('regions entirely off the slide are refused with the slide size; partly off is fine', async () => {
    const roi = parseRoi([qupath(polygon(OUTER)), qupath(polygon([[5000, 5000], [6000, 5000], [6000, 6000]]), 'Elsewhere')], 'off.geojson');
    const e = await sdsError(() => checkRoiOnSlide(roi, 640, 512, 'off.geojson'));
    expect(e.message).toMatch(/off\.geojson: 1 of 2 regions, first feature 2 \(Elsewhere\), lies outside the slide \(feature 2 \(Elsewhere\) spans x 5000\.\.6000, y 5000\.\.6000; the slide is 640 x 512 level-0 pixels\)/);
    expect((await sdsError(() => checkRoiOnSlide(parseRoi(polygon([[-50, 0], [-1, 0], [-1, 100]]), 'left.geojson'), 640, 512, 'left.geojson'))).message).toMatch(/every region lies outside/);
    expect(() => checkRoiOnSlide(parseRoi(polygon([[-200.5, -100.5], [300.3, -100.5], [300.3, 250.7]]), 'partly'), 640, 512, 'partly')).not.toThrow();
  });
});
