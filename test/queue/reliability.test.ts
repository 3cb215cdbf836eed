/**
 * Issue #14 on the distributed queue, against a private redis-server: `sds batch --queue` enqueues
 * two slides that share a file stem as two slides (each with its own results folder and job), and
 * `sds status --queue redis://.../DB` reads that database, refusing one the server does not have
 * instead of silently reading database 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analysisDir } from '../../pipeline/index.js';
import { parseRedisUrl } from '../../queue/index.js';
import { sdsRun } from '../support/cli-process.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';
import { freePort } from '../support/free-port.js';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

describe('Redis database numbers (no Redis needed)', () => {
  it('the URL\'s database is kept; one no server can have is refused by name', () => {
    expect(parseRedisUrl('redis://h/99', { env: {} })).toMatchObject({ db: 99, display: 'redis://h:6379/99' });
    expect(() => parseRedisUrl('redis://h:1/99999999999', { env: {} })).toThrow(/--queue redis:\/\/h:1\/99999999999: database 99999999999 is out of range/);
  });
});

describe.skipIf(!hasRedis)('sds batch --queue / sds status on a real redis-server', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-queue-reliability-'));
  let redis: ReturnType<typeof spawn>;
  let url = '';
  beforeAll(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let log = '';
      redis.stdout!.on('data', (b: Buffer) => {
        log += b;
        if (/Ready to accept connections/.test(log)) resolve();
      });
      redis.on('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${log}`)));
    });
  });
  afterAll(async () => {
    if (redis && redis.exitCode === null) {
      redis.kill('SIGTERM');
      await new Promise((r) => redis.once('exit', r));
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('x.svs and x.tiff are two slides: both enqueued, each with its own folder and job', async () => {
    const folder = join(root, 'slides');
    mkdirSync(folder);
    await writeTissueSlide(join(folder, 'x.svs'), 320, 256, 3);
    await writeTissueSlide(join(folder, 'x.tiff'), 256, 256, 5);
    const out = join(root, 'out');
    const batch = await sdsRun(['batch', folder, '--out', out, '--weights', 'random:resnet18', '--patch', '64', '--layers', '2_1', '--variants', 'backward-hook', '--queue', url]);
    expect(batch.stderr).not.toMatch(/error/);
    expect(batch.code).toBe(0);
    expect(batch.stdout).toMatch(/x\.svs\s+enqueued/);
    expect(batch.stdout).toMatch(/x\.tiff\s+enqueued/);
    expect(batch.stdout).toMatch(/2 slides: 2 enqueued/);

    const status = await sdsRun(['status', '--queue', url, '--json']);
    expect(status.code).toBe(0);
    const slides = (JSON.parse(status.stdout) as { slides: { slide: string; dir: string }[] }).slides;
    expect(slides.map((s) => s.slide).sort()).toEqual(['x.svs', 'x.tiff']);
    expect(slides.map((s) => s.dir).sort()).toEqual([analysisDir(out, join(folder, 'x.svs')), analysisDir(out, join(folder, 'x.tiff'))].sort());
    expect(new Set(slides.map((s) => s.dir)).size).toBe(2);
  }, 240_000);

  it('status reads the database the URL names: another one holds nothing of database 0, one the server lacks is refused', async () => {
    const db0 = await sdsRun(['status', '--queue', url, '--json']);
    expect(db0.code).toBe(0);
    expect((JSON.parse(db0.stdout) as { slides: unknown[] }).slides.length).toBeGreaterThan(0);
    // another database of the same server holds nothing of it
    const db3 = await sdsRun(['status', '--queue', `${url}/3`, '--json']);
    expect(db3.code).toBe(0);
    expect(JSON.parse(db3.stdout)).toMatchObject({ queue: `${url}/3`, slides: [] });
    // one the server does not have (16 by default) is an error, not database 0
    const db99 = await sdsRun(['status', '--queue', `${url}/99`]);
    expect(db99.code).toBe(1);
    expect(db99.stdout).not.toMatch(/x\.svs/);
    expect(db99.stderr).toMatch(/error: Redis at redis:\/\/127\.0\.0\.1:\d+\/99 has no database 99 \(it has 16: 0-15\)/);
    expect(db99.stderr).toMatch(/hint: use a database number the server has \(0-15\)/);
  }, 60_000);
});
