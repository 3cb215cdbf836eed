/**
 * The in-process queue behind `sds batch` without --queue: slides one after another in this
 * process, each analysed whole (compute and stitch stream together); a failing slide is recorded
 * with its reason and the rest go on.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MANIFEST_FILE } from '../contracts/index.js';
import { analysisDir, analyzeSlideToDir } from '../pipeline/index.js';
import type { BatchQueue, EnqueueOutcome, SlideStatus, SlideTask, WorkOptions } from './types.js';

interface Entry {
  task: SlideTask;
  status: SlideStatus;
  /** position in enqueue order (skipped slides count too, as the run's "slide i of N") */
  index: number;
}

export class LocalQueue implements BatchQueue {
  private readonly entries: Entry[] = [];
  private enqueued = 0;

  async enqueue(tasks: SlideTask[]): Promise<EnqueueOutcome[]> {
    const out: EnqueueOutcome[] = [];
    for (const task of tasks) {
      const dir = analysisDir(task.options.out, task.slide);
      const slide = basename(task.slide);
      const index = this.enqueued++;
      const existing = this.entries.find((e) => e.status.dir === dir && e.status.state === 'queued');
      if (existing) {
        out.push({ slide, state: 'already-queued' });
        continue;
      }
      const done = !task.replace && existsSync(join(dir, MANIFEST_FILE));
      this.entries.push({ task, index, status: { slide, dir, state: done ? 'done' : 'queued', chunks: { done: done ? 1 : 0, total: 1 }, batches: { done: 0, total: 0 }, retries: 0, note: done ? 'done earlier' : undefined } });
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
      listener?.started?.(job);
      const t0 = performance.now();
      try {
        const r = await analyzeSlideToDir({
          ...task.options,
          slide: task.slide,
          workers,
          signal,
          onPlan: (plan) => (status.batches.total = plan.batches.length),
          onProgress: (p) => listener?.progress?.(job, p.done, p.total, p.reused ? `(${p.reused} from journal)` : ''),
        });
        const { computed, reused } = r.stats;
        Object.assign(status, { state: 'done', chunks: { done: 1, total: 1 }, batches: { done: computed + reused, total: computed + reused }, patches: r.manifest.patches.count, seconds: r.stats.seconds });
        status.note = reused ? `resumed: ${reused}/${reused + computed} batches from the journal` : undefined;
        listener?.finished?.(job, { ok: true, seconds: r.stats.seconds });
      } catch (err) {
        const seconds = (performance.now() - t0) / 1000;
        Object.assign(status, { state: 'failed', seconds, note: (err as Error).message.split('\n')[0] });
        listener?.finished?.(job, { ok: false, seconds, message: status.note, error: err });
      }
    }
  }

  async status(): Promise<SlideStatus[]> {
    return this.entries.map((e) => ({ ...e.status }));
  }

  async close(): Promise<void> {}
}
