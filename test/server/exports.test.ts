/**
 * Exports from the browser's side of the server (POST /api/analyses/:aid/exports): a TIFF export
 * job streams progress to done, its download (Content-Disposition attachment) opens in OpenSlide
 * with the slide's size (overlay resolution x downsample, and full resolution) and MPP x downsample;
 * the detections export equals `sds export --detections` byte for byte; a running export cancelled
 * leaves no file (not even a partial one), a queued one never runs; bad kinds, overlays and options
 * are 400s naming the field. The writers' signal is checked directly too (detections: no partial).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../cli/main.js';
import type { ExportStatus } from '../../contracts/index.js';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import { exportDetections } from '../../results/index.js';
import { createServer, type SdsServer } from '../../server/index.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';
import { followEvents, type SseEvent } from '../support/sse.js';

const exec = promisify(execFile);
const HAVE_OPENSLIDE = existsSync('/usr/bin/openslide-show-properties');
if (!HAVE_OPENSLIDE) console.warn('[sds tests] openslide-show-properties not installed (apt-get install openslide-tools): the OpenSlide check of the exported TIFF is SKIPPED');

const SLIDE_W = 512, SLIDE_H = 384, SLIDE_MPP = 0.5; // writeTissueSlide: 2000 px/mm
const root = mkdtempSync(join(tmpdir(), 'sds-exports-'));
const results = join(root, 'results');
let dir: string;
let server: SdsServer;
let base: string;

const follow = followEvents;

const post = (body: unknown, aid = 'slide') => fetch(`${base}api/analyses/${aid}/exports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function startExport(body: unknown): Promise<{ export: string; events: string; status: ExportStatus }> {
  const r = await post(body);
  const j = (await r.json()) as { export: string; events: string; status: ExportStatus };
  expect(r.status, JSON.stringify(j)).toBe(202);
  expect(j.events).toBe(`/api/exports/${j.export}/events`);
  return j;
}

async function download(file: string, name: string): Promise<{ path: string; disposition: string | null }> {
  const r = await fetch(base + file.slice(1));
  expect(r.status).toBe(200);
  const path = join(root, name);
  writeFileSync(path, Buffer.from(await r.arrayBuffer()));
  return { path, disposition: r.headers.get('content-disposition') };
}

async function properties(path: string): Promise<Record<string, string>> {
  const { stdout } = await exec('openslide-show-properties', [path]);
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^([\w.[\]-]+): '([^']*)'/gm)) out[m[1]!] = m[2]!;
  return out;
}

const exportFiles = () => (existsSync(join(dir, 'exports')) ? readdirSync(join(dir, 'exports')) : []);

beforeAll(async () => {
  await initEngine({ announce: false });
  mkdirSync(join(root, 'slides'));
  const slide = join(root, 'slides', 'slide.tif');
  await writeTissueSlide(slide, SLIDE_W, SLIDE_H, 3);
  const r = await analyzeSlideToDir({ slide, out: results, model: { kind: 'random', arch: 'resnet18', classes: 3, seed: 0 }, layers: ['1_1'], variants: ['original'], patch: 64, workers: 1 });
  dir = r.dir;
  server = createServer({ slides: [join(root, 'slides')], results, port: 0, rescanMs: 0, workers: 1 }, () => undefined);
  base = (await server.listen()).url;
});

afterAll(async () => {
  vi.restoreAllMocks();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('POST /api/analyses/:aid/exports', () => {
  it('refuses bad kinds, overlays and options with a 400 naming the field; unknown ids are 404', async () => {
    const cases: [unknown, RegExp][] = [
      [{ kind: 'png' }, /kind/],
      [{}, /kind/],
      [{ kind: 'tiff' }, /overlay/],
      [{ kind: 'tiff', overlay: 'nope/grad/1_1' }, /overlay: analysis slide has no overlay "nope\/grad\/1_1"/],
      [{ kind: 'tiff', overlay: '../../etc' }, /overlay: must be an overlay key/],
      [{ kind: 'tiff', overlay: 'original/grad/1_1', colormap: 'rainbow' }, /colormap: "rainbow" is not a colour map/],
      [{ kind: 'tiff', overlay: 'original/grad/1_1', quality: 0 }, /quality/],
      [{ kind: 'tiff', overlay: 'original/grad/1_1', tileSize: 17 }, /tileSize/],
      [{ kind: 'tiff', overlay: 'original/grad/1_1', compression: 'lzw' }, /compression/],
      [{ kind: 'tiff', overlay: 'original/grad/1_1', range: [1, 0] }, /range/],
      [{ kind: 'tiff', overlay: 'original/grad/1_1', out: '/tmp/x.tif' }, /out|Unrecognized/i],
      [{ kind: 'detections', overlay: 'original/grad/1_1' }, /overlay|Unrecognized/i],
      [[{ kind: 'detections' }], /JSON object/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      const j = (await r.json()) as { error: { code: string; message: string } };
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(j.error.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await post({ kind: 'detections' }, 'nope')).status).toBe(404);
    expect((await fetch(`${base}api/exports/nope`)).status).toBe(404);
    expect((await fetch(`${base}api/exports/nope/file`)).status).toBe(404);
    expect((await fetch(`${base}api/exports/nope`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${base}api/exports/a%20b`)).status).toBe(400);
    expect(exportFiles()).toEqual([]);
  });

  it.skipIf(!HAVE_OPENSLIDE)('TIFF: progress to done, a download OpenSlide opens at the slide\'s size and MPP x downsample', async () => {
    const key = 'original/grad/1_1';
    const started = await startExport({ kind: 'tiff', overlay: key, tileSize: 32 });
    expect(started.status).toMatchObject({ kind: 'tiff', overlay: key, analysis: 'slide', unit: 'tiles' });
    const events = await follow(base + started.events.slice(1));
    const last = events.at(-1)!;
    expect(last.event, JSON.stringify(last.data)).toBe('done');
    const progress = events.filter((e) => e.event === 'progress' && (e.data.total as number) > 0);
    expect(progress.length).toBeGreaterThan(0);
    for (const e of progress) {
      expect(e.data.done as number).toBeLessThanOrEqual(e.data.total as number);
      expect(e.data.unit).toBe('tiles');
    }
    // tiles of 32: level 0 is 128 x 96 (4 x 3 tiles), level 1 64 x 48 (2 x 2), level 2 32 x 24 (1)
    expect(progress.at(-1)!.data).toMatchObject({ done: 17, total: 17 });
    expect(last.data).toMatchObject({ file: `/api/exports/${started.export}/file`, name: 'slide_original_grad_1_1.tif' });
    const got = await download(last.data.file as string, 'overlay.tif');
    expect(got.disposition).toMatch(/^attachment; filename="?slide_original_grad_1_1\.tif"?$/);
    expect(readFileSync(got.path).length).toBe(last.data.bytes);
    const p = await properties(got.path);
    expect(p['openslide.vendor']).toBe('generic-tiff');
    // the overlay's 4 level-0 px per pixel: the slide's size / 4, its MPP x 4
    expect([Number(p['openslide.level[0].width']) * 4, Number(p['openslide.level[0].height']) * 4]).toEqual([SLIDE_W, SLIDE_H]);
    expect(1e4 / Number(p['tiff.XResolution'])).toBeCloseTo(SLIDE_MPP * 4, 6);
    expect(p['tiff.ImageDescription']).toContain(`sds overlay ${key}`);
    // written under the analysis folder, by its export id
    expect(exportFiles()).toEqual([`${started.export}.tif`]);

    // full resolution, JPEG: the slide's own pixel size
    const full = await startExport({ kind: 'tiff', overlay: key, fullResolution: true, compression: 'jpeg', colormap: 'viridis', range: [-0.01, 0.01] });
    const fe = await follow(base + full.events.slice(1));
    expect(fe.at(-1)!.event, JSON.stringify(fe.at(-1)!.data)).toBe('done');
    const fp = await properties((await download(fe.at(-1)!.data.file as string, 'full.tif')).path);
    expect([Number(fp['openslide.level[0].width']), Number(fp['openslide.level[0].height'])]).toEqual([SLIDE_W, SLIDE_H]);
    expect(1e4 / Number(fp['tiff.XResolution'])).toBeCloseTo(SLIDE_MPP, 6);
    expect(fp['tiff.ImageDescription']).toContain('colour map viridis, range [-0.01, 0.01]');
  });

  it('detections: the same GeoJSON as sds export --detections', async () => {
    const started = await startExport({ kind: 'detections' });
    const events = await follow(base + started.events.slice(1));
    const last = events.at(-1)!;
    expect(last.event, JSON.stringify(last.data)).toBe('done');
    expect(last.data.name).toBe('slide_detections.geojson');
    const got = await download(last.data.file as string, 'server.geojson');
    const cli = join(root, 'cli.geojson');
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await run(['export', dir, '--detections', cli])).toBe(0);
    vi.restoreAllMocks();
    const want = readFileSync(cli);
    expect(readFileSync(got.path).equals(want)).toBe(true);
    const features = (JSON.parse(want.toString()) as { features: unknown[] }).features;
    expect(features.length).toBeGreaterThan(3);
    expect(last.data).toMatchObject({ done: features.length, total: features.length });
  });

  it('cancel: a running export stops and leaves no file, a queued one never runs', async () => {
    const before = exportFiles();
    // full resolution in 16 px JPEG tiles: about a thousand tiles, long enough to be stopped midway
    const big = await startExport({ kind: 'tiff', overlay: 'original/grad/1_1', fullResolution: true, tileSize: 16, compression: 'jpeg' });
    const queued = await startExport({ kind: 'detections' });
    expect(queued.status.state).toBe('queued');
    const q = await fetch(`${base}api/exports/${queued.export}`, { method: 'DELETE' });
    expect(q.status).toBe(200);
    expect(((await q.json()) as ExportStatus).state).toBe('cancelled');

    let answer: ExportStatus | undefined;
    const events = await follow(base + big.events.slice(1), async (e) => {
      if (answer || e.event !== 'progress' || e.data.state !== 'running') return;
      answer = (await (await fetch(`${base}api/exports/${big.export}`, { method: 'DELETE' })).json()) as ExportStatus;
    });
    expect(answer?.state).toBe('cancelled');
    expect(answer!.done).toBeLessThan(answer!.total || Infinity);
    expect(events.at(-1)!.event).toBe('cancelled');
    // nothing written: no TIFF, no partial file; the queued export never ran
    expect(exportFiles()).toEqual(before);
    expect((await fetch(`${base}api/exports/${big.export}/file`)).status).toBe(404);
    expect((await follow(base + queued.events.slice(1))).map((e) => e.event)).toEqual(['cancelled']);
    expect(((await (await fetch(`${base}api/exports/${queued.export}`)).json()) as ExportStatus).state).toBe('cancelled');
  });

  it('the detections writer stops at its signal and removes its partial file', async () => {
    const out = join(root, 'stopped.geojson');
    const stop = new AbortController();
    await expect(exportDetections(dir, { out, signal: stop.signal, onProgress: (done) => done === 1 && stop.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(readdirSync(root).filter((f) => f.startsWith('stopped.geojson'))).toEqual([]);
  });
});
