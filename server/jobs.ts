/**
 * The server's analysis jobs, run through queue/'s BatchQueue like `sds batch`: the local queue
 * works them in this process one slide at a time (each fills every core through the worker pool);
 * with `serve --queue` they go to Redis and the lab's `sds worker`s run them, the server following
 * their progress. Either way a job is a slide task with an id, a status and listeners.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { realpath } from 'node:fs/promises';
import type { JobStatus, SlideTask } from '../contracts/index.js';
import { claimAnalysisDir } from '../pipeline/index.js';
import type { BatchQueue, CancelOutcome, SlideStatus, WorkListener } from '../queue/index.js';
import { badRequest } from './http-error.js';

export type { JobState, JobStatus } from '../contracts/index.js';

export type JobEvent = { type: 'progress' | 'done' | 'failed' | 'cancelled'; status: JobStatus };

/** A job that will not change again. */
export const isFinal = (s: JobStatus): boolean => s.state === 'done' || s.state === 'failed' || s.state === 'cancelled';

/** How long DELETE waits for a running job to reach its next batch before it answers with the job still stopping. */
const CANCEL_WAIT_MS = 30_000;

export interface AnalysisJobsOptions {
  /** the analysis id of a finished results folder (the results catalog's) */
  analysisId(dir: string): Promise<string>;
  /** how a failure reads for people (one line, no stack) */
  errorMessage(err: unknown): string;
  /**
   * Who works the queue: 'here' (this process, the local queue) or 'workers' (`sds worker`
   * processes elsewhere; the server polls the queue's status every `pollMs`).
   */
  workedBy: 'here' | 'workers';
  pollMs?: number;
  /** compute threads for jobs worked here (default: the number of cores) */
  workers?: number;
  /** finished jobs remembered (default 200) */
  keep?: number;
}

interface Job {
  status: JobStatus;
  dir: string;
  task: SlideTask;
  started?: number;
  /** the first progress report (performance.now(), patches done then): rates count from it */
  rateFrom?: { at: number; done: number };
  /** epoch ms when it started running */
  startedAt?: number;
}

export class AnalysisJobs {
  private readonly jobs = new Map<string, Job>();
  /** the unfinished job of each results folder */
  private readonly byDir = new Map<string, Job>();
  private readonly events = new EventEmitter();
  private readonly abort = new AbortController();
  private working?: Promise<void>;
  private poller?: NodeJS.Timeout;

  constructor(
    private readonly queue: BatchQueue,
    private readonly o: AnalysisJobsOptions,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Queues one slide's analysis; a slide whose analysis is already waiting or running gets that job. */
  async submit(slide: string, task: SlideTask): Promise<JobStatus> {
    // claimed now: two same-stem slides submitted together get their own folders (pipeline/results-dir.ts)
    const dir = await claimAnalysisDir(task.options.out, task.slide);
    const running = this.byDir.get(dir);
    if (running) return { ...running.status };
    const job: Job = { dir, task, status: { id: randomUUID(), slide, state: 'queued', done: 0, total: 0, rate: 0, eta: null } };
    this.jobs.set(job.status.id, job);
    this.byDir.set(dir, job);
    this.forgetOld();
    const [r] = await this.queue.enqueue([{ ...task, replace: true }]);
    if (!r || r.state === 'failed') this.fail(job, r?.note ?? 'the queue refused the slide');
    else if (this.o.workedBy === 'here') this.workHere();
    else this.poll();
    return { ...job.status };
  }

  /** Every job remembered, in the order submitted (the viewer finds the analyses running behind `sds start` here). */
  list(): JobStatus[] {
    return [...this.jobs.values()].map((j) => ({ ...j.status }));
  }

  /** The jobs running in this process now, with their folders and tasks (their overlays are shown while they run). */
  running(): { dir: string; task: SlideTask; status: JobStatus; startedAt: number }[] {
    if (this.o.workedBy !== 'here') return [];
    return [...this.byDir.values()].filter((j) => j.status.state === 'running' && j.startedAt !== undefined).map((j) => ({ dir: j.dir, task: j.task, status: { ...j.status }, startedAt: j.startedAt! }));
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

  /**
   * Cancels job `id` (undefined when there is no such job): a queued job is taken out of the queue
   * and never runs; a running one (worked here) stops at its next batch, its finished batches
   * journalled, so the same request again resumes; answered once it has stopped (or after
   * CANCEL_WAIT_MS, still running). A finished job is left as it is. A job a queue worker elsewhere
   * is running cannot be stopped (BullMQ): a 400 that says so.
   */
  async cancel(id: string): Promise<JobStatus | undefined> {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    if (isFinal(job.status) || this.byDir.get(job.dir) !== job) return { ...job.status };
    let outcome: CancelOutcome;
    try {
      outcome = await this.queue.cancel(job.dir);
    } catch (err) {
      throw badRequest(`job ${id} cannot be cancelled: ${this.o.errorMessage(err)}`, 'try again when the queue answers');
    }
    if (outcome.state === 'refused') throw badRequest(`job ${id} cannot be cancelled: ${outcome.note}`, 'wait for it to finish');
    if (outcome.state === 'stopping') {
      // the worker reports `cancelled` at the next batch (or `done` when it finished first)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, CANCEL_WAIT_MS);
        const off = this.subscribe(id, (e) => e.type !== 'progress' && finish());
        function finish() {
          clearTimeout(timer);
          off();
          resolve();
        }
        if (isFinal(job.status)) finish();
      });
    } else if (outcome.state === 'removed' || outcome.state === 'not-found') {
      // not started (or no longer known to the queue): it will never run
      this.cancelled(job);
    }
    return { ...job.status };
  }

