/**
 * The in-process queue behind `sds batch` without --queue: slides one after another in this
 * process, each analysed whole (compute and stitch stream together); a failing slide is recorded
 * with its reason and the rest go on. One slide can be cancelled: a waiting one is skipped, the
 * running one stops at its next batch through its own AbortSignal (its finished batches stay
 * journalled, so analysing it again resumes) and the queue goes on with the next.
 */
import { basename } from 'node:path';
import { analyzeSlideToDir } from '../pipeline/index.js';
import { otherAnalysisError, existingAnalysis } from '../pipeline/existing-analysis.js';
import { claimAnalysisDir } from '../pipeline/results-dir.js';
import type { BatchQueue, CancelOutcome, EnqueueOutcome, SlideStatus, SlideTask, WorkOptions } from './types.js';

interface Entry {
  task: SlideTask;
  status: SlideStatus;
  /** position in enqueue order (skipped slides count too, as the run's "slide i of N") */
  index: number;
  /** aborts this slide alone while it runs (`cancel`) */
  stop?: AbortController;
}

export class LocalQueue implements BatchQueue {
  private readonly entries: Entry[] = [];
  private enqueued = 0;

  async enqueue(tasks: SlideTask[]): Promise<EnqueueOutcome[]> {
    const out: EnqueueOutcome[] = [];
    for (const task of tasks) {
      const slide = basename(task.slide);
      const index = this.enqueued++;
      const status = (dir: string, state: SlideStatus['state'], note?: string): SlideStatus => ({ slide, dir, state, chunks: { done: state === 'done' ? 1 : 0, total: 1 }, batches: { done: 0, total: 0 }, retries: 0, note });
      let dir: string;
      try {
        // the slide's own folder from now on: another slide of the same name gets another
        dir = await claimAnalysisDir(task.options.out, task.slide);
      } catch (err) {
        const note = (err as Error).message.split('\n')[0];
        this.entries.push({ task, index, status: status(task.options.out, 'failed', note) });
        out.push({ slide, state: 'failed', note });
        continue;
      }
      const existing = this.entries.find((e) => e.status.dir === dir && e.status.state === 'queued');
      if (existing) {
        out.push({ slide, state: 'already-queued' });
        continue;
      }
      // a finished analysis counts only when it is the one asked for; another one is not overwritten
      const prior = task.replace ? { state: 'none' as const } : await existingAnalysis(dir, task.options);
      if (prior.state === 'different') {
        const err = otherAnalysisError(dir, prior.differences);
        const note = `${err.message}; ${err.suggestion}`;
        this.entries.push({ task, index, status: status(dir, 'failed', note) });
        out.push({ slide, state: 'failed', note });
        continue;
      }
      const done = prior.state === 'same';
      this.entries.push({ task, index, status: status(dir, done ? 'done' : 'queued', done ? 'done earlier' : undefined) });
      out.push({ slide, state: done ? 'done-earlier' : 'enqueued', chunks: 1 });
    }
    return out;
  }

  async work({ workers, signal, listener }: WorkOptions = {}): Promise<void> {
    for (const e of this.entries) {
      if (e.status.state !== 'queued') continue;
      if (signal?.aborted) return;
      const { task, status } = e;
      const job = { id: `slide-${e.index + 1}`, kind: 'slide', slide: status.slide, dir: status.dir, label: status.slide, index: e.index + 1, of: this.enqueued };
      status.state = 'running';
      // this slide's own stop, also pulled by the run's signal (told apart below by which one aborted)
      const stop = (e.stop = new AbortController());
      const onStop = () => stop.abort();
      signal?.addEventListener('abort', onStop, { once: true });
      listener?.started?.(job);
      const t0 = performance.now();
      try {
        const r = await analyzeSlideToDir({
          ...task.options,
          slide: task.slide,
          workers,
          replace: task.replace,
          signal: stop.signal,
          onPlan: (plan) => (status.batches.total = plan.batches.length),
          onProgress: (p) => listener?.progress?.(job, p.done, p.total, p.reused ? `(${p.reused} from journal)` : '', p.reused),
        });
        const { computed, reused } = r.stats;
        Object.assign(status, { state: 'done', chunks: { done: 1, total: 1 }, batches: { done: computed + reused, total: computed + reused }, patches: r.manifest.patches.count, seconds: r.stats.seconds });
        status.note = reused ? `resumed: ${reused}/${reused + computed} batches from the journal` : undefined;
        listener?.finished?.(job, { ok: true, seconds: r.stats.seconds });
      } catch (err) {
        const seconds = (performance.now() - t0) / 1000;
        if (stop.signal.aborted && !signal?.aborted) {
          // cancelled alone: the journal keeps its finished batches; the next slide goes on
          Object.assign(status, { state: 'cancelled', seconds, note: 'cancelled (finished batches are journalled)' });
          listener?.finished?.(job, { ok: false, seconds, message: status.note, cancelled: true });
          continue;
        }
        if (signal?.aborted) {
          // stopped, not failed: its finished batches are journalled and the next run resumes
          Object.assign(status, { state: 'queued', seconds, note: 'stopped (finished batches are journalled)' });
          listener?.finished?.(job, { ok: false, seconds, message: status.note, released: true });
          return;
        }
        Object.assign(status, { state: 'failed', seconds, note: (err as Error).message.split('\n')[0] });
        listener?.finished?.(job, { ok: false, seconds, message: status.note, error: err });
      } finally {
        e.stop = undefined;
        signal?.removeEventListener('abort', onStop);
      }
    }
  }

  async cancel(dir: string): Promise<CancelOutcome> {
    const e = this.entries.find((x) => x.status.dir === dir && (x.status.state === 'queued' || x.status.state === 'running'));
    if (!e) return { state: 'not-found' };
    if (e.status.state === 'queued') {
      Object.assign(e.status, { state: 'cancelled', note: 'cancelled before it started' });
      return { state: 'removed' };
    }
    e.stop?.abort();
    return { state: 'stopping' };
  }

  async status(): Promise<SlideStatus[]> {
    return this.entries.map((e) => ({ ...e.status }));
  }

  async close(): Promise<void> {}
}
