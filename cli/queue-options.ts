/** Options of every command that talks to a distributed queue, and the connection they describe. */
import { BullQueue, type BullQueueOptions } from '../queue/index.js';
import { opt } from './args.js';

const QUEUE_HELP = 'Redis of the distributed queue: redis://HOST:PORT[/DB], rediss:// for TLS; password in SDS_REDIS_PASSWORD (CA file: SDS_REDIS_CA)';

/** --queue optional (sds batch: without it, slides are analysed here). */
export const QUEUE_OPTIONS = {
  queue: opt.string('URL', QUEUE_HELP).optional(),
  'queue-name': opt.string('NAME', 'queue name within that Redis database (default sds-analysis)').regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only').optional(),
};

/** --queue required (sds worker, sds status). */
export const REQUIRED_QUEUE_OPTIONS = {
  ...QUEUE_OPTIONS,
  queue: opt.required('URL', QUEUE_HELP, 'is required (redis://HOST:PORT)'),
};

/** Connects (a clear error within seconds when Redis is unreachable). */
export async function connectQueue(o: { queue: string; 'queue-name'?: string }, extra: Omit<BullQueueOptions, 'url' | 'name'> = {}): Promise<BullQueue> {
  return BullQueue.connect({ url: o.queue, name: o['queue-name'], ...extra });
}
