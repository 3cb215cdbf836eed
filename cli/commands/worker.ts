import { z } from 'zod';
import { formatError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import { BullQueue, type BullQueueOptions, type WorkListener } from '../../queue/index.js';
import { defineCommand, type OptionSpec } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { Progress } from '../progress.js';

/** Options of every command that talks to a distributed queue. */
export const QUEUE_OPTIONS = {
  queue: { type: 'string', value: 'URL', help: 'Redis of the distributed queue: redis://HOST:PORT[/DB], rediss:// for TLS; password in SDS_REDIS_PASSWORD (CA file: SDS_REDIS_CA)' },
  'queue-name': { type: 'string', value: 'NAME', help: 'queue name within that Redis database (default sds-analysis)' },
} satisfies Record<string, OptionSpec>;

export const QUEUE_SCHEMA = {
  queue: z.string().optional(),
  'queue-name': z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only').optional(),
};

const seconds = z.coerce.number().positive().max(86_400);

/** Connects (a clear error within seconds when Redis is unreachable). */
export async function connectQueue(o: { queue: string; 'queue-name'?: string }, extra: Omit<BullQueueOptions, 'url' | 'name'> = {}): Promise<BullQueue> {
  return BullQueue.connect({ url: o.queue, name: o['queue-name'], ...extra });
}

export const workerCommand = defineCommand({
  name: 'worker',
  summary: 'Take analysis jobs from a distributed queue (sds batch --queue) and run them; any number of workers on any number of machines.',
  usage: 'sds worker --queue redis://HOST:PORT[/DB] [--workers N] [--lock 30] [--stalled-check 30]',
  options: {
    ...QUEUE_OPTIONS,
    workers: { type: 'string', value: 'N', help: 'compute threads (default: the number of cores); one job at a time' },
    lock: { type: 'string', value: 'S', help: 'seconds a worker that stopped answering (killed, frozen) keeps its job before another takes it (default 30)' },
    'stalled-check': { type: 'string', value: 'S', help: 'seconds between checks for such jobs (default 30)' },
    ...BACKEND_OPTION,
  },
  schema: z.object({
    ...QUEUE_SCHEMA,
    queue: z.string({ error: 'is required (redis://HOST:PORT)' }),
    workers: z.coerce.number().int().min(1).max(256).optional(),
    lock: seconds.default(30),
    'stalled-check': seconds.default(30),
    backend: z.string().optional(),
  }),
  async run(o) {
    const q = await connectQueue(o, { lockMs: o.lock * 1000, stalledCheckMs: o['stalled-check'] * 1000 });
    const stop = new AbortController();
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signals++) {
        say(`${sig} again: exiting now; the running job returns to the queue once its lock (${o.lock} s) runs out`);
        process.exit(130);
      }
      say(`${sig}: stopping; a running chunk goes back to the queue at its next batch (finished batches are kept), a running finalize finishes. ${sig} again to exit at once.`);
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await initEngine({ engine: o.backend });
      await q.work({ workers: o.workers, signal: stop.signal, listener: workListener() });
      say('stopped');
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await q.close();
    }
  },
});

function say(line: string): void {
  process.stderr.write(`sds worker: ${line}\n`);
}

/** Per job: a start line, count / rate / ETA while it runs, and how it ended. */
function workListener(): WorkListener {
  const bars = new Map<string, Progress>();
  return {
    started: (job) => say(`${job.kind} ${job.label}  (job ${job.id})`),
    progress: (job, done, total, note) => {
      let bar = bars.get(job.id);
      if (!bar) bars.set(job.id, (bar = new Progress(job.kind === 'finalize' ? 'patches' : job.kind === 'chunk' ? 'batches' : 'steps', total)));
      bar.update(done, note);
    },
    finished: (job, r) => {
      bars.get(job.id)?.done();
      bars.delete(job.id);
      const t = `${r.seconds.toFixed(1)} s`;
      if (r.ok) say(`done ${job.kind} ${job.label} in ${t}${r.message ? `: ${r.message}` : ''}`);
      else if (r.released) say(`handed ${job.kind} ${job.label} back to the queue after ${t}`);
      else {
        say(`failed ${job.kind} ${job.label} after ${t}: ${r.message ?? ''}${r.retry ? '; it will be retried' : '; no attempts left'}`);
        if (r.error && !r.retry) process.stderr.write(`${formatError(r.error)}\n`);
      }
    },
    log: say,
  };
}
