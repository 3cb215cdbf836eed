/**
 * Regions of interest in the plan and the analysis (pipeline/plan.ts, existing-analysis.ts):
 * QuPath's GeoJSON limits an analysis to the tissue patches whose centre lies inside the regions.
 * The expected patches are computed here independently: a winding-number point-in-polygon test of
 * each patch centre (test/support/roi-truth.ts), intersected with the tissue patches of the same
 * slide planned without an ROI. The parser and the patch rule alone: test/slide/roi.test.ts.
 */
import { copyFileSync, cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAnalysisSpec, type AnalysisSpecInput } from '../../contracts/index.js';
import { FloatStore } from '../../maps/index.js';
import { initEngine } from '../../models/index.js';
import { AnalysisSession, analyzeSlideToDir, planAnalysis } from '../../pipeline/index.js';
import { existingAnalysis } from '../../pipeline/existing-analysis.js';
import { detectTissue, openSlide, type Patch } from '../../slide/index.js';
import { sdsError } from '../support/sds-error.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';
import { centreIn as centreInside, HOLE, key, keys, OUTER, polygon, qupath, TRI_A, TRI_B, TRI_C, type Ring } from '../support/roi-truth.js';

const W = 640, H = 512, P = 64;
const SPEC: AnalysisSpecInput = { model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, layers: ['2_1'], variants: ['backward-hook'], patch: P, batch: 4, outputs: false };
const centreIn = (polys: Ring[][]) => centreInside(polys, P);

