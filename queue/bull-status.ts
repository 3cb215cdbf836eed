/** A slide's progress as `sds status` shows it, read from its BullMQ flow: the finalize job and its chunks. */
import type { Job, JobState } from 'bullmq';
import { analysisDir } from '../pipeline/index.js';
import type { ChunkJobData, FinalizeJobData } from '../contracts/index.js';
import type { SlideState, SlideStatus } from './types.js';

function progressOf(job: Job): number {
  const p = job.progress as { done?: unknown } | number;
  return typeof p === 'object' && p && typeof p.done === 'number' ? p.done : 0;
}

export function slideStatus(job: Job, state: JobState, chunks: { job: Job; state: JobState }[]): SlideStatus {
  const d = job.data as FinalizeJobData;
  const size = (c: Job) => (c.data as ChunkJobData).batches[1] - (c.data as ChunkJobData).batches[0];
  const doneChunks = chunks.filter((c) => c.state === 'completed');
  const running = chunks.filter((c) => c.state === 'active');
  const batchesDone = state === 'completed' ? d.batches : doneChunks.reduce((s, c) => s + size(c.job), 0) + running.reduce((s, c) => s + Math.min(size(c.job), progressOf(c.job)), 0);
  let slideState: SlideState;
  if (state === 'completed') slideState = 'done';
  else if (state === 'failed') slideState = 'failed';
  else if (state === 'waiting-children') slideState = running.length || doneChunks.length ? 'running' : 'queued';
  else slideState = 'finalizing';
  // the reason of a failed slide is its failing chunk's, when a chunk failed it
  const failedChunk = chunks.find((c) => c.state === 'failed');
  const retries = [job, ...chunks.map((c) => c.job)].reduce((s, j) => s + Math.max(0, (j.attemptsStarted ?? 0) - 1), 0);
  let note: string | undefined;
  if (slideState === 'failed') note = failedChunk ? `${failedChunk.job.failedReason} (batches ${(failedChunk.job.data as ChunkJobData).batches[0]}-${(failedChunk.job.data as ChunkJobData).batches[1] - 1})` : job.failedReason;
  else {
    const retrying = chunks.find((c) => c.state !== 'completed' && c.job.failedReason);
    if (retrying) note = `retrying: ${retrying.job.failedReason}`;
  }
  const rv = job.returnvalue as { seconds?: number } | undefined;
  return {
    slide: d.name,
    dir: analysisDir(d.options.out, d.slide),
    state: slideState,
    chunks: { done: state === 'completed' ? d.chunks : doneChunks.length, total: d.chunks },
    batches: { done: batchesDone, total: d.batches },
    patches: d.patches,
    seconds: state === 'completed' && job.finishedOn && job.timestamp ? (job.finishedOn - job.timestamp) / 1000 : rv?.seconds,
    retries,
    note,
  };
}
