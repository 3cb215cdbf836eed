/**
 * One BullMQ worker: takes jobs one at a time, runs them by kind, reports progress, and stops on
 * a signal by handing a running chunk back to the queue. BullMQ does the rest: the job lock
 * (renewed from this event loop), stalled-job recovery, retries with backoff, flow parents.
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UnrecoverableError, WaitingError, Worker, type Job, type JobState, type RedisOptions } from 'bullmq';
import type { JobContext, JobKinds } from './jobs.js';
import type { JobInfo, WorkOptions } from './types.js';

export interface WorkerSettings {
  name: string;
  connection: RedisOptions;
  /** the queue's address, for the "ready" line */
  where: string;
  lockMs: number;
  stalledCheckMs: number;
  maxStalls: number;
}

export async function runWorker(s: WorkerSettings, kinds: JobKinds, jobState: (id: string) => Promise<JobState | 'unknown'>, { workers, signal, listener = {} }: WorkOptions): Promise<void> {
  const shutdown = new AbortController();
  const processor = async (job: Job, token?: string, jobSignal?: AbortSignal): Promise<unknown> => {
    const kind = kinds[job.name];
    if (!kind) throw new UnrecoverableError(`no worker code for job kind "${job.name}" (is this sds older than the one that enqueued it?)`);
    let info: JobInfo;
    try {
      info = { id: job.id ?? '?', kind: job.name, ...kind.describe(job.data) };
    } catch (err) {
      // a payload that is not this kind's will not become one on a retry
      throw new UnrecoverableError((err as Error).message);
    }
    const t0 = performance.now();
    const secs = () => (performance.now() - t0) / 1000;
    listener.started?.(info);
    const lag = monitorEventLoopDelay({ resolution: 50 });
    lag.enable();
    const ctx: JobContext = {
      id: info.id,
      attempt: job.attemptsMade,
      workers,
      signal: jobSignal ? AbortSignal.any([shutdown.signal, jobSignal]) : shutdown.signal,
      progress: (done, total, note) => {
        listener.progress?.(info, done, total, note);
        job.updateProgress({ done, total }).catch(() => {}); // for `sds status`; losing one is harmless
      },
      parentFailed: async () => (job.parent?.id ? (await jobState(job.parent.id)) === 'failed' : false),
    };
    try {
      const r = await kind.run(job.data, ctx).finally(() => {
        lag.disable();
        // the lock is renewed from this event loop: blocked for most of the lock time, the job may be gone
        const blocked = lag.max / 1e9;
        if (blocked > s.lockMs / 2000) listener.log?.(`job ${info.id}: the event loop was blocked for ${blocked.toFixed(1)} s while the job lock lasts ${s.lockMs / 1000} s; another worker may have taken the job (raise --lock)`);
      });
      listener.finished?.(info, { ok: true, seconds: secs(), message: summarize(r) });
      return r;
    } catch (err) {
      if (shutdown.signal.aborted) {
        // hand the job back (no attempt used); another worker resumes it from the journal. Should
        // that fail (lock already lost), the stalled-job check returns it all the same.
        await job.moveToWait(token).catch(() => {});
        listener.finished?.(info, { ok: false, released: true, seconds: secs() });
        throw new WaitingError();
      }
      const attempts = job.opts.attempts ?? 1;
      listener.finished?.(info, { ok: false, seconds: secs(), message: `${(err as Error).message.split('\n')[0]} (attempt ${job.attemptsMade + 1} of ${attempts})`, error: err, retry: job.attemptsMade + 1 < attempts });
      throw err;
    }
  };
  const worker = new Worker(s.name, processor, {
    connection: s.connection,
    autorun: false,
    concurrency: 1, // one job at a time: a chunk already keeps every compute thread busy
    lockDuration: s.lockMs,
    stalledInterval: s.stalledCheckMs,
    maxStalledCount: s.maxStalls,
    name: `${hostname()} pid ${process.pid}`,
  });
  let lastError = 0;
  worker.on('error', (err) => {
    // e.g. Redis gone: the client reconnects by itself; say so now and then, not on every retry
    if (Date.now() - lastError < 10_000) return;
    lastError = Date.now();
    listener.log?.(`queue at ${s.where}: ${err.message} (still trying)`);
  });
  worker.on('stalled', (jobId) => listener.log?.(`job ${jobId} stalled (its worker stopped answering): back in the queue`));
  const running = worker.run();
  try {
    await worker.waitUntilReady();
    listener.log?.(`worker ${hostname()} pid ${process.pid} ready on ${s.where} queue ${s.name}`);
    await Promise.race([running, new Promise<void>((r) => (signal?.aborted ? r() : signal?.addEventListener('abort', () => r(), { once: true })))]);
  } finally {
    shutdown.abort();
    await worker.close();
    await running.catch(() => {});
  }
}

function summarize(r: unknown): string | undefined {
  if (!r || typeof r !== 'object') return undefined;
  const v = r as Record<string, unknown>;
  if (typeof v.skipped === 'string') return `skipped: ${v.skipped}`;
  if (v.already) return 'finished earlier';
  if (typeof v.computed === 'number') return `${v.computed} batches computed${v.reused ? `, ${v.reused} from the journal` : ''}`;
  return undefined;
}
