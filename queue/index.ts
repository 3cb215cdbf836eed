export type { BatchQueue, CancelOutcome, EnqueueOutcome, EnqueueState, JobInfo, JobOutcome, SlideAnalysisOptions, SlideState, SlideStatus, SlideTask, WorkListener, WorkOptions } from './types.js';
export { LocalQueue } from './local-queue.js';
export { BullQueue, slideJobId, type BullQueueOptions, type QueueCounts } from './bull-queue.js';
export { checkRedis, parseRedisUrl, redisOptions, type ConnectOptions, type RedisTarget } from './connection.js';
export type { JobContext, JobKind, JobKinds } from './jobs.js';
export { chunkRanges, type ChunkJobData, type FinalizeJobData, type ChunkOptions } from './analysis-jobs.js';
