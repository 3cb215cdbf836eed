/**
 * Results folders (pipeline/results-dir.ts), the folder lock (pipeline/lock.ts) and rerun
 * detection (pipeline/existing-analysis.ts), in process: two slides of one name never share a
 * folder, a second writer is refused and a dead one's lock taken over, and a finished analysis is
 * only "the same" when it was made with the spec asked for.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analysisRecord, existingAnalysis } from '../../pipeline/existing-analysis.js';
import { assertUnlocked, LOCK_FILE, lockAnalysisDir } from '../../pipeline/lock.js';
import { analysisDir, claimAnalysisDir, SLIDE_RECORD, slideHash } from '../../pipeline/results-dir.js';
import { LocalQueue } from '../../queue/index.js';
import type { AnalysisSpecInput, Manifest, SlideAnalysisOptions } from '../../contracts/index.js';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sds-results-dir-'));

function slides(root: string, ...names: string[]): string[] {
  return names.map((n) => {
    const p = join(root, n);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, 'not read here');
    return p;
  });
}

const SPEC: AnalysisSpecInput = { model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, layers: ['2_1'], variants: ['backward-hook'], patch: 64 };

async function manifestWith(dir: string, slide: string, analysis?: Awaited<ReturnType<typeof analysisRecord>>, overlays = [{ variant: 'backward-hook', method: 'grad', layer: '2_1' }]): Promise<void> {
  const m: Manifest = {
    version: 1,
    slide: { path: slide, name: basename(slide), width: 100, height: 100 },
    model: { weights: 'random:resnet18', arch: 'resnet18' },
    patches: { size: 64, level: 0, overlap: 0, count: 1 },
    tissueMask: 'tissue-mask.png',
    overlays: overlays.map((o) => ({ ...o, downsample: 8, width: 13, height: 13, range: [-1, 1], store: 's', dzi: 'd' })),
    outputs: [{ variant: 'model', method: 'output', layer: 'class-1', downsample: 32, width: 4, height: 4, range: [0, 1], store: 's', dzi: 'd' }],
    ...(analysis ? { analysis } : {}),
    seconds: 1,
    created: new Date().toISOString(),
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
}

describe('results folders: one per slide', () => {
  it('x.svs and x.tiff (and a/x.svs) each get their own folder; the first keeps the plain name; the answer is stable', async () => {
    const root = tmp();
    const out = join(root, 'out');
    const [svs, tiff, nested] = slides(root, 'in/x.svs', 'in/x.tiff', 'in/a/x.svs') as [string, string, string];
    // claimed at once, in any order: three folders, each recording its slide
    const dirs = await Promise.all([svs, tiff, nested].map((s) => claimAnalysisDir(out, s)));
    expect(new Set(dirs).size).toBe(3);
    expect(dirs.filter((d) => d === join(out, 'x'))).toHaveLength(1);
    for (const [i, s] of [svs, tiff, nested].entries()) {
      const d = dirs[i]!;
      if (d !== join(out, 'x')) expect(d).toBe(join(out, `x-${slideHash(s)}`));
      expect(JSON.parse(readFileSync(join(d, SLIDE_RECORD), 'utf8'))).toMatchObject({ path: s });
      // the pure lookup agrees, and claiming again is a no-op
      expect(analysisDir(out, s)).toBe(d);
      expect(await claimAnalysisDir(out, s)).toBe(d);
    }
    // a link to a slide is that slide
    const link = join(root, 'link', 'x.svs');
    mkdirSync(join(root, 'link'));
    symlinkSync(svs, link);
    expect(analysisDir(out, link)).toBe(analysisDir(out, svs));
  });

  it('a folder that exists does not move: the common case keeps today\'s name', async () => {
    const out = join(tmp(), 'out');
    const [s] = slides(join(out, '..'), 'slides/CMU-1.svs') as [string];
    expect(analysisDir(out, s)).toBe(join(out, 'CMU-1'));
    expect(await claimAnalysisDir(out, s)).toBe(join(out, 'CMU-1'));
  });

  it('folders from before the record: their manifest or journal says whose they are; an empty one is taken', async () => {
    const root = tmp();
    const out = join(root, 'out');
    const [mine, other, third] = slides(root, 'in/x.svs', 'elsewhere/x.svs', 'in/y.svs') as [string, string, string];
    await manifestWith(join(out, 'x'), other);
    expect(analysisDir(out, mine)).toBe(join(out, `x-${slideHash(mine)}`));
    expect(analysisDir(out, other)).toBe(join(out, 'x'));
    expect(await claimAnalysisDir(out, mine)).toBe(join(out, `x-${slideHash(mine)}`));
    // a journal's plan names its slide too
    mkdirSync(join(out, 'y', '.journal'), { recursive: true });
    writeFileSync(join(out, 'y', '.journal', 'plan.json'), JSON.stringify({ v: 1, slide: [other, 1, 1] }));
    expect(analysisDir(out, third)).toBe(join(out, `y-${slideHash(third)}`));
    // an empty folder belongs to nobody: the first slide takes it and records itself
    mkdirSync(join(out, 'z'));
    const [z] = slides(root, 'in/z.svs') as [string];
    expect(await claimAnalysisDir(out, z)).toBe(join(out, 'z'));
    expect(existsSync(join(out, 'z', SLIDE_RECORD))).toBe(true);
  });

  it('the local queue (batch, the server) keys slides of one name apart: both enqueued, no "already queued"', async () => {
    const root = tmp();
    const out = join(root, 'out');
    const [a, b] = slides(root, 'a/x.svs', 'x.svs') as [string, string];
    const options = { ...SPEC, out, layers: ['2_1'], methods: ['grad'], variants: ['backward-hook'], patch: 64, level: 0, overlap: 0, batch: 8, minTissue: 0.5, outputs: true, steps: 50 } as SlideAnalysisOptions;
    const q = new LocalQueue();
    const r = await q.enqueue([{ slide: a, options, replace: true }, { slide: b, options, replace: true }]);
    expect(r.map((x) => x.state)).toEqual(['enqueued', 'enqueued']);
    const dirs = (await q.status()).map((s) => s.dir);
    expect(new Set(dirs).size).toBe(2);
    expect(dirs).toEqual([analysisDir(out, a), analysisDir(out, b)]);
  });
});

describe('the results folder lock', () => {
  it('a second writer is refused with who holds the folder; released, it can be taken again', async () => {
    const dir = tmp();
    const lock = await lockAnalysisDir(dir);
    const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string; since: string };
    expect(held).toMatchObject({ pid: process.pid, host: hostname() });
    await expect(lockAnalysisDir(dir)).rejects.toThrow(new RegExp(`${dir} is being written by pid ${process.pid} since ${held.since}; wait for it or stop it`));
    await assertUnlocked(dir); // the holder itself may go on
    await lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    await (await lockAnalysisDir(dir)).release();
  });

  it('a lock whose process is gone is taken over; one held on another machine is refused naming it', async () => {
    const dir = tmp();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), since: '2020-01-01T00:00:00.000Z' }));
    await expect(assertUnlocked(dir)).resolves.toBeUndefined();
    const lock = await lockAnalysisDir(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'node-7', since: '2020-01-01T00:00:00.000Z' }));
    await expect(lockAnalysisDir(dir)).rejects.toThrow(/is being written by pid 4242 on node-7 since 2020-01-01T00:00:00.000Z/);
    await expect(assertUnlocked(dir)).rejects.toThrow(/pid 4242 on node-7/);
  });
});

describe('rerun detection', () => {
  it('a finished analysis is the same only for the same spec and weights; what differs is named; batch size does not count', async () => {
    const root = tmp();
    const [slide] = slides(root, 'x.svs') as [string];
    const dir = join(root, 'out', 'x');
    expect((await existingAnalysis(dir, SPEC)).state).toBe('none');
    await manifestWith(dir, slide, await analysisRecord(SPEC));
    expect((await existingAnalysis(dir, SPEC)).state).toBe('same');
    expect((await existingAnalysis(dir, { ...SPEC, batch: 4 })).state).toBe('same');
    const other = await existingAnalysis(dir, { ...SPEC, layers: ['1_1', '2_1'], model: { kind: 'random', arch: 'resnet34', classes: 2, seed: 0 } });
    expect(other).toMatchObject({ state: 'different', differences: ['weights: random:resnet18 there, random:resnet34 asked', 'layers: 2_1 there, 1_1,2_1 asked'] });
    // a weights file rewritten since (same path, new size or time) is another model
    const w = join(root, 'w.safetensors');
    writeFileSync(w, 'v1');
    const fileSpec = { ...SPEC, model: { kind: 'file' as const, weights: w } };
    await manifestWith(dir, slide, await analysisRecord(fileSpec));
    expect((await existingAnalysis(dir, fileSpec)).state).toBe('same');
    writeFileSync(w, 'v2 longer');
    expect(await existingAnalysis(dir, fileSpec)).toMatchObject({ state: 'different', differences: [expect.stringMatching(/weights: .*w\.safetensors changed since/)] });
  });

  it('analysing into a finished analysis of other settings: refused, unless replacing (the server\'s re-analysis)', async () => {
    await initEngine({ announce: false });
    const root = tmp();
    const slide = join(root, 'x.tif');
    await writeTissueSlide(slide, 256, 192, 2);
    const out = join(root, 'out');
    const base = { slide, out, ...SPEC, workers: 1 };
    const first = await analyzeSlideToDir(base);
    expect(first.manifest.analysis).toMatchObject({ layers: ['2_1'], modelIdentity: 'random:resnet18:2:0' });
    await expect(analyzeSlideToDir({ ...base, layers: ['1_1'] })).rejects.toThrow(/holds a finished analysis made with other settings \(layers: 2_1 there, 1_1 asked\)/);
    const again = await analyzeSlideToDir({ ...base, layers: ['1_1'], replace: true });
    expect(again.dir).toBe(first.dir);
    expect(again.manifest.overlays.map((o) => o.layer)).toEqual(['1_1']);
    expect(existsSync(join(first.dir, LOCK_FILE))).toBe(false);
  });

  it('manifests from before the record are compared on their overlays and patch settings', async () => {
    const root = tmp();
    const [slide] = slides(root, 'x.svs') as [string];
    const dir = join(root, 'out', 'x');
    await manifestWith(dir, slide);
    expect((await existingAnalysis(dir, SPEC)).state).toBe('same');
    expect(await existingAnalysis(dir, { ...SPEC, variants: ['original', 'backward-hook'], patch: 128, overlap: 0 })).toMatchObject({ state: 'different', differences: ['variants: backward-hook there, original,backward-hook asked', 'patch: 64 there, 128 asked'] });
  });
});
