/**
 * Regions of interest in the server's analysis request (`roi`: QuPath's GeoJSON, inline): the
 * server analyses exactly the patches `sds analyze --roi` analyses for the same regions (the same
 * count, the same patch squares, the same `roiIdentity` in the manifest), every analysed patch's
 * centre lies inside the region and outside its hole (checked here with the rectangle's own
 * bounds), and a body over the old 64 KiB limit is accepted (a densely drawn region). A malformed
 * ROI, regions off the slide, and a body over 1 MiB are 400s naming the problem.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../cli/main.js';
import { manifestSchema, type Manifest } from '../../contracts/index.js';
import { analysedPatches } from '../../results/export-patches.js';
import { createServer, type SdsServer } from '../../server/index.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'sds-roi-request-'));
const results = join(root, 'results');
const SIZE = 256;
let server: SdsServer;
let base: string;

/** The region: x in [0, 144), all rows, with a hole x in [64, 128), y in [96, 160); edges drawn with many vertices (as a freehand QuPath tool does). */
const OUTER = { x0: 0, x1: 144, y0: 0, y1: SIZE };
const HOLE = { x0: 64, x1: 128, y0: 96, y1: 160 };
function ring(b: { x0: number; x1: number; y0: number; y1: number }, perEdge: number): number[][] {
  const out: number[][] = [];
  const edge = (ax: number, ay: number, bx: number, by: number) => {
    for (let i = 0; i < perEdge; i++) out.push([ax + ((bx - ax) * i) / perEdge, ay + ((by - ay) * i) / perEdge]);
  };
  edge(b.x0, b.y0, b.x1, b.y0);
  edge(b.x1, b.y0, b.x1, b.y1);
  edge(b.x1, b.y1, b.x0, b.y1);
  edge(b.x0, b.y1, b.x0, b.y0);
  out.push([b.x0, b.y0]);
  return out;
}
// QuPath's layout: an array of Features; a point annotation among them marks no region
const ROI = [
  { type: 'Feature', id: 'a1', geometry: { type: 'Polygon', coordinates: [ring(OUTER, 1500), ring(HOLE, 10)] }, properties: { objectType: 'annotation', classification: { name: 'Tumor', color: [200, 0, 0] } } },
  { type: 'Feature', id: 'p1', geometry: { type: 'Point', coordinates: [10, 10] }, properties: { objectType: 'annotation' } },
];
const REQUEST = { slide: 'roi', model: 'random-resnet18', layers: ['1_1'], methods: ['grad'], variants: ['original'], patch: 32, overlap: 0 };

const post = (body: unknown) => fetch(`${base}api/analyses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const manifest = (dir: string): Manifest => manifestSchema.parse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));

beforeAll(async () => {
  mkdirSync(join(root, 'slides'));
  await writeTiff(join(root, 'slides', 'roi.tif'), tissuePattern(SIZE, SIZE), SIZE, SIZE);
  server = createServer({ slides: [join(root, 'slides')], results, port: 0, rescanMs: 0, workers: 1 }, () => undefined);
  base = (await server.listen()).url;
});

afterAll(async () => {
  vi.restoreAllMocks();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('POST /api/analyses with roi', () => {
  it('refuses a malformed ROI, regions off the slide and an oversized body with a 400 naming the problem', async () => {
    const poly = (coordinates: unknown) => ({ type: 'Feature', geometry: { type: 'Polygon', coordinates }, properties: {} });
    const cases: [unknown, RegExp][] = [
      [{ type: 'FeatureCollection' }, /^roi: a FeatureCollection without a "features" array/],
      [[], /^roi: holds no features/],
      ['tumor.geojson', /^roi: not GeoJSON features/],
      [[poly([[[0, 0], [10, 0]]])], /^roi: \[0\]\.geometry: coordinates\.0: a ring needs at least 3 positions/],
      [[poly([[[0, 0], [10, 'x'], [0, 10]]])], /^roi: \[0\]\.geometry: coordinates\.0\.1\.1/],
      [[{ type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2] }, properties: {} }], /^roi: no Polygon or MultiPolygon/],
      [{ type: 'Polygon', coordinates: [[[5000, 5000], [6000, 5000], [6000, 6000]]] }, /^roi: every region.*lies outside the slide/],
    ];
    for (const [roi, message] of cases) {
      const r = await post({ ...REQUEST, roi });
      const j = (await r.json()) as { error: { code: string; message: string } };
      expect(r.status, JSON.stringify(roi)).toBe(400);
      expect(j.error.code).toBe('BAD_ARGUMENT');
      expect(j.error.message, JSON.stringify(roi)).toMatch(message);
    }
    // over the route's 1 MiB
    const huge = { type: 'Polygon', coordinates: [ring({ x0: 0, x1: 100, y0: 0, y1: 100 }, 30_000)] };
    const r = await post({ ...REQUEST, roi: huge });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/too large/);
    // nothing was queued or written for any of them
    expect(((await (await fetch(`${base}api/jobs`)).json()) as unknown[]).length).toBe(0);
  });

  it('analyses exactly the patches sds analyze --roi does, with the same roiIdentity', async () => {
    const body = JSON.stringify({ ...REQUEST, roi: ROI });
    expect(body.length).toBeGreaterThan(64 * 1024); // over the old limit, under the new one
    const r = await post(JSON.parse(body));
    const j = (await r.json()) as { job: string; events: string };
    expect(r.status, JSON.stringify(j)).toBe(202);
    const events = await (await fetch(base + j.events.slice(1))).text();
    expect(events, events.slice(-300)).toMatch(/event: done/);

    // the CLI with a file of the same regions
    const file = join(root, 'regions.geojson');
    writeFileSync(file, JSON.stringify(ROI, null, 2));
    const cliOut = join(root, 'cli');
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await run(['analyze', join(root, 'slides', 'roi.tif'), '--out', cliOut, '--weights', 'random:resnet18', '--roi', file, '--layers', '1_1', '--methods', 'grad', '--variants', 'original', '--patch', '32', '--overlap', '0', '--workers', '1']);
    vi.restoreAllMocks();
    expect(code).toBe(0);

    const server = manifest(join(results, 'roi'));
    const cli = manifest(join(cliOut, 'roi'));
    expect(server.analysis?.roiIdentity).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(server.analysis?.roiIdentity).toBe(cli.analysis?.roiIdentity);
    // the server's copy of the regions, under the results folder
    expect(server.analysis?.roi).toMatch(new RegExp(`^${results.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.sds-roi/[0-9a-f]{24}\\.geojson$`));
    expect(readdirSync(join(results, '.sds-roi'))).toHaveLength(1);
    expect(server.patches.count).toBe(cli.patches.count);
    const squares = async (dir: string, m: Manifest) => (await analysedPatches(dir, m)).map((p) => `${p.x},${p.y},${p.side}`).sort();
    const got = await squares(join(results, 'roi'), server);
    expect(got).toEqual(await squares(join(cliOut, 'roi'), cli));
    expect(got.length).toBe(server.patches.count);
    // every centre inside the region, outside its hole; and the hole and the right part do cut patches out
    for (const s of got) {
      const [x, y, side] = s.split(',').map(Number) as [number, number, number];
      const cx = x + side / 2, cy = y + side / 2;
      expect(cx >= OUTER.x0 && cx < OUTER.x1 && cy >= OUTER.y0 && cy < OUTER.y1, s).toBe(true);
      expect(cx >= HOLE.x0 && cx < HOLE.x1 && cy >= HOLE.y0 && cy < HOLE.y1, s).toBe(false);
    }
    expect(got.length).toBeGreaterThan(4);
  });
});
