/**
 * Analysis jobs through the server, end to end: a generated slide with tissue, the seeded random
 * ResNet18, one worker; progress over Server-Sent Events to `done`, then the analysis is listed.
 * Also: every bad field of the request is refused with a 400 naming it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AnalysisSummary, type JobStatus, type ModelInfo, type SdsServer, type SlideDetail } from '../../server/index.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'sds-server-jobs-'));
let server: SdsServer;
let base: string;

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads an event stream to its end (the server ends it after `done` / `failed`). */
async function readEvents(url: string): Promise<SseEvent[]> {
  const r = await fetch(url);
  expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await r.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [ev, data] = block.split('\n');
      return { event: ev!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) as Record<string, unknown> };
    });
}

const post = (body: unknown, type = 'application/json') =>
  fetch(`${base}api/analyses`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

beforeAll(async () => {
  mkdirSync(join(root, 'slides'));
  await writeTiff(join(root, 'slides', 'tissue.tif'), tissuePattern(256, 256), 256, 256);
  await writeTiff(join(root, 'slides', 'doomed.tif'), tissuePattern(256, 256), 256, 256);
  server = createServer({ slides: [join(root, 'slides')], results: join(root, 'results'), port: 0, rescanMs: 0, workers: 1, batch: 4 }, () => undefined);
  base = (await server.listen()).url;
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('sds server: analysis jobs', () => {
  it('lists the random ResNet18 with its layers', async () => {
    const models = (await (await fetch(`${base}api/models`)).json()) as ModelInfo[];
    expect(models[0]).toEqual({ id: 'random-resnet18', name: expect.any(String), arch: 'resnet18', classes: 2, surrogate: false, layers: ['input', '1_0', '1_1', '2_0', '2_1', '3_0', '3_1', '4_0', '4_1'], defaultLayers: ['1_1', '2_1'] });
  });

  it('refuses every bad field with a 400 that names it', async () => {
    const good = { slide: 'tissue', model: 'random-resnet18', layers: ['1_1'], methods: ['grad'], variants: ['original'], patch: 64 };
    const cases: [unknown, RegExp][] = [
      [{ ...good, slide: undefined }, /slide/],
      [{ ...good, slide: '../tissue' }, /slide: must be an id/],
      [{ ...good, slide: 'nope' }, /slide: no slide "nope"/],
      [{ ...good, model: 'nope' }, /model: no model "nope"/],
      [{ ...good, layers: [] }, /layers: give at least one layer/],
      [{ ...good, layers: ['9_9'] }, /layers: resnet18 has no layer "9_9"/],
      [{ ...good, layers: '1_1' }, /layers/],
      [{ ...good, methods: ['gradcam'] }, /methods\.0/],
      [{ ...good, variants: ['smooth'] }, /variants\.0/],
      [{ ...good, variants: ['surrogate'] }, /variants: model random-resnet18 has no surrogate/],
      [{ ...good, patch: 'big' }, /patch/],
      [{ ...good, patch: 64.5 }, /patch/],
      [{ ...good, patch: 1e9 }, /patch/],
      [{ ...good, patch: 66 }, /patch: layer 1_1 has one value per 4 px/],
      [{ ...good, overlap: 64 }, /overlap: 64 must be smaller than patch 64/],
      [{ ...good, overlap: 2 }, /patch - overlap \(62\) must be multiples of 4/],
      [{ ...good, extra: 1 }, /extra|Unrecognized/i],
      [[good], /JSON object/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      const j = (await r.json()) as { error: { code: string; message: string } };
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(j.error.code).toBe('BAD_ARGUMENT');
      expect(j.error.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await post('{"slide": ', 'application/json')).status).toBe(400);
    expect(((await (await post('{"slide": ', 'application/json')).json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
    // a form post (what a foreign web page could send without CORS) is not parsed at all
    expect((await post(JSON.stringify(good), 'text/plain')).status).toBe(400);
  });

  it('runs queued jobs one at a time, streams progress to done (or failed), and lists the analysis', async () => {
    const start = async (slide: string) => {
      const r = await post({ slide, model: 'random-resnet18', layers: ['1_1'], methods: ['grad'], variants: ['original'], patch: 64 });
      expect(r.status).toBe(202);
      const j = (await r.json()) as { job: string; events: string };
      expect(j.events).toBe(`/api/jobs/${j.job}/events`);
      return j;
    };
    const first = await start('tissue');
    const second = await start('doomed');
    // one at a time: the second waits for the first; its slide goes away meanwhile, so it will fail
    expect(((await (await fetch(`${base}api/jobs/${second.job}`)).json()) as JobStatus).state).toBe('queued');
    rmSync(join(root, 'slides', 'doomed.tif'));

    const events = await readEvents(base + first.events.slice(1));
    const last = events.at(-1)!;
    expect(last.event, JSON.stringify(last.data)).toBe('done');
    const progress = events.filter((e) => e.event === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2); // the state on connect, then per batch
    for (const e of progress) expect(['queued', 'running']).toContain(e.data.state);
    const counted = progress.filter((e) => (e.data.total as number) > 0);
    expect(counted.length).toBeGreaterThan(0);
    for (const e of counted) expect(e.data.done as number).toBeLessThanOrEqual(e.data.total as number);
    expect(counted.at(-1)!.data.done).toBe(counted.at(-1)!.data.total);
    const aid = last.data.analysis as string;
    expect(aid).toBe('tissue');

    const status = (await (await fetch(`${base}api/jobs/${first.job}`)).json()) as JobStatus;
    expect(status).toMatchObject({ id: first.job, slide: 'tissue', state: 'done', analysis: 'tissue' });
    expect(status.done).toBe(status.total);
    expect(status.total).toBeGreaterThan(3);
    // connecting after the end gets the end at once
    expect((await readEvents(base + first.events.slice(1))).map((e) => e.event)).toEqual(['done']);

    const slide = (await (await fetch(`${base}api/slides/tissue`)).json()) as SlideDetail;
    const a = slide.analyses.find((x) => x.id === aid) as AnalysisSummary;
    expect(a.model).toMatchObject({ weights: 'random:resnet18', arch: 'resnet18' });
    expect(a.patches).toMatchObject({ size: 64, count: status.total });
    expect(a.overlays.map((o) => o.key)).toEqual(['original/grad/1_1']);
    const ov = a.overlays[0]!;
    expect(ov.downsample).toBe(4);
    expect([ov.width, ov.height]).toEqual([64, 64]); // 256 x 256 / 4
    const tile = await fetch(`${base}${ov.live.slice(1).replace(/\.dzi$/, '_files/6/0_0.png')}`); // 2^6 = 64: full resolution
    expect(tile.status).toBe(200);
    expect(tile.headers.get('content-type')).toBe('image/png');

    // the second job ran after the first and failed: the stream says why, and so does the job
    const ev2 = await readEvents(base + second.events.slice(1));
    expect(ev2.at(-1)!.event, JSON.stringify(ev2.at(-1)!.data)).toBe('failed');
    expect(ev2.at(-1)!.data.error).toMatch(/doomed\.tif/);
    const s2 = (await (await fetch(`${base}api/jobs/${second.job}`)).json()) as JobStatus;
    expect(s2).toMatchObject({ state: 'failed', slide: 'doomed' });
    expect(s2.error).toMatch(/doomed\.tif/);
    expect(s2.error).not.toMatch(/\n\s+at /);
  });
});
