/**
 * Job kinds a queue worker runs, by name. The analysis registers two ('chunk', 'finalize'); other
 * kinds (tests, future work) are registered the same way, through `BullQueue`'s `kinds` option.
 */

export interface JobContext {
  /** the queue's job id */
  id: string;
  /** failed attempts so far (0 on the first try) */
  attempt: number;
  /** compute threads this process was given (`sds worker --workers`) */
  workers?: number;
  /** aborted when the worker shuts down (hand the job back) or the job is cancelled */
  signal: AbortSignal;
  /** reports progress to the listener (count, rate, ETA) and to the queue (`sds status`) */
  progress(done: number, total: number, note?: string): void;
  /** whether the job's parent (its slide) has failed already, so the job need not run */
  parentFailed(): Promise<boolean>;
}

export interface JobKind<D = unknown> {
  /**
   * Which slide and what part of it, for progress lines and status. Kinds whose payload crosses
   * machines check it here (contracts/queue.ts) and throw when it is not theirs: the job then
   * fails at once, without retries.
   */
  describe(data: D): { slide?: string; dir?: string; label: string };
  run(data: D, ctx: JobContext): Promise<unknown>;
}

export type JobKinds = Record<string, JobKind<unknown>>;
