/**
 * The distributed queue: BullMQ on Redis. Each slide becomes a BullMQ flow whose parent is the
 * slide's 'finalize' job and whose children are 'chunk' jobs (ranges of patch batches); BullMQ
 * runs the parent once, when its last child has completed, so exactly one worker stitches a
 * slide. Crash safety comes from BullMQ's job locks: a killed worker stops renewing its lock,
 * another worker's stalled-job check puts the job back, and the chunk resumes from the journal.
 * Failed jobs retry with exponential backoff; a chunk out of attempts fails its slide
 * (`failParentOnFailure`) with its reason, and the other slides go on.
 */
import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { FlowProducer, Queue, type Job, type JobState, type JobsOptions } from 'bullmq';
import { SdsError } from '../core/errors.js';
import { AnalysisSession } from '../pipeline/index.js';
import { existingAnalysis, otherAnalysisError } from '../pipeline/existing-analysis.js';
import { claimAnalysisDir } from '../pipeline/results-dir.js';
import type { ChunkJobData, FinalizeJobData } from '../contracts/index.js';
import { chunkKind, chunkRanges, finalizeKind, SessionCache, type ChunkOptions } from './analysis-jobs.js';
import { slideStatus } from './bull-status.js';
import { runWorker } from './bull-worker.js';
import { checkRedis, parseRedisUrl, redisOptions, type ConnectOptions, type RedisTarget } from './connection.js';
import type { JobKinds } from './jobs.js';
import type { BatchQueue, CancelOutcome, EnqueueOutcome, SlideAnalysisOptions, SlideStatus, SlideTask, WorkOptions } from './types.js';

export interface BullQueueOptions extends ConnectOptions {
  /** BullMQ queue name (default "sds-analysis"); one Redis database can hold several */
  name?: string;
  /** patch batches per chunk job (default 16) */
  chunkBatches?: number;
  /** tries per job before it counts as failed (default 3) */
  attempts?: number;
  /** delay before the first retry, doubled for each further one (default 10 s) */
  retryDelayMs?: number;
  /** a worker's job lock: a worker silent this long (killed, frozen) loses its job (default 30 s) */
  lockMs?: number;
  /** how often workers look for jobs whose lock ran out (default 30 s) */
  stalledCheckMs?: number;
  /** times a job may be picked up again after its worker vanished before it fails (default 2) */
  maxStalls?: number;
  /** further job kinds for `work` (besides 'chunk' and 'finalize') */
  kinds?: JobKinds;
  /** how this process runs chunk jobs (see ChunkOptions) */
  chunk?: ChunkOptions;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  /** parents waiting for their chunks */
  waitingChildren: number;
  /** workers running a job now (host and pid) */
  busy: string[];
}

const STATES: JobState[] = ['active', 'waiting', 'waiting-children', 'prioritized', 'delayed', 'completed', 'failed'];

/** A slide's job id: its name (readable in Redis tools) and a hash of its results folder (unique). */
export function slideJobId(dir: string): string {
  const name = basename(dir).replace(/[^A-Za-z0-9._-]/g, '_');
  return `slide-${name}-${createHash('sha1').update(resolve(dir)).digest('hex').slice(0, 10)}`;
}

export class BullQueue implements BatchQueue {
  private readonly queue: Queue;
  private flows?: FlowProducer;
  private readonly opts: Required<Omit<BullQueueOptions, keyof ConnectOptions | 'kinds' | 'chunk'>> & Pick<BullQueueOptions, 'kinds' | 'chunk' | 'connectTimeoutMs' | 'env'>;

  private constructor(
    private readonly target: RedisTarget,
    o: BullQueueOptions,
  ) {
    this.opts = {
      name: o.name ?? 'sds-analysis',
      chunkBatches: o.chunkBatches ?? 16,
      attempts: o.attempts ?? 3,
      retryDelayMs: o.retryDelayMs ?? 10_000,
      lockMs: o.lockMs ?? 30_000,
      stalledCheckMs: o.stalledCheckMs ?? 30_000,
      maxStalls: o.maxStalls ?? 2,
      kinds: o.kinds,
      chunk: o.chunk,
      connectTimeoutMs: o.connectTimeoutMs,
      env: o.env,
    };
    if (this.opts.name.includes(':')) throw new SdsError('BAD_ARGUMENT', `queue name "${this.opts.name}" must not contain ":"`);
    this.queue = new Queue(this.opts.name, { connection: this.connection() });
    this.queue.on('error', () => {}); // connection trouble surfaces in the commands that wait on it
  }

