export { WorkerPool, type PoolOptions } from './pool.js';
export type { ModelSpec, LayerPayload } from './protocol.js';