  /** True while a job is waiting or running. */
  get busy(): boolean {
    return this.byDir.size > 0;
  }

  /**
   * Stops: the running analysis stops at its next batch (finished batches stay journalled, a
   * rerun resumes), jobs not started here fail with that reason. Jobs handed to workers go on there.
   */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.poller);
    await this.working;
    if (this.o.workedBy === 'here') for (const job of [...this.byDir.values()]) this.fail(job, 'the server stopped before this job finished');
    await this.queue.close();
  }

  /** The local queue, worked until it is empty; started again by the next submit. */
  private workHere(): void {
    if (this.working) return;
    const listener: WorkListener = {
      started: (info) => {
        const job = info.dir ? this.byDir.get(info.dir) : undefined;
        if (!job) return;
        job.status.state = 'running';
        job.started = performance.now();
        job.startedAt = Date.now();
        this.emit(job, 'progress');
      },
      progress: (info, done, total, _note, reused) => {
        const job = info.dir ? this.byDir.get(info.dir) : undefined;
        if (!job) return;
        if (reused) job.status.reused = reused;
        this.progress(job, done, total);
      },
      finished: (info, outcome) => {
        const job = info.dir ? this.byDir.get(info.dir) : undefined;
        if (!job) return;
        if (outcome.ok) void this.succeed(job);
        else if (outcome.cancelled) this.cancelled(job);
        else this.fail(job, this.o.errorMessage(outcome.error ?? outcome.message));
      },
    };
    this.working = (async () => {
      try {
        // a submit while the queue is being worked is picked up by the same pass
        while (!this.abort.signal.aborted && [...this.byDir.values()].some((j) => j.status.state === 'queued')) await this.queue.work({ workers: this.o.workers, signal: this.abort.signal, listener });
      } finally {
        this.working = undefined;
      }
    })();
  }

  /** Jobs worked elsewhere: their progress read from the queue's status. */
  private poll(): void {
    if (this.poller || this.abort.signal.aborted) return;
    const tick = async () => {
      this.poller = undefined;
      let slides: SlideStatus[] = [];
      try {
        slides = await this.queue.status();
      } catch {
        // the queue is unreachable for now: the next tick tries again
      }
      for (const s of slides) {
        const job = this.byDir.get(s.dir);
        if (!job) continue;
        if (s.state === 'done') await this.succeed(job);
        else if (s.state === 'failed') this.fail(job, s.note ?? 'failed on a worker');
        else {
          if (job.status.state === 'queued' && s.state !== 'queued') {
            job.status.state = 'running';
            job.started = performance.now();
          }
          this.progress(job, s.batches.done, s.batches.total);
        }
      }
      if (this.byDir.size && !this.abort.signal.aborted) this.poller = setTimeout(() => void tick(), this.o.pollMs ?? 1000);
    };
    this.poller = setTimeout(() => void tick(), 0);
  }

  private progress(job: Job, done: number, total: number): void {
    const s = job.status;
    // the rate counts from the first progress report: a queue may report its first batches (or
    // those replayed from a journal) the instant it says it started, which made rates of 80000/s
    const now = performance.now();
    job.rateFrom ??= { at: now, done };
    const secs = (now - job.rateFrom.at) / 1000;
    s.done = done;
    s.total = total;
    s.rate = secs >= 1 ? (done - job.rateFrom.done) / secs : 0;
    s.eta = s.rate > 0 ? Math.max(0, total - done) / s.rate : null;
    this.emit(job, 'progress');
  }

  private async succeed(job: Job): Promise<void> {
    if (this.byDir.get(job.dir) !== job) return;
    this.byDir.delete(job.dir);
    try {
      job.status.analysis = await this.o.analysisId(await realpath(job.dir));
      job.status.state = 'done';
      job.status.eta = 0;
      this.emit(job, 'done');
    } catch (err) {
      this.fail(job, this.o.errorMessage(err));
    }
  }

  private cancelled(job: Job): void {
    if (this.byDir.get(job.dir) === job) this.byDir.delete(job.dir);
    if (isFinal(job.status)) return;
    job.status.state = 'cancelled';
    job.status.eta = null;
    job.status.rate = 0;
    this.emit(job, 'cancelled');
  }

  private fail(job: Job, error: string): void {
    if (this.byDir.get(job.dir) === job) this.byDir.delete(job.dir);
    if (isFinal(job.status)) return;
    job.status.state = 'failed';
    job.status.error = error;
    this.emit(job, 'failed');
  }

  private emit(job: Job, type: JobEvent['type']): void {
    this.events.emit(job.status.id, { type, status: { ...job.status } });
  }

  /** Finished jobs beyond `keep` are forgotten, oldest first. */
  private forgetOld(): void {
    const keep = this.o.keep ?? 200;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= keep) break;
      if (isFinal(job.status)) this.jobs.delete(id);
    }
  }
}