  /** Checks that Redis answers (a clear error within the connect timeout, not a hang), then opens the queue. */
  static async connect(o: BullQueueOptions): Promise<BullQueue> {
    const target = parseRedisUrl(o.url, o);
    await checkRedis(target, o);
    return new BullQueue(target, o);
  }

  get name(): string {
    return this.opts.name;
  }

  /** Where the queue is, without the password. */
  get where(): string {
    return this.target.display;
  }

  /** Connection options: fail-fast for this process's own commands, patient for a worker's. */
  private connection(failFast = true) {
    return redisOptions(this.target, { ...this.opts, failFast });
  }

  private jobOptions(): JobsOptions {
    return { attempts: this.opts.attempts, backoff: { type: 'exponential', delay: this.opts.retryDelayMs } };
  }

  async enqueue(tasks: SlideTask[]): Promise<EnqueueOutcome[]> {
    const out: EnqueueOutcome[] = [];
    for (const t of tasks) out.push(await this.enqueueSlide(t));
    return out;
  }

  private async enqueueSlide(task: SlideTask): Promise<EnqueueOutcome> {
    const slide = resolve(task.slide);
    const name = basename(slide);
    const options = portable(task.options);
    let dir: string;
    try {
      // the slide's own folder from now on (workers find it by the same rule: pipeline/results-dir.ts)
      dir = await claimAnalysisDir(options.out, slide);
    } catch (err) {
      return { slide: name, state: 'failed', note: (err as Error).message.split('\n')[0] };
    }
    if (!task.replace) {
      // a finished analysis counts only when it is the one asked for; another one is not overwritten
      const prior = await existingAnalysis(dir, options);
      if (prior.state === 'same') return { slide: name, state: 'done-earlier' };
      if (prior.state === 'different') {
        const err = otherAnalysisError(dir, prior.differences);
        return { slide: name, state: 'failed', note: `${err.message}; ${err.suggestion}` };
      }
    }
    const id = slideJobId(dir);
    // re-enqueueing a queued slide is a no-op; a finished or failed one is replaced (a retry)
    const old = await this.queue.getJob(id);
    if (old) {
      const state = await old.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return { slide: name, state: 'already-queued', note: state };
      try {
        await old.remove({ removeChildren: true });
      } catch (err) {
        return { slide: name, state: 'failed', note: `its earlier jobs are still running (${(err as Error).message}); enqueue it again when they end` };
      }
    }
    // plan once here: tissue mask, patch grid, and the journal that chunk jobs fill
    let batches: number, patches: number;
    try {
      const session = await AnalysisSession.open({ ...options, slide, workers: 1, replace: task.replace });
      batches = session.plan.batches.length;
      patches = session.plan.patches.length;
      await session.close();
    } catch (err) {
      return { slide: name, state: 'failed', note: (err as Error).message.split('\n')[0] };
    }
    const ranges = chunkRanges(batches, this.opts.chunkBatches);
    const base = { slide, name, options };
    const parent: FinalizeJobData = { ...base, batches, chunks: ranges.length, patches };
    const opts = this.jobOptions();
    if (!ranges.length) {
      await this.queue.add('finalize', parent, { ...opts, jobId: id });
    } else {
      this.flows ??= new FlowProducer({ connection: this.connection() });
      await this.flows.add({
        name: 'finalize',
        queueName: this.opts.name,
        data: parent,
        opts: { ...opts, jobId: id },
        children: ranges.map((r) => ({ name: 'chunk', queueName: this.opts.name, data: { ...base, batches: r, of: batches } satisfies ChunkJobData, opts: { ...opts, jobId: `${id}-b${r[0]}`, failParentOnFailure: true } })),
      });
    }
    return { slide: name, state: 'enqueued', chunks: ranges.length, batches, patches };
  }

