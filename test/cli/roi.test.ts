/**
 * `--roi FILE` on the command line (cli/analysis-options.ts): `sds batch` analyses only the tissue
 * patches whose centre lies inside QuPath's regions, given by a relative path (recorded absolute,
 * so queue workers find it); a bad file is refused before any slide is opened, naming the file.
 * Expected patches: the tissue patches planned without an ROI, filtered by an independent
 * winding-number test of their centres (test/support/roi-truth.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestSchema } from '../../contracts/index.js';
import { detectTissue, openSlide, patchGrid, tissuePatches } from '../../slide/index.js';
import { sdsRun } from '../support/cli-process.js';
import { centreIn, HOLE, OUTER, polygon, qupath } from '../support/roi-truth.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';

const FLAGS = ['--weights', 'random:resnet18', '--patch', '64', '--layers', '2_1', '--variants', 'backward-hook', '--no-outputs', '--workers', '1'];

describe('sds analyze / batch --roi', () => {
  it('batch: only the tissue patches whose centre is inside the polygon and outside its hole; the manifest records the ROI', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sds-cli-roi-'));
    mkdirSync(join(root, 'slides'));
    const slide = join(root, 'slides', 'disc.tif');
    await writeTissueSlide(slide, 640, 512, 3);
    writeFileSync(join(root, 'regions.geojson'), JSON.stringify({ type: 'FeatureCollection', features: [qupath(polygon(OUTER, HOLE))] }));
    const r = await sdsRun(['batch', 'slides', '--out', 'out', '--roi', 'regions.geojson', ...FLAGS], { cwd: root });
    expect(r.stderr + r.stdout).toMatch(/1 slides, 0 failed/);
    expect(r.code).toBe(0);

    // the tissue rule as the plan applies it without an ROI (minTissue 0.5), then the centres inside
    const s = await openSlide(slide);
    const grid = { size: 64, overlap: 0, level: 0, downsample: 1 };
    const tissue = tissuePatches(patchGrid(640, 512, grid), grid, await detectTissue(s).finally(() => s.close()), 0.5);
    const want = tissue.filter(centreIn([[OUTER, HOLE]], 64));
    expect(want.length).toBeGreaterThan(10);
    expect(want.length).toBeLessThan(tissue.length - 5);
    const m = manifestSchema.parse(JSON.parse(readFileSync(join(root, 'out', 'disc', 'manifest.json'), 'utf8')));
    expect(m.patches.count).toBe(want.length);
    expect(m.analysis).toMatchObject({ roi: join(root, 'regions.geojson'), roiIdentity: expect.stringMatching(/^sha256:/) });
  });

  it('analyze: a file without polygons is refused before the slide is opened, naming the file and the problem', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sds-cli-roi-'));
    const points = join(root, 'points.geojson');
    writeFileSync(points, JSON.stringify([qupath({ type: 'Point', coordinates: [100, 100] }, 'Lymphocyte')]));
    const r = await sdsRun(['analyze', join(root, 'no-such-slide.svs'), '--out', join(root, 'out'), '--roi', points, ...FLAGS]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`error: ROI ${points}: no Polygon or MultiPolygon among its 1 feature (1 without an area`);
    expect(r.stderr).toMatch(/hint: .*Export objects as GeoJSON/);
    expect(existsSync(join(root, 'out')) ? readdirSync(join(root, 'out')) : []).toEqual([]);
  });
});