let root: string, slide: string;
let tissue: Patch[];
const file = (name: string, value: unknown) => {
  const p = join(root, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
};
const plan = async (roi?: string) => {
  const s = await openSlide(slide);
  try {
    return await planAnalysis(s, await detectTissue(s), parseAnalysisSpec({ ...SPEC, ...(roi ? { roi } : {}) }));
  } finally {
    await s.close();
  }
};

beforeAll(async () => {
  await initEngine({ announce: false });
  root = mkdtempSync(join(tmpdir(), 'sds-roi-'));
  slide = join(root, 'disc.tif');
  await writeTissueSlide(slide, W, H, 3);
  tissue = (await plan()).patches;
  // the slide must give the ROI something to decide: tissue patches inside, in the hole and outside
  expect(tissue.length).toBeGreaterThan(30);
});

describe('ROI: QuPath GeoJSON limits the analysed patches', () => {
  it('a polygon with a hole: exactly the tissue patches whose centre is inside the exterior and outside the hole', async () => {
    const roi = file('hole.geojson', { type: 'FeatureCollection', features: [qupath(polygon(OUTER, HOLE))] });
    const want = tissue.filter(centreIn([[OUTER, HOLE]]));
    const inHole = tissue.filter(centreIn([[HOLE]]));
    const outside = tissue.filter((p) => !centreIn([[OUTER]])(p));
    expect(inHole.length).toBeGreaterThanOrEqual(4);
    expect(outside.length).toBeGreaterThanOrEqual(4);
    const got = (await plan(roi)).patches;
    expect(keys(got)).toEqual(keys(want));
    expect(got.length).toBe(tissue.length - inHole.length - outside.length);
    for (const p of inHole) expect(keys(got)).not.toContain(key(p));
  });

  it('a MultiPolygon (QuPath array layout): the union of its parts, overlapping parts counted once', async () => {
    const roi = file('multi.geojson', [qupath({ type: 'MultiPolygon', coordinates: [[TRI_A], [TRI_B], [TRI_C]] }, 'Stroma'), { type: 'Feature', geometry: { type: 'Point', coordinates: [5, 5] }, properties: { objectType: 'annotation' } }]);
    const polys = [[TRI_A], [TRI_B], [TRI_C]];
    const want = tissue.filter(centreIn(polys));
    const overlap = tissue.filter((p) => centreIn([[TRI_B]])(p) && centreIn([[TRI_C]])(p));
    expect(overlap.length).toBeGreaterThanOrEqual(1);
    expect(want.length).toBeGreaterThanOrEqual(3);
    expect(keys((await plan(roi)).patches)).toEqual(keys(want));
  });
});

describe('ROI: regions that give no analysis are refused naming the file and the problem', () => {
  it('regions off the slide, regions without a patch centre, and regions over glass only', async () => {
    // exported from a larger image (or in µm): refused, with the slide's size
    const off = file('off.geojson', [qupath(polygon(OUTER)), qupath(polygon([[5000, 5000], [6000, 5000], [6000, 6000]]), 'Elsewhere')]);
    const e1 = await sdsError(plan(off));
    expect(e1.message).toMatch(/off\.geojson: 1 of 2 regions, first feature 2 \(Elsewhere\), lies outside the slide .*x 5000\.\.6000, y 5000\.\.6000; the slide is 640 x 512/);
    // partly off the slide is fine: only its part on the slide has patches
    const partly: Ring = [[-200.5, -100.5], [300.3, -100.5], [300.3, 250.7], [-200.5, 250.7]];
    expect(keys((await plan(file('partly.geojson', polygon(partly)))).patches)).toEqual(keys(tissue.filter(centreIn([[partly]]))));
    // between four patch centres: no patch has its centre inside
    const e2 = await sdsError(plan(file('tiny.geojson', polygon([[300, 300], [310, 300], [310, 310], [300, 310]]))));
    expect(e2.message).toMatch(/tiny\.geojson: no patch of 64 level-0 px has its centre inside the regions/);
    // around the centre of a patch the tissue rule drops: inside, but glass
    const glass = gridCentres().find((c) => !tissue.some((p) => p.col === c.col && p.row === c.row));
    expect(glass).toBeDefined();
    const { x, y } = glass!;
    const e3 = await sdsError(plan(file('glass.geojson', polygon([[x - 10.5, y - 10.5], [x + 10.5, y - 10.5], [x + 10.5, y + 10.5], [x - 10.5, y + 10.5]]))));
    expect(e3.message).toMatch(/glass\.geojson: no patch of 64 level-0 px inside the regions has tissue on at least 50% of it \(1 patch inside, all mostly glass\)/);
  });
});

/** Centres of every grid patch of the test slide. */
function gridCentres(): { col: number; row: number; x: number; y: number }[] {
  const out = [];
  for (let row = 0; row < H / P; row++) for (let col = 0; col < W / P; col++) out.push({ col, row, x: col * P + P / 2, y: row * P + P / 2 });
  return out;
}

describe('ROI: the analysis, its manifest, reruns and resumes', () => {
  it('maps have values exactly on the patches inside; the manifest records the ROI; the same regions resume, others re-plan or are refused', async () => {
    const roiA = file('a.geojson', { type: 'FeatureCollection', features: [qupath(polygon(OUTER, HOLE))] });
    const want = new Set(tissue.filter(centreIn([[OUTER, HOLE]])).map(key));
    const out = join(root, 'out');
    const base = { slide, out, ...SPEC, workers: 1 };

    // the same patches from regions moved by half a pixel: another ROI, so another plan
    const shifted = (r: Ring) => r.map(([x, y]) => [x + 0.5, y + 0.5] as [number, number]);
    const roiB = file('b.geojson', polygon(shifted(OUTER), shifted(HOLE)));
    expect(tissue.filter(centreIn([[shifted(OUTER), shifted(HOLE)]])).map(key)).toEqual([...want]);
    // stopped at the first stitched batch: a journal of this plan is left
    const stop = new AbortController();
    await expect(analyzeSlideToDir({ ...base, roi: roiA, signal: stop.signal, onProgress: () => stop.abort() })).rejects.toThrow(/analysis stopped/);
    cpSync(out, join(root, 'out-b'), { recursive: true });
    const batches = Math.ceil(want.size / 4);
    const journalled = async (o: { out: string; roi: string }, fresh: boolean) => {
      const session = await AnalysisSession.open({ ...base, ...o }, { fresh });
      try {
        return batches - (await session.missing(session.plan.batches.keys())).length;
      } finally {
        await session.close();
      }
    };
    // the same regions (a copy under another name) find the journal, also as a queue worker would (fresh: false)
    const copy = join(root, 'a-copy.geojson');
    copyFileSync(roiA, copy);
    const kept = await journalled({ out, roi: copy }, false);
    expect(kept).toBeGreaterThanOrEqual(1);
    // other regions: a queue worker refuses the journal, a local run re-plans (its batches are computed again)
    await expect(journalled({ out, roi: roiB }, false)).rejects.toThrow(/was not planned with these settings/);
    expect(await journalled({ out: join(root, 'out-b'), roi: roiB }, true)).toBe(0);
    // resumed: the journalled batches are replayed, the rest computed
    const r = await analyzeSlideToDir({ ...base, roi: copy });
    expect(r.stats).toMatchObject({ reused: kept, computed: batches - kept });

    expect(r.manifest.patches.count).toBe(want.size);
    expect(r.manifest.analysis).toMatchObject({ roi: copy, roiIdentity: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) });
    // values where the patches inside are, nothing (NaN) elsewhere: 8 x 8 map pixels per patch at 2_1
    const ov = r.manifest.overlays[0]!;
    expect(ov.downsample).toBe(8);
    const store = await FloatStore.open(join(r.dir, ov.store));
    const all = await store.readRegion(0, 0, 0, store.width, store.height);
    for (const c of gridCentres()) {
      let finite = 0;
      for (let y = c.row * 8; y < c.row * 8 + 8; y++) for (let x = c.col * 8; x < c.col * 8 + 8; x++) if (Number.isFinite(all[y * store.width + x]!)) finite++;
      expect([key(c), finite]).toEqual([key(c), want.has(key(c)) ? 64 : 0]);
    }

    // finished: the same regions are "the same analysis"; other regions, an edited file or none differ
    expect((await existingAnalysis(r.dir, { ...SPEC, roi: roiA })).state).toBe('same');
    expect(await existingAnalysis(r.dir, { ...SPEC, roi: roiB })).toMatchObject({ state: 'different', differences: [`roi: ${copy} there, ${roiB} asked`] });
    expect(await existingAnalysis(r.dir, SPEC)).toMatchObject({ state: 'different', differences: [`roi: ${copy} there, none asked`] });
    writeFileSync(copy, JSON.stringify(polygon(OUTER)));
    expect(await existingAnalysis(r.dir, { ...SPEC, roi: copy })).toMatchObject({ state: 'different', differences: [`roi: ${copy} changed since (other regions)`] });
    await expect(analyzeSlideToDir({ ...base, roi: roiB })).rejects.toThrow(/holds a finished analysis made with other settings \(roi: .*a-copy\.geojson there, .*b\.geojson asked\)/);
  });

  it('the plan fingerprint: the same regions in any layout agree; other regions differ; no ROI keeps its old fingerprint', async () => {
    const a = await plan(file('fa.geojson', [qupath(polygon(OUTER, HOLE))]));
    const b = await plan(file('fb.geojson', polygon(OUTER, HOLE)));
    // moved by a tenth of a pixel: the same patches, other regions
    const c = await plan(file('fc.geojson', polygon(...[OUTER, HOLE].map((r) => r.map(([x, y]) => [x + 0.1, y] as [number, number])))));
    const none = await plan();
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(keys(c.patches)).toEqual(keys(a.patches));
    expect(c.fingerprint).not.toBe(a.fingerprint);
    expect(JSON.parse(a.fingerprint).roi).toMatch(/^sha256:/);
    expect(Object.keys(JSON.parse(none.fingerprint))).not.toContain('roi');
  });
});
