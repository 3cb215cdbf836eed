/**
 * Cancelling analysis jobs (DELETE /api/jobs/:job) on the local queue: a running job stops at its
 * next batch with state `cancelled` (in its status and as the last event of its stream), its
 * journal keeps the finished batches, and the same request again resumes from them (the resumed
 * job reports them as reused) to float stores byte for byte equal to an uncancelled run's; a
 * queued job cancelled never runs; unknown and malformed job ids are 404 / 400. With the BullMQ
 * queue (a private redis-server, when installed): a waiting slide's flow is removed from Redis and
 * its job is cancelled; one whose chunk a worker holds is refused with a 400 that says why.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullQueue } from '../../queue/index.js';
import { createServer, type JobStatus, type SdsServer } from '../../server/index.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';
import { followEvents, type SseEvent } from '../support/sse.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const root = mkdtempSync(join(tmpdir(), 'sds-job-cancel-'));
const results = join(root, 'results');
let server: SdsServer;
let base: string;

const REQUEST = { model: 'random-resnet18', layers: ['1_1'], methods: ['grad'], variants: ['original'], patch: 64, overlap: 0 };

const follow = followEvents;

async function start(slide: string): Promise<{ job: string; events: string }> {
  const r = await fetch(`${base}api/analyses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slide, ...REQUEST }) });
  expect(r.status).toBe(202);
  return (await r.json()) as { job: string; events: string };
}

const cancel = (job: string) => fetch(`${base}api/jobs/${job}`, { method: 'DELETE' });
const status = async (job: string) => (await (await fetch(`${base}api/jobs/${job}`)).json()) as JobStatus;

/** Every file of the float stores under an analysis folder, by path relative to it. */
function storeFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.includes('.zarr')) out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

const journalBatches = (dir: string) => (existsSync(join(dir, '.journal')) ? readdirSync(join(dir, '.journal')).filter((f) => /^batch-\d+\.f32$/.test(f)).sort() : []);

beforeAll(async () => {
  mkdirSync(join(root, 'slides'));
  const first = join(root, 'slides', 'cancelled.tif');
  await writeTiff(first, tissuePattern(320, 320), 320, 320);
  // the same pixels under other names: an uncancelled reference and a job cancelled while queued
  copyFileSync(first, join(root, 'slides', 'reference.tif'));
  copyFileSync(first, join(root, 'slides', 'waiting.tif'));
  // one patch per batch: many batches, so the job is stopped between two of them
  server = createServer({ slides: [join(root, 'slides')], results, port: 0, rescanMs: 0, workers: 1, batch: 1 }, () => undefined);
  base = (await server.listen()).url;
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('DELETE /api/jobs/:job', () => {
  it('unknown job: 404; a malformed id: 400', async () => {
    const r = await cancel('no-such-job');
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/no job "no-such-job"/);
    expect((await cancel('a%20b')).status).toBe(400);
    expect((await cancel('x'.repeat(600))).status).toBe(400);
  });

  it('stops a running job at its next batch, keeps its journal, never runs a cancelled queued job, and resumes byte for byte', async () => {
    const reference = await start('reference');
    const ref = await follow(base + reference.events.slice(1));
    expect(ref.at(-1)!.event, JSON.stringify(ref.at(-1)!.data)).toBe('done');
    const refStatus = await status(reference.job);
    expect(refStatus.total).toBeGreaterThan(4);

    const running = await start('cancelled');
    const waiting = await start('waiting');
    // queued behind the running one: cancelled at once, it never runs
    const w = await cancel(waiting.job);
    expect(w.status).toBe(200);
    expect(((await w.json()) as JobStatus).state).toBe('cancelled');

    let answer: JobStatus | undefined;
    let doneAtCancel = -1;
    const events = await follow(base + running.events.slice(1), async (e) => {
      if (answer || e.event !== 'progress' || !((e.data.done as number) >= 2)) return;
      doneAtCancel = e.data.done as number;
      const r = await cancel(running.job);
      expect(r.status).toBe(200);
      answer = (await r.json()) as JobStatus;
    });
    expect(answer?.state).toBe('cancelled');
    const last = events.at(-1)!;
    expect(last.event).toBe('cancelled');
    const s = await status(running.job);
    expect(s.state).toBe('cancelled');
    expect(s.done).toBeGreaterThanOrEqual(doneAtCancel);
    expect(s.done).toBeLessThan(refStatus.total);
    // the journal holds the finished batches (one patch each), no manifest was written
    const dir = join(results, 'cancelled');
    const kept = journalBatches(dir);
    expect(kept.length).toBeGreaterThanOrEqual(doneAtCancel);
    expect(kept.length).toBeLessThan(refStatus.total);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(false);
    // connecting after the end: the end at once
    expect((await follow(base + running.events.slice(1))).map((e) => e.event)).toEqual(['cancelled']);
    // a second DELETE of a finished job changes nothing
    expect(((await (await cancel(running.job)).json()) as JobStatus).state).toBe('cancelled');

    // the cancelled queued job never ran: nothing of it on disk, and its stream ends cancelled
    expect(existsSync(join(results, 'waiting', 'manifest.json'))).toBe(false);
    expect(journalBatches(join(results, 'waiting'))).toEqual([]);
    expect((await follow(base + waiting.events.slice(1))).map((e) => e.event)).toEqual(['cancelled']);
    expect((await status(waiting.job)).state).toBe('cancelled');

    // the same request again resumes: the kept batches come from the journal
    const again = await start('cancelled');
    expect(again.job).not.toBe(running.job);
    const ev = await follow(base + again.events.slice(1));
    expect(ev.at(-1)!.event, JSON.stringify(ev.at(-1)!.data)).toBe('done');
    const resumed = await status(again.job);
    expect(resumed.reused).toBe(kept.length);
    expect(resumed.total).toBe(refStatus.total);

    // byte for byte the uncancelled run's float stores
    const want = storeFiles(join(results, 'reference'));
    const got = storeFiles(dir);
    expect(want.size).toBeGreaterThan(2);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k)!.equals(v), k).toBe(true);
  });
});

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis) console.warn('[sds tests] redis-server is not installed (apt-get install redis-server): cancelling BullMQ jobs is not tested');

