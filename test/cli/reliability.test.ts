/**
 * Issue #14 through the command line (bin/sds.js, launcher and compute process, as users run it):
 * two slides with one file stem keep their own results; a rerun with other settings is refused, not
 * "done earlier"; SIGINT/SIGTERM end `analyze` with 130/143 and say what is saved; a kill -9 of the
 * launcher takes the compute process with it; a second writer into one results folder is refused
 * and a dead writer's lock taken over. Small generated slides and a seeded random model.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slideHash } from '../../pipeline/results-dir.js';
import { alive, sds, sdsRun, until } from '../support/cli-process.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';

const root = mkdtempSync(join(tmpdir(), 'sds-reliability-'));
const MODEL = ['--weights', 'random:resnet18', '--patch', '64', '--variants', 'backward-hook', '--workers', '1'];
const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { slide: { path: string }; overlays: { layer: string }[] };

describe('sds batch / analyze: slides sharing a file stem, reruns with other settings', () => {
  const folder = join(root, 'same-stem');
  beforeAll(async () => {
    mkdirSync(folder);
    await writeTissueSlide(join(folder, 'x.svs'), 320, 256, 3);
    await writeTissueSlide(join(folder, 'x.tiff'), 256, 256, 5);
  });

  it('x.svs and x.tiff are both analysed, each into its own folder, and both are "done earlier" on the rerun', async () => {
    const out = join(root, 'out-stem');
    const args = ['batch', folder, '--out', out, ...MODEL, '--layers', '2_1'];
    const first = await sdsRun(args);
    expect(first.stderr).not.toMatch(/error/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/x\.svs\s+done\s+\d+/);
    expect(first.stdout).toMatch(/x\.tiff\s+done\s+\d+/);
    expect(first.stdout).toMatch(/^2 slides, 0 failed/m);
    // the first keeps the plain name, the second gets the hash of its real path
    expect(manifest(join(out, 'x')).slide.path).toBe(join(folder, 'x.svs'));
    expect(manifest(join(out, `x-${slideHash(join(folder, 'x.tiff'))}`)).slide.path).toBe(join(folder, 'x.tiff'));
    const again = await sdsRun(args);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/x\.svs\s+done earlier/);
    expect(again.stdout).toMatch(/x\.tiff\s+done earlier/);
    expect(again.stdout).toMatch(/^2 slides, 0 failed/m);
  });

  it('a rerun with other --layers is refused (batch and analyze), naming what differs; the results stay', async () => {
    const out = join(root, 'out-stem');
    const before = statSync(join(out, 'x', 'manifest.json')).mtimeMs;
    const batch = await sdsRun(['batch', folder, '--out', out, ...MODEL, '--layers', '1_1']);
    expect(batch.code).toBe(1);
    expect(batch.stdout).not.toMatch(/done earlier/);
    expect(batch.stdout).toMatch(/x\.svs\s+failed: .* holds a finished analysis made with other settings \(layers: 2_1 there, 1_1 asked\)/);
    expect(batch.stderr).toMatch(/give another --out for these settings, or remove .*\/x to analyse the slide again/);
    const analyze = await sdsRun(['analyze', join(folder, 'x.svs'), '--out', out, ...MODEL, '--layers', '1_1']);
    expect(analyze.code).toBe(1);
    expect(analyze.stderr).toMatch(/error: .*\/x holds a finished analysis made with other settings \(layers: 2_1 there, 1_1 asked\)\n\s+hint: give another --out/);
    expect(statSync(join(out, 'x', 'manifest.json')).mtimeMs).toBe(before);
    expect(manifest(join(out, 'x')).overlays.map((o) => o.layer)).toEqual(['2_1']);
  });
});

describe('sds analyze: signals, the launcher, one writer per folder', () => {
  const slide = join(root, 'big.tif');
  // batches of 2 patches on one thread: progress comes early and the analysis is far from done then
  const args = (out: string) => ['analyze', slide, '--out', out, ...MODEL, '--layers', '2_1', '--batch', '2'];
  const lockOf = (out: string) => join(out, 'big', '.sds-lock');
  /** The compute process (the launcher's child). */
  const computePid = (launcher: number) => {
    const pid = Number(spawnSync('ps', ['-o', 'pid=', '--ppid', String(launcher)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
    if (pid) started.push(pid);
    return pid;
  };
  const started: number[] = [];
  const PROGRESS = /\d+\/\d+ (?:\[\d+\/\d+\] )?patches/;
  beforeAll(async () => {
    await writeTissueSlide(slide, 768, 768, 11);
  });
  afterAll(() => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('SIGTERM to the launcher: exit 143, what is saved and how to resume; a rerun resumes', async () => {
    const out = join(root, 'out-term');
    const run = sds(args(out));
    await run.waitFor(PROGRESS);
    run.p.kill('SIGTERM');
    expect(await run.exited).toBe(143);
    expect(run.stderr()).toMatch(/sds: SIGTERM: stopping after the running batches/);
    expect(run.stderr()).toMatch(/sds: stopped by SIGTERM: \d+ of \d+ patch batches of .*big\.tif are saved in .*big\/\.journal; run the same command again to resume from them\n/);
    expect(existsSync(join(out, 'big', 'manifest.json'))).toBe(false);
    expect(existsSync(lockOf(out))).toBe(false);
    const again = await sdsRun(args(out));
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/\(\d+ of \d+ batches resumed from the journal\)/);
  }, 240_000);

  it('SIGTERM to sds batch: exit 143, the slide\'s saved batches and how to resume', async () => {
    const folder = join(root, 'batch-term');
    mkdirSync(folder);
    symlinkSync(slide, join(folder, 'big.tif'));
    const out = join(root, 'out-batch-term');
    const run = sds(['batch', folder, '--out', out, ...MODEL, '--layers', '2_1', '--batch', '2']);
    await run.waitFor(PROGRESS);
    run.p.kill('SIGTERM');
    expect(await run.exited).toBe(143);
    expect(run.stdout()).toMatch(/big\.tif\s+stopped \(finished batches are journalled\)/);
    expect(run.stderr()).toMatch(/sds: stopped by SIGTERM: \d+ patch batches of .*big\.tif are saved in .*big\/\.journal; a rerun reuses them; 0 of 1 slides are done; run the same command again to resume/);
    expect(existsSync(lockOf(out))).toBe(false);
  }, 240_000);

  it('Ctrl-C (SIGINT to the process group: launcher and compute process both get it) is one interruption: exit 130', async () => {
    const out = join(root, 'out-int');
    const run = sds(args(out), { detached: true });
    await run.waitFor(PROGRESS);
    process.kill(-run.p.pid!, 'SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toMatch(/sds: stopped by SIGINT: /);
    expect(run.stderr()).not.toMatch(/again: exiting now/);
  }, 240_000);

  it('kill -9 of the launcher: the compute process exits too, and its lock goes with it', async () => {
    const out = join(root, 'out-kill');
    const run = sds(args(out));
    await run.waitFor(PROGRESS);
    const pid = computePid(run.p.pid!);
    expect(pid).toBeGreaterThan(0);
    run.p.kill('SIGKILL');
    await run.exited;
    await until('the compute process to exit', () => (alive(pid) ? undefined : true), 4_000);
    // it wrote nothing more: its folder lock (held until then) is gone, a rerun is not refused
    expect(existsSync(lockOf(out))).toBe(false);
  }, 240_000);

  it('a second run into the same folder is refused while the first runs; a dead run\'s lock is taken over', async () => {
    const out = join(root, 'out-two');
    const first = sds(args(out));
    await first.waitFor(PROGRESS);
    const pid = computePid(first.p.pid!);
    const since = existsSync(lockOf(out)) ? (JSON.parse(readFileSync(lockOf(out), 'utf8')) as { since: string }).since : 'no lock';
    const second = await sdsRun(args(out));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`error: .*big is being written by pid ${pid} since ${since}; wait for it or stop it\\n`));
    expect(second.stderr).not.toMatch(/ENOENT/);
    first.p.kill('SIGINT');
    expect(await first.exited).toBe(130);
    // a lock left by a process that is gone (kill -9 of a compute process, a crash) is taken over
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(lockOf(out), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), since: '2020-01-01T00:00:00.000Z' }));
    const third = await sdsRun(args(out));
    expect(third.stderr).not.toMatch(/error/);
    expect(third.code).toBe(0);
    expect(existsSync(join(out, 'big', 'manifest.json'))).toBe(true);
    expect(existsSync(lockOf(out))).toBe(false);
  }, 300_000);
});
