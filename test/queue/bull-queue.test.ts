/**
 * The distributed batch runner against a real redis-server (started here on a free port bound to
 * 127.0.0.1, with a password): `sds batch --queue` + `sds worker` processes + SIGKILL of one
 * worker mid-chunk give the same bytes as a local run; 200 jobs through 3 workers, one stopped
 * gracefully mid-job, are each done exactly once; an unreachable Redis is a clear error, fast.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir, type AnalyzeOptions } from '../../pipeline/index.js';
import { BullQueue, chunkRanges, parseRedisUrl, slideJobId } from '../../queue/index.js';
import { SHARED } from '../support/shared.js';
import { fileDigests } from '../support/output-digest.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';
import { freePort } from '../support/free-port.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SDS = join(ROOT, 'bin/sds.js');
const PAUSED_WORKER = join(ROOT, 'test/support/paused-worker.ts');
const CMU = `${SHARED}slides/CMU-1-Small-Region.svs`;
const PASSWORD = 'queue-test-secret';
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis) console.warn('[sds tests] redis-server is not installed (apt-get install redis-server): the distributed queue tests are skipped');
if (!existsSync(CMU)) console.warn(`[sds tests] ${CMU} is absent: the queue kill test uses the generated slide only`);

const startRedisWith = (tls?: { cert: string; key: string; ca: string }) => startRedis(tls ? { tls } : { password: PASSWORD });

interface Proc {
  p: ChildProcess;
  log: () => string;
  /** resolves with the first stderr line matching `re` */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