describe.skipIf(!hasRedis)('DELETE /api/jobs/:job with serve --queue (BullMQ on a private redis-server)', () => {
  let redis: TestRedis | undefined;
  let queued: SdsServer;
  let url: string;

  beforeAll(async () => {
    redis = await startRedis();
    const queue = await BullQueue.connect({ url: redis.url, env: {} });
    queued = createServer({ slides: [join(root, 'slides')], results: join(root, 'results-queue'), port: 0, rescanMs: 0, batch: 1 }, () => undefined, { queue });
    url = (await queued.listen()).url;
  });

  afterAll(async () => {
    await queued?.close();
    await redis?.stop();
  });

  const post = async (slide: string) => {
    const r = await fetch(`${url}api/analyses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slide, ...REQUEST }) });
    expect(r.status).toBe(202);
    return ((await r.json()) as { job: string }).job;
  };

  it('removes a waiting flow; refuses (400, saying why) one whose chunk a worker holds', async () => {
    // no worker yet: the flow waits in Redis, and is removed
    const waiting = await post('waiting');
    const r = await fetch(`${url}api/jobs/${waiting}`, { method: 'DELETE' });
    const body = (await r.json()) as JobStatus;
    expect(r.status, JSON.stringify(body)).toBe(200);
    expect(body.state).toBe('cancelled');
    const probe = await BullQueue.connect({ url: redis!.url, env: {} });
    expect((await probe.status()).map((s) => s.slide)).not.toContain('waiting.tif');

    // a worker (here: one that never finishes) holds the next slide's first chunk
    let release: () => void = () => undefined;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let took: () => void = () => undefined;
    const taken = new Promise<void>((resolve) => (took = resolve));
    const worker = new Worker('sds-analysis', async () => {
      took();
      await hold;
    }, { connection: { host: '127.0.0.1', port: redis!.port, maxRetriesPerRequest: null } });
    try {
      const held = await post('cancelled');
      await taken;
      const refused = await fetch(`${url}api/jobs/${held}`, { method: 'DELETE' });
      const why = (await refused.json()) as { error: { message: string } };
      expect(refused.status).toBe(400);
      expect(why.error.message).toMatch(/cannot be cancelled: a queue worker is running part of this analysis, and BullMQ cannot stop a job a worker holds/);
      expect((await (await fetch(`${url}api/jobs/${held}`)).json() as JobStatus).state).not.toBe('cancelled');
    } finally {
      release();
      await worker.close(true);
      await probe.close();
    }
  });
});
