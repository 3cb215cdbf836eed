/**
 * Running analyses as the server lists them (server/running-analyses.ts), against a finished one:
 * a slide is analysed with the pipeline, then its folder is put back into a running state (no
 * manifest, the overlay store holding only its first chunk, as the writer leaves it midway). The
 * running entry must give the overlay the finished manifest's geometry, the id the results catalog
 * gives the folder, the 99th-percentile |v| range of the values written so far (computed here by
 * sorting), and tiles drawn over the written chunk and transparent over the missing one.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slideTaskSchema, type JobStatus, type Manifest, type OverlayEntry, type SlideTask } from '../../contracts/index.js';
import { FloatStore } from '../../maps/index.js';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import { RunningAnalyses, type RunningJob } from '../../server/running-analyses.js';
import { dzGeometry, dzTile } from '../../server/deep-zoom.js';
import { overlayTileRgba, OVERLAY_TILE_OVERLAP, OVERLAY_TILE_SIZE } from '../../server/overlay-tiles.js';
import { SlideCatalog } from '../../server/slide-catalog.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';

describe('running analyses: listed with the overlays computed so far', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-running-'));
  const slides = join(root, 'slides');
  const results = join(root, 'results');
  const slidePath = join(slides, 'wide.tif');
  let manifest: Manifest;
  let entry: OverlayEntry;
  let task: SlideTask;
  /** the first chunk's values and the second's, as the pipeline finished them */
  let first: Float32Array;
  let second: Float32Array;

  beforeAll(async () => {
    mkdirSync(slides, { recursive: true });
    // 3072 px wide: at layer 1_1 (stride 4) the overlay is 768 px, two 512 px store chunks side by side, tissue in both
    await writeTiff(slidePath, tissuePattern(3072, 768), 3072, 768);
    const options = { model: { kind: 'random' as const, arch: 'resnet18' as const, classes: 2, seed: 0 }, layers: ['1_1'], methods: ['grad' as const], variants: ['original' as const], patch: 256, level: 0, overlap: 0, batch: 8, out: results };
    ({ manifest } = await analyzeSlideToDir({ ...options, slide: slidePath, workers: 1 }));
    entry = manifest.overlays[0]!;
    task = slideTaskSchema.parse({ slide: slidePath, options });
    const dir = join(results, 'wide');
    const finished = await FloatStore.open(join(dir, entry.store));
    first = await finished.readRegion(0, 0, 0, 512, Math.min(512, entry.height));
    second = await finished.readRegion(0, 512, 0, entry.width - 512, Math.min(512, entry.height));
    // midway: no manifest yet, and a level-0-only store with the first chunk alone (OverlayWriter flushes each finished chunk)
    await rm(join(dir, 'manifest.json'));
    const running = await FloatStore.create(join(dir, entry.store), { width: entry.width, height: entry.height, name: 'original grad 1_1' });
    await running.writeRegion(0, 0, 512, Math.min(512, entry.height), first);
    await running.flush();
  }, 60_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const job = (done: number): RunningJob => ({ dir: join(results, 'wide'), task, status: { id: 'j', slide: 'wide', state: 'running', done, total: manifest.patches.count, rate: 1, eta: 1 } satisfies JobStatus, startedAt: Date.now() - 5000 });
  const running = (jobs: RunningJob[]) => {
    const catalog = new SlideCatalog({ folders: [slides] });
    return new RunningAnalyses({ root: async () => results, slides: () => catalog.list(), running: () => jobs });
  };

  it('gives the finished geometry, the catalog id and the range of the values written so far', async () => {
    const [a, ...more] = await running([job(8)]).list();
    expect(more).toEqual([]);
    expect(a!.id).toBe('wide');
    expect(a!.running).toBe(true);
    expect(a!.version).toBe('running:8');
    expect(a!.slideReal).toBe(manifest.slide.path);
    const o = a!.overlays[0]!;
    expect(o.key).toBe('original/grad/1_1');
    expect({ ...o.entry, range: undefined }).toEqual({ ...entry, range: undefined });
    expect(a!.manifest.patches).toMatchObject({ size: 256, level: 0, overlap: 0, count: manifest.patches.count });
    // the 99th percentile of |v| over the written values (sorted-array rank), within the histogram's bin
    const abs = [...first].filter((v) => !Number.isNaN(v)).map(Math.abs).sort((x, y) => x - y);
    const rank = 0.99 * (abs.length - 1);
    const lo = abs[Math.floor(rank)]!, hi = abs[Math.ceil(rank)]!;
    const bin = (abs.at(-1)! - abs[0]!) / 65536;
    expect(o.entry.range[1]).toBeGreaterThanOrEqual(lo - bin);
    expect(o.entry.range[1]).toBeLessThanOrEqual(hi + bin);
    expect(o.entry.range[0]).toBe(-o.entry.range[1]);
    // the finished analysis' range is over both chunks: not the one a running analysis can know
    expect(o.entry.range).not.toEqual(entry.range);
  });

  it('draws its tiles where the chunk is written and leaves the rest transparent', async () => {
    const [a] = await running([job(8)]).list();
    const o = a!.overlays[0]!;
    const store = await FloatStore.open(join(a!.dir, o.entry.store));
    const g = dzGeometry(o.entry.width, o.entry.height, OVERLAY_TILE_SIZE, OVERLAY_TILE_OVERLAP);
    // full resolution: tile (0,0) lies in the written chunk, tile (2,0) (x 512..639) in the missing one
    const alpha = async (col: number) => {
      const t = dzTile(g, g.maxLevel, col, 0)!;
      const { rgba } = await overlayTileRgba(store, t, o.entry.range, 'diverging');
      const values = await store.readRegion(0, t.x, t.y, t.width, t.height);
      let drawn = 0, tissue = 0;
      for (let i = 0; i < values.length; i++) {
        if (!Number.isNaN(values[i]!)) tissue++;
        if (rgba[i * 4 + 3]! > 0) drawn++;
      }
      return { drawn, tissue };
    };
    const written = await alpha(0);
    expect(written.tissue).toBeGreaterThan(0);
    expect(written.drawn).toBe(written.tissue);
    // where the finished analysis has values but the running one has not got them yet: transparent
    expect(second.filter((v) => !Number.isNaN(v)).length).toBeGreaterThan(1000);
    expect(await alpha(2)).toEqual({ drawn: 0, tissue: 0 });
  });

  it('lists nothing before a first chunk is written, and nothing when no job runs', async () => {
    expect(await running([]).list()).toEqual([]);
    const dir = join(results, 'wide');
    await FloatStore.create(join(dir, entry.store), { width: entry.width, height: entry.height });
    expect(await running([job(0)]).list()).toEqual([]);
  });
});
