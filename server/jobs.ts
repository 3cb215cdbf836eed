/**
 * Analysis jobs: a FIFO queue that runs one analysis at a time (each already fills every core
 * through the worker pool) and tells listeners about progress, completion and failure.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';

export type JobState = 'queued' | 'running' | 'done' | 'failed';

/** What GET /api/jobs/:job returns. */
export interface JobStatus {
  id: string;
  slide: string;
  state: JobState;
  done: number;
  total: number;
  /** Patches per second since the job started (0 before the first batch). */
  rate: number;
  /** Seconds left at that rate; null while unknown. */
  eta: number | null;
  error?: string;
  analysis?: string;
}

export type JobEvent = { type: 'progress'; status: JobStatus } | { type: 'done'; status: JobStatus } | { type: 'failed'; status: JobStatus };

/** Runs one job; reports progress; resolves with the analysis id. */
export type JobRunner<R> = (request: R, onProgress: (done: number, total: number) => void, signal: AbortSignal) => Promise<string>;

interface Job<R> {
  status: JobStatus;
  request: R;
  started?: number;
}

export class JobQueue<R> {
  private readonly jobs = new Map<string, Job<R>>();
  private readonly events = new EventEmitter();
  private readonly waiting: Job<R>[] = [];
  private running?: Job<R>;
  private readonly abort = new AbortController();
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly runner: JobRunner<R>,
    private readonly options: { keep?: number; errorMessage?: (err: unknown) => string } = {},
  ) {
    this.events.setMaxListeners(0);
  }

  submit(slide: string, request: R): JobStatus {
    const job: Job<R> = { request, status: { id: randomUUID(), slide, state: 'queued', done: 0, total: 0, rate: 0, eta: null } };
    this.jobs.set(job.status.id, job);
    this.forgetOld();
    this.waiting.push(job);
    this.pump();
    return { ...job.status };
  }

  get(id: string): JobStatus | undefined {
    const job = this.jobs.get(id);
    return job && { ...job.status };
  }

  /** Calls `listener` for each later event of job `id`; returns the unsubscribe function. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /** True while a job is running or waiting. */
  get busy(): boolean {
    return this.running !== undefined || this.waiting.length > 0;
  }

  /** Stops the running job (the pipeline journals finished batches) and fails the waiting ones. */
  stop(): Promise<void> {
    this.abort.abort();
    return this.drained();
  }

  /** Resolves when the queue has run dry. */
  async drained(): Promise<void> {
    // each finished run starts the next before its promise settles for us
    while (this.running) await this.idle;
  }

  private pump(): void {
    if (this.running) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = job;
    this.idle = this.run(job).finally(() => {
      this.running = undefined;
      this.pump();
    });
  }

  private async run(job: Job<R>): Promise<void> {
    const s = job.status;
    s.state = 'running';
    job.started = performance.now();
    this.emit(job, 'progress');
    try {
      if (this.abort.signal.aborted) throw new Error('the server stopped before this job started');
      s.analysis = await this.runner(job.request, (done, total) => {
        const secs = (performance.now() - job.started!) / 1000;
        s.done = done;
        s.total = total;
        s.rate = secs > 0 ? done / secs : 0;
        s.eta = s.rate > 0 ? Math.max(0, total - done) / s.rate : null;
        this.emit(job, 'progress');
      }, this.abort.signal);
      s.state = 'done';
      s.eta = 0;
      this.emit(job, 'done');
    } catch (err) {
      s.state = 'failed';
      s.error = this.options.errorMessage?.(err) ?? (err instanceof Error ? err.message : String(err));
      this.emit(job, 'failed');
    }
  }

  private emit(job: Job<R>, type: JobEvent['type']): void {
    this.events.emit(job.status.id, { type, status: { ...job.status } });
  }

  /** Finished jobs beyond `keep` (default 200) are forgotten, oldest first. */
  private forgetOld(): void {
    const keep = this.options.keep ?? 200;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= keep) break;
      if (job.status.state === 'done' || job.status.state === 'failed') this.jobs.delete(id);
    }
  }
}