function watch(p: ChildProcess): Proc {
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (b: Buffer) => {
    text += b;
    for (const w of [...waiters]) {
      const m = text.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  p.stderr!.on('data', onData);
  p.stdout!.on('data', onData);
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  return {
    p,
    log: () => text,
    exited,
    waitFor: (re, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const m = text.match(re);
        if (m) return resolve(m);
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${text}`)), ms);
        waiters.push({ re, resolve: (x) => (clearTimeout(t), resolve(x)) });
        void exited.then((code) => reject(new Error(`process exited (${code}) before ${re}:\n${text}`)));
      }),
  };
}

/** `node bin/sds.js ...` in this process's Node flags, so its pid is the worker itself (no re-exec). */
function sds(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return watch(spawn(process.execPath, ['--no-wasm-dynamic-tiering', SDS, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** `sds worker` that holds after a chunk's first batch (test/support/paused-worker.ts). */
function pausedWorker(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return watch(spawn(process.execPath, ['--no-wasm-dynamic-tiering', '--import', 'tsx', PAUSED_WORKER, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Hash of every output file but the manifest (which holds timings), plus what the manifest says minus timings. */
function digest(dir: string): Map<string, string> {
  const out = fileDigests(dir);
  const { seconds, created, ...manifest } = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  expect(seconds).toBeGreaterThan(0);
  expect(Date.parse(created as string)).toBeGreaterThan(0);
  out.set('manifest.json (without seconds, created)', JSON.stringify(manifest));
  return out;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('queue plumbing (no Redis needed)', () => {
  it('chunks cover every batch exactly once, in order, none larger than asked', () => {
    for (const [n, size] of [[0, 3], [1, 3], [8, 3], [9, 3], [10, 1], [5, 16]] as const) {
      const r = chunkRanges(n, size);
      expect(r.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k))).toEqual(Array.from({ length: n }, (_, k) => k));
      expect(r.every(([a, b]) => b > a && b - a <= size)).toBe(true);
      expect(r.length).toBe(Math.ceil(n / size));
    }
  });

  it('Redis URLs: host, port, database, TLS; the password from the URL, else SDS_REDIS_PASSWORD; bad URLs named without their password', () => {
    expect(parseRedisUrl('redis://10.0.0.5:6380/2', { env: {} })).toEqual({ host: '10.0.0.5', port: 6380, db: 2, tls: false, username: undefined, password: undefined, display: 'redis://10.0.0.5:6380/2' });
    expect(parseRedisUrl('rediss://q.lab.org', { env: { SDS_REDIS_PASSWORD: 'env-pw' } })).toMatchObject({ host: 'q.lab.org', port: 6379, db: 0, tls: true, password: 'env-pw' });
    expect(parseRedisUrl('redis://u:url%40pw@h:1', { env: { SDS_REDIS_PASSWORD: 'env-pw' } })).toMatchObject({ username: 'u', password: 'url@pw', display: 'redis://h:1/0' });
    expect(parseRedisUrl('redis://[::1]:7000', { env: {} })).toMatchObject({ host: '::1', port: 7000 });
    for (const bad of ['http://h:1', 'redis://h:1/x', 'h:6379', 'redis://:secret@h:1/db'])
      expect(() => parseRedisUrl(bad, { env: {} })).toThrow(/is not a Redis URL/);
    expect(() => parseRedisUrl('redis://:secret@h:1/db', { env: {} })).toThrow(/redis:\/\/\*\*\*@h:1\/db/);
  });

  it('a slide\'s job id is readable, has no ":" (BullMQ forbids it) and differs per results folder', () => {
    const a = slideJobId('/nfs/results/CMU 1:small');
    expect(a).toMatch(/^slide-CMU_1_small-[0-9a-f]{10}$/);
    expect(slideJobId('/other/results/CMU 1:small')).not.toBe(a);
    expect(slideJobId('/nfs/results/CMU 1:small')).toBe(a);
  });
});

describe.skipIf(!hasRedis)('distributed batch analysis on BullMQ / Redis (real redis-server)', () => {
  let redis: TestRedis;
  const root = mkdtempSync(join(tmpdir(), 'sds-queue-'));
  const procs: Proc[] = [];
  beforeAll(async () => {
    redis = await startRedisWith();
  });
  afterAll(async () => {
    for (const w of procs) if (w.p.exitCode === null && w.p.signalCode === null) w.p.kill('SIGKILL');
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('an unreachable or password-protected Redis is a clear error within seconds, not a hang', async () => {
    const closed = await freePort();
    let t0 = performance.now();
    const refused = await BullQueue.connect({ url: `redis://127.0.0.1:${closed}`, env: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SdsError);
    expect((refused as SdsError).code).toBe('QUEUE_UNAVAILABLE');
    expect((refused as SdsError).message).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/0: nothing is listening there/);
    expect(performance.now() - t0).toBeLessThan(3000);
    // a host that never answers (or an unroutable network): the connect timeout, not a hang
    t0 = performance.now();
    const silent = await BullQueue.connect({ url: 'redis://10.255.255.1:6379', connectTimeoutMs: 1000, env: {} }).catch((e: unknown) => e);
    expect((silent as SdsError).code).toBe('QUEUE_UNAVAILABLE');
    expect(performance.now() - t0).toBeLessThan(3000);
    // the test server wants a password: none, a wrong one, the right one from the environment
    const none = await BullQueue.connect({ url: redis.url, env: {} }).catch((e: unknown) => e);
    expect((none as SdsError).message).toMatch(/refused the connection: it needs a password/);
    const wrong = await BullQueue.connect({ url: `redis://:nope@127.0.0.1:${redis.port}`, env: {} }).catch((e: unknown) => e);
    expect((wrong as SdsError).message).toMatch(/wrong password/);
    const ok = await BullQueue.connect({ url: redis.url, env: { SDS_REDIS_PASSWORD: PASSWORD } });
    await ok.close();
    // the CLI prints the error and its hint, exit code 1
    const cli = sds(['status', '--queue', `redis://127.0.0.1:${closed}`]);
    expect(await cli.exited).toBe(1);
    expect(cli.log()).toMatch(/error: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/0: nothing is listening there \(connection refused\)\n\s+hint: start redis-server/);
  });

  it.skipIf(spawnSync('openssl', ['version']).status !== 0)('rediss:// (TLS) with a private CA from SDS_REDIS_CA; without it the handshake error says so', async () => {
    const dir = join(root, 'tls');
    mkdirSync(dir);
    const ssl = (...args: string[]) => expect(spawnSync('openssl', args, { cwd: dir }).status).toBe(0);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=sds test CA');
    ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
    const tls = await startRedisWith({ cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') });
    try {
      const q = await BullQueue.connect({ url: tls.url, env: { SDS_REDIS_CA: join(dir, 'ca.crt') } });
      try {
        await q.addJobs('probe', [{ id: 'tls-1', data: {} }]); // BullMQ's own connections use TLS too
        expect((await q.counts()).waiting).toBe(1);
      } finally {
        await q.close();
      }
      const untrusted = await BullQueue.connect({ url: tls.url, env: {} }).catch((e: unknown) => e);
      expect(untrusted).toBeInstanceOf(SdsError);
      expect((untrusted as SdsError).message).toMatch(/cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+\/0: .*certificate/);
      expect((untrusted as SdsError).suggestion).toMatch(/SDS_REDIS_CA/);
      const plain = await BullQueue.connect({ url: tls.url.replace('rediss:', 'redis:'), connectTimeoutMs: 1500, env: {} }).catch((e: unknown) => e);
      expect((plain as SdsError).code).toBe('QUEUE_UNAVAILABLE');
    } finally {
      await tls.stop();
    }
  });

  it('200 jobs through 3 worker processes, one stopped gracefully mid-job: every job done exactly once', async () => {
    const dir = join(root, 'probe');
    mkdirSync(dir);
    const url = redis.url;
    // a worker process with a test-only job kind whose side effect is an O_EXCL file per job;
    // job 100 holds on (until stopped) the first time, so a worker is surely mid-job when stopped
    const code = `
      import { appendFileSync, closeSync, openSync, writeSync } from 'node:fs';
      import { setTimeout as sleep } from 'node:timers/promises';
      import { BullQueue } from ${JSON.stringify(join(ROOT, 'queue/index.ts'))};
      const dir = ${JSON.stringify(dir)};
      const once = (name) => { try { closeSync(openSync(dir + '/' + name, 'wx')); return true; } catch (e) { if (e.code === 'EEXIST') return false; throw e; } };
      const q = await BullQueue.connect({ url: ${JSON.stringify(url)}, name: 'probe', lockMs: 5000, stalledCheckMs: 1000, kinds: { probe: {
        describe: (d) => ({ label: 'probe ' + d.n }),
        async run(d, ctx) {
          await sleep(d.n === 100 && once('held-100') ? 60000 : 5 + (d.n * 7919) % 25, undefined, { signal: ctx.signal });
          try { const fd = openSync(dir + '/job-' + d.n, 'wx'); writeSync(fd, String(process.pid)); closeSync(fd); }
          catch (e) { if (e.code !== 'EEXIST') throw e; appendFileSync(dir + '/duplicates', d.n + ' ' + process.pid + '\\n'); }
          return d.n;
        } } } });
      const stop = new AbortController();
      process.on('SIGTERM', () => stop.abort());
      await q.work({ signal: stop.signal, listener: {
        log: (m) => process.stderr.write(m + '\\n'),
        started: (j) => process.stderr.write('started ' + j.label + '\\n'),
        finished: (j, r) => process.stderr.write((r.released ? 'released ' : r.ok ? 'finished ' : 'failed ') + j.label + '\\n'),
      } });
      await q.close();
      process.stderr.write('stopped\\n');
    `;
    const workers = [0, 1, 2].map(() => watch(spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, SDS_REDIS_PASSWORD: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] })));
    procs.push(...workers);
    await Promise.all(workers.map((w) => w.waitFor(/ready on/)));
    const q = await BullQueue.connect({ url, name: 'probe', password: PASSWORD });
    try {
      const t0 = performance.now();
      await q.addJobs('probe', Array.from({ length: 200 }, (_, n) => ({ id: `probe-${n}`, data: { n } })));
      await q.addJobs('probe', [{ id: 'probe-7', data: { n: 7 } }]); // an id already queued is not added twice
      // stop the worker holding job 100: it must hand the job back and exit promptly
      const holder = await until('a worker takes job 100', async () => workers.find((w) => /started probe 100\n/.test(w.log())), 60_000);
      holder.p.kill('SIGTERM');
      expect(await holder.exited).toBe(0);
      expect(holder.log()).toMatch(/released probe 100\n[^]*stopped\n/);
      const counts = await until('200 completed', async () => {
        const c = await q.counts();
        return c.completed + c.failed >= 200 ? c : undefined;
      }, 90_000);
      const secs = (performance.now() - t0) / 1000;
      expect(counts).toMatchObject({ completed: 200, failed: 0, active: 0, waiting: 0 });
      const files = readdirSync(dir).filter((f) => f.startsWith('job-'));
      expect(files.length).toBe(200);
      expect(new Set(files)).toEqual(new Set(Array.from({ length: 200 }, (_, n) => `job-${n}`)));
      expect(existsSync(join(dir, 'duplicates'))).toBe(false);
      // job 100 was done by another worker than the one stopped; every worker did some
      const by = new Map<string, number>();
      for (const f of files) by.set(readFileSync(join(dir, f), 'utf8'), (by.get(readFileSync(join(dir, f), 'utf8')) ?? 0) + 1);
      expect(readFileSync(join(dir, 'job-100'), 'utf8')).not.toBe(String(holder.p.pid));
      expect(by.size).toBe(3);
      console.log(`[queue load] 200 jobs in ${secs.toFixed(1)} s; per worker: ${[...by.values()].join(', ')}`);
    } finally {
      await q.close();
      for (const w of workers) if (w.p.exitCode === null) w.p.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
    }
  }, 180_000);

  it('sds batch --queue + 2 sds worker processes, one SIGKILLed mid-chunk: every slide done once, outputs equal a local run', async () => {
    const generated = join(root, 'generated');
    mkdirSync(generated);
    await writeTissueSlide(join(generated, 'tissue.tif'), 512, 448, 3);
    await writeTissueSlide(join(generated, 'broken.tif'), 384, 320, 7); // damaged once enqueued
    const cmu = existsSync(CMU) ? join(root, 'cmu') : undefined;
    if (cmu) {
      mkdirSync(cmu);
      symlinkSync(CMU, join(cmu, 'CMU-1-Small-Region.svs'));
    }
    const out = join(root, 'out');
    const common = ['--out', out, '--weights', 'random:resnet18', '--patch', '64', '--layers', '1_1,2_1', '--variants', 'backward-hook', '--batch', '4'];
    const queueArgs = ['--queue', redis.url, '--chunk', '3', '--retry-delay', '0.5'];
    const env = { SDS_REDIS_PASSWORD: PASSWORD };
    const t0 = performance.now();
    // two enqueues (per-folder settings: the CMU slide at level 3 keeps this test short)
    const enqueues = [sds(['batch', generated, ...common, ...queueArgs], env), ...(cmu ? [sds(['batch', cmu, ...common, '--level', '3', ...queueArgs], env)] : [])];
    expect(await Promise.all(enqueues.map((e) => e.exited))).toEqual(enqueues.map(() => 0));
    expect(enqueues[0]!.log()).toMatch(/tissue\.tif\s+enqueued\s+3\s+8\s+29/);
    expect(enqueues[0]!.log()).toMatch(/broken\.tif\s+enqueued\s+2\s+/);
    writeFileSync(join(generated, 'broken.tif'), 'no longer a slide'); // its chunks fail on every attempt
    const tEnqueued = performance.now();

    // re-enqueueing queued slides is a no-op
    const again = sds(['batch', generated, ...common, ...queueArgs], env);
    expect(await again.exited).toBe(0);
    expect(again.log()).toMatch(/tissue\.tif\s+already queued/);

    // the local single-process reference, computed meanwhile in this process
    await initEngine({ announce: false });
    const ref = join(root, 'reference');
    const base = (slide: string, level = 0): AnalyzeOptions => ({ slide, out: ref, model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, layers: ['1_1', '2_1'], methods: ['grad'], variants: ['backward-hook'], patch: 64, level, overlap: 0, batch: 4, workers: 1, outputs: true });
    // a short lock so the killed worker's chunk moves on soon; not shorter: planning a slide blocks
    // the event loop (that renews the lock) for 2-4 s on a loaded 2-core machine, and a lost lock
    // would start a finalize twice (asserted below not to happen)
    const workerArgs = ['worker', '--queue', redis.url, '--workers', '1', '--lock', '20', '--stalled-check', '1'];
    // the victim starts alone and stops after the first batch of a chunk (a pause longer than the
    // test), so the SIGKILL lands mid-chunk however fast the batches are and however long this
    // process's event loop is blocked (planning a slide here takes seconds); then the survivor starts
    const victim = pausedWorker(workerArgs.slice(1), env);
    procs.push(victim);
    const reference = (async () => {
      await analyzeSlideToDir(base(join(generated, 'tissue.tif')));
      if (cmu) await analyzeSlideToDir(base(join(cmu, 'CMU-1-Small-Region.svs'), 3));
    })();

    // SIGKILL the victim once it has journalled a batch of a chunk it has not finished
    await victim.waitFor(/\n(1\/[23]|2\/3) batches/);
    victim.p.kill('SIGKILL');
    const killedAt = victim.log();
    const survivor = sds(workerArgs, env);
    procs.push(survivor);
    const vm = [...killedAt.matchAll(/\n(\d+)\/(\d+) batches/g)].at(-1)!;
    expect(Number(vm[1])).toBeLessThan(Number(vm[2])); // killed mid-chunk
    const chunkId = [...killedAt.matchAll(/\(job (slide-[^)]+-b\d+)\)/g)].at(-1)![1]!;

    const q = await BullQueue.connect({ url: redis.url, password: PASSWORD });
    try {
      const all = await until('every slide done or failed', async () => {
        const s = await q.status();
        return s.length === enqueues.length + 1 && s.every((x) => x.state === 'done' || x.state === 'failed') ? s : undefined;
      }, 240_000);
      const tDone = performance.now();
      await reference;
      // the damaged slide failed with its reason after its retries; the others went on
      const broken = all.find((x) => x.slide === 'broken.tif')!;
      expect(broken).toMatchObject({ state: 'failed' });
      expect(broken.note).toMatch(/broken\.tif is not a TIFF file/);
      expect(broken.retries).toBeGreaterThanOrEqual(2);
      const slides = all.filter((x) => x !== broken);
      expect(slides.map((x) => x.state)).toEqual(slides.map(() => 'done'));

      // the killed chunk stalled, went to the other worker and resumed from the journal
      const stalled = (await q.jobReport(chunkId))!;
      expect(stalled.state).toBe('completed');
      expect(stalled.stalls).toBe(1);
      expect(stalled.processedBy).toBe(`${(await import('node:os')).hostname()} pid ${survivor.p.pid}`);
      expect(survivor.log()).toMatch(new RegExp(`job ${chunkId}\\)[^]*?done chunk [^\\n]*from the journal`));
      // each slide finalized exactly once
      for (const s of slides) {
        const fin = (await q.jobReport(slideJobId(s.dir)))!;
        expect(fin).toMatchObject({ state: 'completed', attemptsStarted: 1, stalls: 0 });
        expect(survivor.log().split(`done finalize ${s.slide} `).length - 1 + victim.log().split(`done finalize ${s.slide} `).length - 1).toBe(1);
        expect(s.chunks.done).toBe(s.chunks.total);
        expect(existsSync(join(s.dir, '.journal'))).toBe(false);
        // byte for byte the local run: stores, tiles, mask; the manifest but its timings
        expect(digest(s.dir)).toEqual(digest(join(ref, relative(out, s.dir))));
      }

      // sds status shows it; a finished slide is not enqueued again
      const st = sds(['status', '--queue', redis.url, '--json'], env);
      expect(await st.exited).toBe(0);
      const json = JSON.parse(st.log().slice(st.log().indexOf('{'))) as { slides: { slide: string; state: string; batches: { done: number; total: number } }[] };
      expect(json.slides.filter((s) => s.slide !== 'broken.tif').map((s) => [s.slide, s.state, s.batches.done === s.batches.total])).toEqual(slides.map((s) => [s.slide, 'done', true]));
      const table = sds(['status', '--queue', redis.url], env);
      expect(await table.exited).toBe(0);
      expect(table.log()).toMatch(/tissue\.tif\s+done\s+3\/3\s+8\/8\s+100%/);
      expect(table.log()).toMatch(/broken\.tif\s+failed\s+.*not a TIFF file/);
      // enqueueing again: finished slides are skipped, a failed one is tried again (here: fails to plan)
      const third = sds(['batch', generated, ...common, ...queueArgs], env);
      expect(await third.exited).toBe(1);
      expect(third.log()).toMatch(/tissue\.tif\s+done earlier/);
      expect(third.log()).toMatch(/broken\.tif\s+failed\s+.*not a TIFF file/);

      // the survivor stops cleanly on SIGTERM
      survivor.p.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
      expect(survivor.log()).toMatch(/sds worker: stopped\n/);
      console.log(`[queue kill] enqueue ${((tEnqueued - t0) / 1000).toFixed(1)} s, all slides done ${((tDone - tEnqueued) / 1000).toFixed(1)} s later; ${slides.map((s) => `${s.slide}: ${s.batches.total} batches in ${s.chunks.total} chunks`).join(', ')}`);
    } finally {
      await q.close();
    }
  }, 400_000);
});