  /** Adds jobs of any registered kind, with ids (an id already in the queue is not added again). */
  async addJobs(kind: string, jobs: { id: string; data: unknown }[]): Promise<void> {
    await this.queue.addBulk(jobs.map((j) => ({ name: kind, data: j.data, opts: { ...this.jobOptions(), jobId: j.id } })));
  }

  /**
   * Takes jobs and runs them until `signal` aborts: then chunk jobs stop at their next batch and
   * go back to the queue (journalled batches are kept), a running finalize finishes.
   */
  async work(options: WorkOptions = {}): Promise<void> {
    const sessions = new SessionCache();
    try {
      await runWorker(
        { name: this.opts.name, connection: this.connection(false), where: this.where, lockMs: this.opts.lockMs, stalledCheckMs: this.opts.stalledCheckMs, maxStalls: this.opts.maxStalls },
        { chunk: chunkKind(sessions, this.opts.chunk), finalize: finalizeKind(sessions), ...this.opts.kinds },
        async (id) => this.queue.getJobState(id),
        options,
      );
    } finally {
      await sessions.clear();
    }
  }

  async status(): Promise<SlideStatus[]> {
    const jobs = new Map<string, { job: Job; state: JobState }>();
    for (const state of STATES) for (const job of await this.queue.getJobs([state], 0, -1)) if (job?.id) jobs.set(job.id, { job, state });
    const children = new Map<string, { job: Job; state: JobState }[]>();
    for (const e of jobs.values()) {
      if (e.job.name !== 'chunk' || !e.job.parent?.id) continue;
      const list = children.get(e.job.parent.id) ?? [];
      list.push(e);
      children.set(e.job.parent.id, list);
    }
    const parents = [...jobs.values()].filter((e) => e.job.name === 'finalize').sort((a, b) => a.job.timestamp - b.job.timestamp);
    return parents.map(({ job, state }) => slideStatus(job, state, children.get(job.id ?? '') ?? []));
  }

  /**
   * Takes a slide's flow out of the queue while no worker holds any of its jobs. BullMQ cannot stop
   * a job a worker runs (its lock belongs to that worker, on another machine): then the slide is
   * refused with that reason and goes on; its journal keeps what is done either way.
   */
  async cancel(dir: string): Promise<CancelOutcome> {
    const job = await this.queue.getJob(slideJobId(dir));
    if (!job) return { state: 'not-found' };
    const state = await job.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return { state: 'not-found' };
    const refused = { state: 'refused' as const, note: 'a queue worker is running part of this analysis, and BullMQ cannot stop a job a worker holds: it goes on there (stop that sds worker to stop it); waiting analyses can be cancelled' };
    if (state === 'active') return refused;
    try {
      // refused by BullMQ (nothing removed) while a worker holds the parent or one of its chunks
      await job.remove({ removeChildren: true });
    } catch {
      return refused;
    }
    return { state: 'removed' };
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed', 'waiting-children');
    // BullMQ 6 no longer names worker connections (getWorkersCount finds none): the active jobs say who works
    const busy = [...new Set((await this.queue.getJobs(['active'], 0, -1)).map((j) => j?.processedBy).filter((w): w is string => !!w))].sort();
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0, waitingChildren: c['waiting-children'] ?? 0, busy };
  }

  /** A job's state, attempts and where it ran (tests, diagnostics). */
  async jobReport(id: string): Promise<{ state: JobState | 'unknown'; attemptsStarted: number; stalls: number; processedBy?: string } | undefined> {
    const job = await this.queue.getJob(id);
    if (!job) return undefined;
    return { state: await job.getState(), attemptsStarted: job.attemptsStarted, stalls: job.stalledCounter, processedBy: job.processedBy };
  }

  async close(): Promise<void> {
    await this.flows?.close();
    await this.queue.close();
  }
}

/** Paths made absolute (workers run elsewhere, with another working directory); the manifest keeps the name given. */
function portable(o: SlideAnalysisOptions): SlideAnalysisOptions {
  const model = o.model.kind === 'file' ? { ...o.model, weights: resolve(o.model.weights) } : o.model;
  const weightsLabel = o.weightsLabel ?? (o.model.kind === 'file' ? o.model.weights : undefined);
  return { ...o, out: resolve(o.out), model, surrogate: o.surrogate && resolve(o.surrogate), ...(weightsLabel ? { weightsLabel } : {}) };
}
