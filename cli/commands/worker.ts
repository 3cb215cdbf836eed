import { z } from 'zod';
import { formatError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import type { BullQueueOptions, WorkListener } from '../../queue/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { REQUIRED_QUEUE_OPTIONS, connectQueue } from '../queue-options.js';
import { handleInterrupts } from '../interrupt.js';
import { Progress } from '../progress.js';

/** Seconds, as --lock and --stalled-check take them. */
const seconds = (help: string) => opt.number('S', help).positive().max(86_400);

const workerFlags = z.object({
  ...REQUIRED_QUEUE_OPTIONS,
  workers: opt.int('N', 'compute threads (default: the number of cores); one job at a time').min(1).max(256).optional(),
  lock: seconds('seconds a worker that stopped answering (killed, frozen) keeps its job before another takes it (default 30)').default(30),
  'stalled-check': seconds('seconds between checks for such jobs (default 30)').default(30),
  ...BACKEND_OPTION,
});

/** Flags of `sds worker`. */
export type WorkerFlags = z.output<typeof workerFlags>;

export const workerCommand = defineCommand({
  name: 'worker',
  summary: 'Take analysis jobs from a distributed queue (sds batch --queue) and run them; any number of workers on any number of machines.',
  usage: 'sds worker --queue redis://HOST:PORT[/DB] [--workers N] [--lock 30] [--stalled-check 30]',
  schema: workerFlags,
  run: (o) => runQueueWorker(o),
});

/**
 * Works the queue until SIGINT/SIGTERM. `extra` is for callers that embed a worker with other
 * chunk behaviour (the queue's crash test holds one mid-chunk); `sds worker` passes none.
 */
export async function runQueueWorker(o: WorkerFlags, extra: Pick<BullQueueOptions, 'chunk'> = {}): Promise<number> {
  const q = await connectQueue(o, { lockMs: o.lock * 1000, stalledCheckMs: o['stalled-check'] * 1000, ...extra });
  // one Ctrl-C is one interruption, though it reaches the launcher and this process both
  const stop = handleInterrupts({
    stopping: 'stopping; a running chunk goes back to the queue at its next batch (finished batches are kept), a running finalize finishes',
    exitNow: `the running job returns to the queue once its lock (${o.lock} s) runs out`,
  });
  try {
    await initEngine({ engine: o.backend });
    await q.work({ workers: o.workers, signal: stop.signal, listener: workListener() });
    say('stopped');
    return 0;
  } finally {
    stop.dispose();
    await q.close();
  }
}

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
