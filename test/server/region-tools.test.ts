/**
 * The viewer tools' endpoints against values computed here: the `sds regions` files listed per
 * analysis, regions traced on demand (two blocks of known size and value over a low background,
 * the same features as the CLI's file), and the statistics inside a shape (the fixture's own
 * point-in-polygon over every map pixel). Bad parameters are 400s naming the field, unknown
 * analyses and overlays 404s.
 */
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type SdsServer } from '../../server/index.js';
import { exportSaliencyGeoJson } from '../../results/index.js';
import type { RegionsFileInfo, RegionsResponse, RegionStatsResponse } from '../../contracts/api.js';
import { rawRequest } from '../support/raw-http.js';
import { ANALYSIS_ID, BLOCKS, expectedStats, KEY, MAP, OTHER_KEY, SLIDE, writeToolsFixture, type ToolsFixture } from '../support/region-tools-fixture.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'sds-region-tools-')));
let server: SdsServer;
let port: number;
let fx: ToolsFixture;

const get = (path: string) => rawRequest(port, { path });
const postStats = (key: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }, aid = ANALYSIS_ID) =>
  rawRequest(port, { method: 'POST', path: `/api/analyses/${aid}/overlays/${key}/stats`, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const json = <T>(r: { status: number; body: Buffer }): T => {
  expect(r.status, r.body.toString().slice(0, 300)).toBe(200);
  return JSON.parse(r.body.toString()) as T;
};
function errorOf(r: { status: number; type: string; body: Buffer }, status: number, what: string): string {
  expect(r.status, `${what}: ${r.body.toString().slice(0, 300)}`).toBe(status);
  expect(r.type, what).toMatch(/^application\/json/);
  expect(r.body.toString(), what).not.toContain(root);
  return (JSON.parse(r.body.toString()) as { error: { message: string } }).error.message;
}

beforeAll(async () => {
  fx = await writeToolsFixture(join(root, 'slides'), join(root, 'results'));
  // the CLI's file for one overlay (threshold 2: the two blocks)
  await exportSaliencyGeoJson(fx.analysisDir, { layer: '2_1', variant: 'backward-hook', method: 'grad', threshold: 2 });
  server = createServer({ slides: [join(root, 'slides')], results: join(root, 'results'), port: 0, rescanMs: 0 }, () => undefined);
  port = (await server.listen()).port;
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('GET /api/analyses/:aid/regions and .../:layer/regions', () => {
  it('lists the regions files that exist, with their feature counts and URLs the viewer can fetch', async () => {
    const files = json<RegionsFileInfo[]>(await get(`/api/analyses/${ANALYSIS_ID}/regions`));
    expect(files).toEqual([{ key: KEY, variant: 'backward-hook', method: 'grad', layer: '2_1', url: `/results/${ANALYSIS_ID}/regions/backward-hook/grad/2_1.geojson`, count: 2 }]);
    const doc = json<{ type: string; features: unknown[] }>(await get(files[0]!.url));
    expect(doc.type).toBe('FeatureCollection');
    expect(doc.features).toHaveLength(2);
  });

  it('traces the regions on demand: the two blocks, strongest first, their areas, peaks and µm², as the CLI wrote them', async () => {
    const r = json<RegionsResponse>(await get(`/api/analyses/${ANALYSIS_ID}/overlays/${KEY}/regions?threshold=2`));
    expect(r).toMatchObject({ key: KEY, threshold: 2, sign: 'positive', count: 2, truncated: false });
    expect(r.features).toHaveLength(2);
    r.features.forEach((f, i) => {
      const b = BLOCKS[i]!;
      const [x0, y0, x1, y1] = b.box;
      const pixels = (x1 - x0) * (y1 - y0);
      let max = -Infinity, sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) (max = Math.max(max, fx.values[y * MAP.width + x]!)), (sum += fx.values[y * MAP.width + x]!);
      const m = f.properties.measurements;
      expect(m.area_px).toBe(pixels * MAP.downsample ** 2);
      expect(m.area_um2).toBeCloseTo(pixels * MAP.downsample ** 2 * SLIDE.mpp ** 2, 6);
      expect(m.max).toBeCloseTo(max, 6);
      expect(m.mean).toBeCloseTo(sum / pixels, 5);
      // a rectangle: its outline is the block's border in level-0 px
      const xs = f.geometry.coordinates[0]!.map((p) => p[0]!), ys = f.geometry.coordinates[0]!.map((p) => p[1]!);
      expect([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]).toEqual([x0, y0, x1, y1].map((v) => v * MAP.downsample));
    });
    const file = JSON.parse(readFileSync(join(fx.analysisDir, 'regions/backward-hook/grad/2_1.geojson'), 'utf8')) as { features: unknown[] };
    expect(r.features).toEqual(file.features);
  });

  it('quantile and sign: the other overlay holds the negated map, so sign=negative finds the same blocks', async () => {
    const neg = json<RegionsResponse>(await get(`/api/analyses/${ANALYSIS_ID}/overlays/${OTHER_KEY}/regions?threshold=2&sign=negative`));
    expect(neg.count).toBe(2);
    expect(neg.features.map((f) => f.properties.measurements.area_px)).toEqual(BLOCKS.map((b) => (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]) * MAP.downsample ** 2));
    expect(json<RegionsResponse>(await get(`/api/analyses/${ANALYSIS_ID}/overlays/${OTHER_KEY}/regions?threshold=2`)).count).toBe(0);
    // the 99.5th percentile of |v| lies in the blocks' values (608 of 27000 tissue pixels are >= 3)
    const q = json<RegionsResponse>(await get(`/api/analyses/${ANALYSIS_ID}/overlays/${KEY}/regions?quantile=0.995`));
    expect(q.threshold).toBeGreaterThan(2.9);
    expect(q.count).toBeGreaterThanOrEqual(1);
  });

  it('400 on bad parameters (naming them), 404 on unknown analyses and overlays', async () => {
    const base = `/api/analyses/${ANALYSIS_ID}/overlays/${KEY}/regions`;
    for (const [query, field] of [
      ['quantile=2', 'quantile'],
      ['quantile=0', 'quantile'],
      ['quantile=abc', 'quantile'],
      ['threshold=-1', 'threshold'],
      ['threshold=1e999', 'threshold'],
      ['quantile=0.9&threshold=1', 'threshold'],
      ['sign=up', 'sign'],
      ['foo=1', 'foo'],
      ['quantile=0.9&quantile=0.8', 'quantile'],
    ] as const) {
      expect(errorOf(await get(`${base}?${query}`), 400, query)).toContain(field);
    }
    expect(errorOf(await get(`/api/analyses/${ANALYSIS_ID}/overlays/model/output/probability/regions`), 400, 'output')).toMatch(/model output/);
    errorOf(await get('/api/analyses/nope/regions'), 404, 'unknown analysis list');
    errorOf(await get(`/api/analyses/nope/overlays/${KEY}/regions`), 404, 'unknown analysis');
    errorOf(await get(`/api/analyses/${ANALYSIS_ID}/overlays/backward-hook/grad/9_9/regions`), 404, 'unknown overlay');
    errorOf(await get(`/api/analyses/${ANALYSIS_ID}/overlays/backward-hook/gr%20ad/2_1/regions`), 400, 'bad segment');
    errorOf(await get('/api/analyses/..%2F..%2Fetc/regions'), 400, 'traversal id');
  });
});

describe('POST .../:layer/stats', () => {
  const rect = [[[300.3, 200.7], [620.9, 200.7], [620.9, 1150.2], [300.3, 1150.2], [300.3, 200.7]]];
  // an L shape (concave) over a block, the background and the NaN band, with a hole
  const concave = [
    [[900.5, 650.1], [1180.7, 640.3], [1175.2, 780.9], [1010.4, 790.6], [1020.8, 1170.3], [895.1, 1160.7]],
    [[920.3, 1000.2], [990.7, 1005.1], [950.9, 1060.4]],
  ];

  it('rectangle and concave polygon with a hole: the statistics of every map pixel whose centre is inside', async () => {
    for (const [rings, threshold] of [[rect, 2], [concave, 0.5]] as const) {
      const want = expectedStats(fx.values, rings as unknown as number[][][], threshold);
      const got = json<RegionStatsResponse>(await postStats(KEY, { geometry: { type: 'Polygon', coordinates: rings }, threshold }));
      expect(want.pixels).toBeGreaterThan(500);
      expect(want.noTissue).toBeGreaterThan(50);
      expect(got).toMatchObject({ key: KEY, pixels: want.pixels, noTissue: want.noTissue, above: want.above, threshold, areaPx: want.areaPx });
      for (const k of ['mean', 'min', 'max', 'aboveShare', 'areaUm2'] as const) expect(Math.abs(got[k]! - want[k]!), k).toBeLessThan(1e-6);
    }
  });

  it('without a threshold: the overlay\'s upper range value (2.5 here)', async () => {
    const got = json<RegionStatsResponse>(await postStats(KEY, { geometry: { type: 'Polygon', coordinates: rect } }));
    expect(got.threshold).toBe(2.5);
    expect(got.above).toBe(expectedStats(fx.values, rect, 2.5).above);
  });

  it('400 on bad bodies (naming the field), 404 on unknown analysis or overlay', async () => {
    const poly = (coordinates: unknown) => ({ geometry: { type: 'Polygon', coordinates } });
    const cases: [string, unknown, string][] = [
      ['no geometry', { threshold: 1 }, 'geometry'],
      ['a point', { geometry: { type: 'Point', coordinates: [1, 2] } }, 'geometry'],
      ['two positions', poly([[[0, 0], [10, 10]]]), 'coordinates'],
      ['no rings', poly([]), 'coordinates'],
      ['a string coordinate', poly([[[0, 0], ['1', 2], [3, 0]]]), 'coordinates'],
      ['a 3-D position', poly([[[0, 0, 1], [10, 0, 1], [0, 10, 1]]]), 'coordinates'],
      ['huge coordinate', poly([[[0, 0], [1e12, 0], [0, 10]]]), 'coordinates'],
      ['too many vertices', poly([Array.from({ length: 5001 }, (_, i) => [Math.cos(i) * 100, Math.sin(i) * 100])]), 'coordinates'],
      ['zero area', poly([[[0, 0], [10, 10], [20, 20]]]), 'polygon'],
      ['threshold a string', { ...poly(rect), threshold: 'high' }, 'threshold'],
      ['unknown field', { ...poly(rect), colour: 'red' }, 'colour'],
    ];
    for (const [what, body, field] of cases) expect(errorOf(await postStats(KEY, body), 400, what), what).toContain(field);
    errorOf(await postStats(KEY, '{"geometry": '), 400, 'malformed JSON');
    errorOf(await postStats(KEY, JSON.stringify(poly(rect)), { 'content-type': 'text/plain' }), 400, 'not JSON');
    expect(errorOf(await postStats(KEY, JSON.stringify({ ...poly(rect), pad: 'x'.repeat(300_000) })), 400, 'too large')).toMatch(/too large/);
    errorOf(await postStats(KEY, poly(rect), undefined, 'nope'), 404, 'unknown analysis');
    errorOf(await postStats('backward-hook/ig/2_1', poly(rect)), 404, 'unknown overlay');
  });
});
