import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../models/index.js';
import { AnalysisSession, analyzeSlideToDir, computeBatches, type AnalyzeOptions } from '../../pipeline/index.js';
import { fileDigests } from '../support/output-digest.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';

const digest = fileDigests;

describe('whole-slide analysis: journal, resume, streaming memory (generated slide, random ResNet18)', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-resume-'));
  const slide = join(root, 'tissue.tif');
  const base = (out: string): AnalyzeOptions => ({ slide, out, model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, layers: ['1_1', '2_1'], methods: ['grad'], variants: ['original', 'backward-hook'], patch: 64, level: 0, overlap: 0, batch: 3, workers: 1 });
  beforeAll(async () => {
    await initEngine({ announce: false });
    await writeTissueSlide(slide, 512, 448, 3);
  });

  it('a stopped analysis resumes from its journal: finished batches are not recomputed and outputs are byte-identical', async () => {
    const whole = await analyzeSlideToDir(base(join(root, 'whole')));
    const batches = whole.plan.batches.length;
    expect(batches).toBeGreaterThan(6);
    expect(whole.stats).toMatchObject({ computed: batches, reused: 0 });

    const out = join(root, 'stopped');
    const ctl = new AbortController();
    let seen = 0;
    const stop = analyzeSlideToDir({ ...base(out), signal: ctl.signal, onProgress: (p) => (seen = p.done) >= 9 && ctl.abort() });
    await expect(stop).rejects.toThrow(/analysis stopped/);
    const journalled = readdirSync(join(out, 'tissue', '.journal')).filter((f) => f.endsWith('.f32')).length;
    expect(journalled).toBeGreaterThanOrEqual(3);
    expect(journalled).toBeLessThan(batches);
    expect(() => statSync(join(out, 'tissue', 'manifest.json'))).toThrow(); // not complete: no manifest

    const resumed = await analyzeSlideToDir(base(out));
    expect(resumed.stats.reused).toBe(journalled);
    expect(resumed.stats.computed).toBe(batches - journalled);
    expect(digest(join(out, 'tissue'))).toEqual(digest(join(root, 'whole', 'tissue')));
    expect(resumed.manifest.overlays).toEqual(whole.manifest.overlays);
  });

  it('batches computed in separate chunks (as queue workers do) stitch to the same bytes', async () => {
    const out = join(root, 'chunked');
    const session = await AnalysisSession.open(base(out)); // the enqueuer prepares the journal
    const n = session.plan.batches.length;
    await session.close();
    const half = Math.floor(n / 2);
    const ids = [...Array(n).keys()];
    const [a, b] = await Promise.all([computeBatches(base(out), ids.slice(0, half)), computeBatches(base(out), ids.slice(half))]);
    expect(a.computed + b.computed).toBe(n);
    // a worker with other settings refuses instead of wiping the journal
    await expect(computeBatches({ ...base(out), layers: ['1_1'] }, [0])).rejects.toThrow(/was not planned with these settings/);
    const final = await analyzeSlideToDir(base(out));
    expect(final.stats).toMatchObject({ computed: 0, reused: n });
    expect(digest(join(out, 'tissue'))).toEqual(digest(join(root, 'whole', 'tissue')));
  });

  it('a journal of another plan is not replayed', async () => {
    const out = join(root, 'other');
    const ctl = new AbortController();
    await expect(analyzeSlideToDir({ ...base(out), signal: ctl.signal, onProgress: (p) => p.done >= 12 && ctl.abort() })).rejects.toThrow();
    const r = await analyzeSlideToDir({ ...base(out), layers: ['1_1'] });
    expect(r.stats.reused).toBe(0);
  });

  it('canvas memory follows the slide width, not its area: peak chunks equal when the slide is twice as tall', async () => {
    const tall = join(root, 'tall.tif');
    const short = join(root, 'short.tif');
    await writeTissueSlide(short, 1536, 640, 5);
    await writeTissueSlide(tall, 1536, 1280, 5);
    const opts = { model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, layers: ['input'], methods: ['grad'], variants: ['original'], patch: 128, level: 0, overlap: 0, batch: 16, workers: 1, outputs: false, journal: false } as const;
    const a = await analyzeSlideToDir({ ...opts, slide: short, out: join(root, 'mem'), methods: ['grad'], variants: ['original'], layers: ['input'] });
    const b = await analyzeSlideToDir({ ...opts, slide: tall, out: join(root, 'mem'), methods: ['grad'], variants: ['original'], layers: ['input'] });
    expect(b.plan.patches.length).toBeGreaterThan(1.5 * a.plan.patches.length);
    // input-layer canvas = the slide: 3 chunks of 512 across; one row of chunks (plus the next) at most
    expect(a.stats.peakChunks).toBeLessThanOrEqual(6);
    expect(b.stats.peakChunks).toBeLessThanOrEqual(6);
    // while the tall slide's map spans more chunks than were ever held at once
    const stored = readdirSync(join(b.dir, b.manifest.overlays[0]!.store, '0')).filter((r) => /^\d+$/.test(r)).flatMap((r) => readdirSync(join(b.dir, b.manifest.overlays[0]!.store, '0', r)));
    expect(stored.length).toBeGreaterThan(b.stats.peakChunks);
  }, 120_000);
});
