import { z } from 'zod';
import type { SlideStatus } from '../../queue/index.js';
import { defineCommand, opt } from '../args.js';
import { formatSeconds } from '../progress.js';
import { printTable } from '../table.js';
import { REQUIRED_QUEUE_OPTIONS, connectQueue } from '../queue-options.js';

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'Slides of a distributed queue: queued, running, done, failed (with reasons), chunks and batches done.',
  usage: 'sds status --queue redis://HOST:PORT[/DB] [--json]',
  schema: z.object({
    ...REQUIRED_QUEUE_OPTIONS,
    json: opt.flag('print JSON: { queue, counts, slides }'),
  }),
  async run(o) {
    const q = await connectQueue(o);
    try {
      const [slides, counts] = [await q.status(), await q.counts()];
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ queue: q.where, name: q.name, counts, slides }, null, 1)}\n`);
        return 0;
      }
      if (slides.length) printTable(['slide', 'state', 'chunks', 'batches', 'progress', 'retries', 'elapsed', 'note'], slides.map(row));
      const by = (s: SlideStatus['state']) => slides.filter((x) => x.state === s).length;
      process.stdout.write(
        `${slides.length} slides: ${by('done')} done, ${by('running')} running, ${by('finalizing')} finalizing, ${by('queued')} queued, ${by('failed')} failed\n` +
          `jobs on ${q.where} (${q.name}): ${counts.waiting} waiting, ${counts.active} active, ${counts.delayed} waiting to retry, ${counts.failed} failed, ${counts.completed} completed${counts.busy.length ? `; busy: ${counts.busy.join(', ')}` : ''}\n`,
      );
      return 0;
    } finally {
      await q.close();
    }
  },
});

function row(s: SlideStatus): string[] {
  const pct = s.batches.total ? `${((100 * s.batches.done) / s.batches.total).toFixed(0)}%` : '-';
  return [s.slide, s.state, `${s.chunks.done}/${s.chunks.total}`, `${s.batches.done}/${s.batches.total}`, pct, String(s.retries), s.seconds === undefined ? '-' : formatSeconds(s.seconds), s.note ?? ''];
}
