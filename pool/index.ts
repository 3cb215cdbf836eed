export { WorkerPool, type PoolOptions } from './pool.js';
export type { LayerPayload } from './protocol.js';
