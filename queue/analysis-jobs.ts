/**
 * The analysis as queue jobs. A slide is planned once by whoever enqueues it (its journal then
 * holds the plan's fingerprint); its patch batches are split into chunks, each a 'chunk' job that
 * computes and journals the batches the journal lacks (idempotent: a re-run chunk skips journalled
 * batches, each written atomically). One 'finalize' job per slide, the parent of its chunks in a
 * BullMQ flow, stitches the journal into stores, Deep Zoom tiles and the manifest.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chunkJobSchema, finalizeJobSchema, MANIFEST_FILE, parseContract, type ChunkJobData, type FinalizeJobData, type SlideAnalysisOptions } from '../contracts/index.js';
import { AnalysisSession, analysisDir, type AnalyzeOptions } from '../pipeline/index.js';
import type { JobKind } from './jobs.js';

export type { ChunkJobData, FinalizeJobData };

/** A payload from the queue, checked before anything acts on it (another sds version, or a hand-made job, is refused by field). */
function payload<T>(schema: typeof chunkJobSchema | typeof finalizeJobSchema, data: unknown, kind: string): T {
  return parseContract(schema, data, `queue job "${kind}"`, { code: 'BAD_INPUT', suggestion: 'enqueue the slide again with this version of sds (sds batch --queue ...)' }) as T;
}

/** Chunks of `size` batches over `n` batches: [from, to) ranges. */
export function chunkRanges(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < n; a += size) out.push([a, Math.min(n, a + size)]);
  return out;
}

/**
 * One open slide session kept between the chunk jobs of the same slide, so consecutive chunks
 * do not re-plan the slide and restart the compute threads. Dropped when another slide comes,
 * when a job fails or is stopped, and after a minute idle.
 */
export class SessionCache {
  private entry?: { key: string; session: Promise<AnalysisSession>; stop: AbortController };
  private idle?: NodeJS.Timeout;

  constructor(private readonly idleMs = 60_000) {}

  async use<T>(o: AnalyzeOptions, signal: AbortSignal, fn: (s: AnalysisSession) => Promise<T>): Promise<T> {
    clearTimeout(this.idle);
    const key = JSON.stringify(o);
    if (this.entry?.key !== key) {
      await this.clear();
      const stop = new AbortController();
      // the session's own signal: a stopped session cannot be reused, so it is dropped below
      this.entry = { key, stop, session: AnalysisSession.open({ ...o, signal: stop.signal }, { fresh: false }) };
    }
    const entry = this.entry;
    const onAbort = () => entry.stop.abort();
    signal.addEventListener('abort', onAbort);
    try {
      const r = await fn(await entry.session);
      this.idle = setTimeout(() => void this.clear(), this.idleMs).unref();
      return r;
    } catch (err) {
      await this.clear();
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async clear(): Promise<void> {
    clearTimeout(this.idle);
    const e = this.entry;
    this.entry = undefined;
    if (e) await (await e.session.catch(() => undefined))?.close();
  }
}

function analyzeOptions(d: { slide: string; options: SlideAnalysisOptions }, workers: number | undefined): AnalyzeOptions {
  return { ...d.options, slide: d.slide, workers };
}

export interface ChunkOptions {
  /**
   * Awaited after each journalled batch but a chunk's last, before the next is counted: lets a
   * caller hold a worker mid-chunk (the queue's crash test kills it there).
   */
  afterBatch?: (done: number, total: number) => Promise<void>;
}

export function chunkKind(sessions: SessionCache, o: ChunkOptions = {}): JobKind<unknown> {
  return {
    describe: (data) => {
      const d = payload<ChunkJobData>(chunkJobSchema, data, 'chunk');
      return { slide: d.name, dir: analysisDir(d.options.out, d.slide), label: `${d.name} batches ${d.batches[0]}-${d.batches[1] - 1} of ${d.of}` };
    },
    async run(data, ctx) {
      const d = payload<ChunkJobData>(chunkJobSchema, data, 'chunk');
      // a slide that failed already (another chunk gave up) is not worth computing further
      if (await ctx.parentFailed()) return { skipped: 'the slide failed already' };
      const [a, b] = d.batches;
      const indices = Array.from({ length: b - a }, (_, k) => a + k);
      let done = 0, reused = 0;
      let paused: Promise<void> | undefined;
      ctx.progress(0, indices.length);
      const r = await sessions.use(analyzeOptions(d, ctx.workers), ctx.signal, (s) =>
        s.run(indices, undefined, async (_i, fromJournal) => {
          // batches run concurrently: those finishing during a pause are counted after it
          if (paused) await paused;
          done++;
          if (fromJournal) reused++;
          ctx.progress(done, indices.length, reused ? `(${reused} from journal)` : '');
          if (o.afterBatch && done < indices.length) await (paused = o.afterBatch(done, indices.length));
        }),
      );
      return r;
    },
  };
}

export function finalizeKind(sessions: SessionCache): JobKind<unknown> {
  return {
    describe: (data) => {
      const d = payload<FinalizeJobData>(finalizeJobSchema, data, 'finalize');
      return { slide: d.name, dir: analysisDir(d.options.out, d.slide), label: `${d.name} stitch ${d.batches} batches` };
    },
    async run(data, ctx) {
      const d = payload<FinalizeJobData>(finalizeJobSchema, data, 'finalize');
      const dir = analysisDir(d.options.out, d.slide);
      // finished before (a retry after the manifest was written): the journal is gone, do nothing
      if (existsSync(join(dir, MANIFEST_FILE)) && !existsSync(join(dir, '.journal'))) return { already: true };
      await sessions.clear(); // the slide's compute threads are not needed for stitching
      ctx.progress(0, d.patches);
      // fresh: false: refuses a journal planned otherwise instead of wiping it; finalize is not
      // stopped by a shutdown (a half-stitched slide would only be redone)
      const session = await AnalysisSession.open({ ...analyzeOptions(d, ctx.workers), onProgress: (p) => ctx.progress(p.done, p.total, p.reused < p.done ? `(${p.done - p.reused} computed here)` : '') }, { fresh: false });
      try {
        const r = await session.complete();
        return { computed: r.stats.computed, reused: r.stats.reused, patches: r.manifest.patches.count, seconds: r.stats.seconds };
      } finally {
        await session.close();
      }
    },
  };
}
