/**
 * The batch runner's one contract. `sds batch` fills a queue with slides and someone works it:
 * the local queue works it in this process, the BullMQ queue in `sds worker` processes on any
 * number of machines. Both report the same per-slide status.
 */
import type { SlideAnalysisOptions, SlideTask } from '../contracts/index.js';

export type { SlideAnalysisOptions, SlideTask };

export type EnqueueState = 'enqueued' | 'already-queued' | 'done-earlier' | 'failed';

export interface EnqueueOutcome {
  slide: string;
  state: EnqueueState;
  /** queue jobs made for the slide (chunks of its patch grid) */
  chunks?: number;
  batches?: number;
  patches?: number;
  /** why it failed or was not enqueued */
  note?: string;
}

export type SlideState = 'queued' | 'running' | 'finalizing' | 'done' | 'failed' | 'cancelled';

export interface SlideStatus {
  /** slide file name */
  slide: string;
  /** the slide's results folder */
  dir: string;
  state: SlideState;
  chunks: { done: number; total: number };
  /** patch batches finished (completed chunks plus the running chunks' progress) */
  batches: { done: number; total: number };
  patches?: number;
  seconds?: number;
  /** failed or retried jobs of this slide (attempts beyond the first) */
  retries: number;
  /** why it failed (the failing job's last error), or how it went ("done earlier", "resumed ...") */
  note?: string;
}

/** One unit of queue work as workers report it. */
export interface JobInfo {
  id: string;
  /** 'slide' (a whole slide, local), 'chunk', 'finalize', or another registered kind */
  kind: string;
  slide?: string;
  /** the slide's results folder, when the job is about one slide */
  dir?: string;
  /** what it covers, e.g. "batches 8-15 of 40" */
  label: string;
  /** position among the jobs of this run and their count, when known (local queue) */
  index?: number;
  of?: number;
}

export interface JobOutcome {
  ok: boolean;
  seconds: number;
  /** the error's first line, or a summary ("4 batches computed, 2 from the journal") */
  message?: string;
  error?: unknown;
  /** a failed job that will be tried again */
  retry?: boolean;
  /** a job handed back to the queue unfinished (shutdown) */
  released?: boolean;
  /** a job stopped by `cancel` (its finished batches are journalled: a rerun resumes) */
  cancelled?: boolean;
}

/**
 * What `cancel` did: a waiting slide was taken out of the queue ('removed'), a slide running in
 * this process stops at its next batch ('stopping': its worker reports `cancelled`), the queue
 * does not know the slide ('not-found'), or it cannot be stopped from here ('refused', with why:
 * a BullMQ chunk a worker elsewhere is running).
 */
export type CancelOutcome = { state: 'removed' } | { state: 'stopping' } | { state: 'not-found' } | { state: 'refused'; note: string };

export interface WorkListener {
  started?(job: JobInfo): void;
  /** `reused`: of `done`, the batches taken from the journal (a resumed slide), where the queue knows */
  progress?(job: JobInfo, done: number, total: number, note?: string, reused?: number): void;
  finished?(job: JobInfo, outcome: JobOutcome): void;
  /** anything else worth a line (connection trouble, shutdown) */
  log?(message: string): void;
}

export interface WorkOptions {
  /** compute threads per process (the analysis worker pool); default the number of cores */
  workers?: number;
  /**
   * Stops work. The local queue stops between slides; a queue worker hands unfinished chunks
   * back (their journalled batches are kept) and lets a running finalize finish.
   */
  signal?: AbortSignal;
  listener?: WorkListener;
}

export interface BatchQueue {
  /** Adds slides; a slide whose finished analysis matches the task is skipped (unless the task says `replace`), one finished with other settings is refused, slides already queued are left as they are. */
  enqueue(tasks: SlideTask[]): Promise<EnqueueOutcome[]>;
  /**
   * Works the queue: the local queue until it is empty, a distributed queue until `signal`
   * aborts (other processes may be adding and working at the same time).
   */
  work(options?: WorkOptions): Promise<void>;
  /** Every known slide with its progress, in enqueue order. */
  status(): Promise<SlideStatus[]>;
  /** Stops one slide (by its results folder): see CancelOutcome. */
  cancel(dir: string): Promise<CancelOutcome>;
  close(): Promise<void>;
}
