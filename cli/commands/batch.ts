import { basename } from 'node:path';
import { SdsError, formatError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import { listSlides, SLIDE_EXTENSIONS } from '../../slide/index.js';
import { LocalQueue, type BatchQueue, type SlideStatus, type SlideTask, type WorkListener } from '../../queue/index.js';
import { slideAnalysisFromFlags } from '../analysis-options.js';
import { analyzeCommand, stoppedMessage } from './analyze.js';
import { handleInterrupts, type Interruption } from '../interrupt.js';
import { defineCommand, opt } from '../args.js';
import { Progress, formatSeconds } from '../progress.js';
import { printTable } from '../table.js';
import { QUEUE_OPTIONS, connectQueue } from '../queue-options.js';

export const batchCommand = defineCommand({
  name: 'batch',
  summary: 'Analyze every slide of a folder (or, with --queue, enqueue them for sds worker); finished slides are skipped, so a rerun resumes; failures are reported, not fatal.',
  usage: 'sds batch <folder> --out DIR --weights W [the options of sds analyze] [--queue redis://HOST:PORT [--chunk 16] [--attempts 3] [--retry-delay 10]]',
  schema: analyzeCommand.schema.extend({
    ...QUEUE_OPTIONS,
    chunk: opt.int('N', 'with --queue: patch batches per queue job; a big slide is spread over many workers (default 16)').min(1).max(100_000).default(16),
    attempts: opt.int('N', 'with --queue: tries per job before its slide counts as failed (default 3)').min(1).max(100).default(3),
    'retry-delay': opt.number('S', 'with --queue: seconds before the first retry, doubled for each further one (default 10)').min(0).max(86_400).default(10),
  }),
  async run(o, positionals) {
    const folder = positionals[0];
    if (!folder || positionals.length > 1) throw new SdsError('BAD_ARGUMENT', 'give exactly one folder of slides', { suggestion: 'sds batch <folder> --out DIR --weights W' });
    let slides: string[];
    try {
      slides = await listSlides(folder);
    } catch (cause) {
      throw new SdsError('FILE_NOT_FOUND', `cannot read folder ${folder}`, { cause });
    }
    if (!slides.length) throw new SdsError('BAD_INPUT', `no slides (${SLIDE_EXTENSIONS.join(', ')}, or DICOM WSI series folders) in ${folder}`);
    const tasksFor = async (): Promise<SlideTask[]> => {
      const options = await slideAnalysisFromFlags(o);
      return slides.map((slide) => ({ slide, options }));
    };
    if (o.queue) {
      // connect before loading the engine: an unreachable Redis is reported at once
      const q = await connectQueue({ ...o, queue: o.queue }, { chunkBatches: o.chunk, attempts: o.attempts, retryDelayMs: o['retry-delay'] * 1000 });
      const stop = handleInterrupts({ stopping: 'stopping after the slide being planned (slides enqueued so far stay queued)', exitNow: 'slides enqueued so far stay queued; run the same command again to enqueue the rest' });
      try {
        await initEngine({ engine: o.backend });
        return await enqueueAll(q, await tasksFor(), `sds worker --queue ${o.queue}${o['queue-name'] ? ` --queue-name ${o['queue-name']}` : ''}`, stop);
      } finally {
        stop.dispose();
        await q.close();
      }
    }
    const stop = handleInterrupts({ stopping: 'stopping after the running batches (finished slides and batches are kept)', exitNow: 'finished slides and journalled batches are kept; run the same command again to resume' });
    try {
      await initEngine({ engine: o.backend });
      return await runLocally(new LocalQueue(), await tasksFor(), o.workers, stop);
    } finally {
      stop.dispose();
    }
  },
});

/** Slide after slide in this process, each with a progress line; a summary table at the end. */
async function runLocally(q: BatchQueue, tasks: SlideTask[], workers: number | undefined, stop: Interruption): Promise<number> {
  const t0 = performance.now();
  let worked = 0, workSeconds = 0;
  let bar: Progress | undefined;
  const listener: WorkListener = {
    started: (job) => {
      // overall ETA from the slides analysed so far in this run (skipped ones cost nothing)
      const todo = (job.of ?? 0) - (job.index ?? 1) + 1;
      const eta = worked ? formatSeconds((workSeconds / worked) * todo) : '--';
      process.stderr.write(`sds: slide ${job.index}/${job.of} ${job.slide}  elapsed ${formatSeconds((performance.now() - t0) / 1000)}  ETA ${eta}\n`);
      bar = undefined;
    },
    progress: (job, done, total, note) => (bar ??= new Progress(`[${job.index}/${job.of}] patches`, total)).update(done, note),
    finished: (job, r) => {
      bar?.done();
      if (r.released && job.slide) stopped.push(tasks[(job.index ?? 1) - 1]?.slide ?? job.slide);
      else if (!r.ok) process.stderr.write(`${formatError(r.error)}\n`);
      worked++;
      workSeconds += r.seconds;
    },
  };
  const stopped: string[] = [];
  // slides that cannot be enqueued (another analysis in their folder) are reported now and in the table
  for (const r of await q.enqueue(tasks)) if (r.state === 'failed') process.stderr.write(`error: ${r.slide}: ${r.note ?? 'not enqueued'}\n`);
  await q.work({ workers, listener, signal: stop.signal });
  const slides = await q.status();
  process.stdout.write('\n');
  printTable(['slide', 'status', 'patches', 'time'], slides.map(localRow));
  const failures = slides.filter((s) => s.state === 'failed').length;
  const patches = slides.reduce((s, x) => s + (x.note === 'done earlier' ? 0 : (x.patches ?? 0)), 0);
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(`${slides.length} slides, ${failures} failed, ${patches} patches, ${formatSeconds(secs)} in all${patches ? ` (${(patches / secs).toFixed(2)} patches/s)` : ''}\n`);
  if (stop.received) {
    const done = slides.filter((s) => s.state === 'done').length;
    const current = stopped[0] && tasks.find((t) => t.slide === stopped[0]);
    const detail = current ? `${stoppedMessage(stop, current.options.out, current.slide, 'a rerun reuses them')}; ` : `sds: stopped by ${stop.received}: `;
    process.stderr.write(`${detail}${done} of ${slides.length} slides are done; run the same command again to resume (finished slides are skipped)\n`);
    return stop.exitCode;
  }
  return failures ? 1 : 0;
}

function localRow(s: SlideStatus): string[] {
  if (s.note === 'done earlier') return [s.slide, 'done earlier', '-', '-'];
  if (s.state === 'queued') return [s.slide, s.note ?? 'not started', '-', s.seconds === undefined ? '-' : formatSeconds(s.seconds)];
  const time = s.seconds === undefined ? '-' : formatSeconds(s.seconds);
  if (s.state === 'failed') return [s.slide, `failed: ${s.note ?? ''}`, '-', time];
  return [s.slide, `done${s.note ? ` (${s.note})` : ''}`, String(s.patches ?? '-'), time];
}

/** Plans each slide and enqueues its chunk jobs; prints what was enqueued. */
async function enqueueAll(q: BatchQueue, tasks: SlideTask[], workerHint: string, stop: Interruption): Promise<number> {
  const rows: string[][] = [];
  let failed = 0, enqueued = 0, jobs = 0;
  for (const [i, t] of tasks.entries()) {
    if (stop.signal.aborted) {
      rows.push(...tasks.slice(i).map((r) => [basename(r.slide), 'not enqueued (stopped)', '-', '-', '-', '']));
      break;
    }
    process.stderr.write(`sds: planning slide ${i + 1}/${tasks.length} ${t.slide}\n`);
    const [r] = await q.enqueue([t]);
    if (!r) continue;
    if (r.state === 'failed') failed++;
    if (r.state === 'enqueued') {
      enqueued++;
      jobs += (r.chunks ?? 0) + 1;
    }
    const state = { enqueued: 'enqueued', 'already-queued': 'already queued', 'done-earlier': 'done earlier', failed: 'failed' }[r.state];
    rows.push([r.slide, state, r.chunks === undefined ? '-' : String(r.chunks), r.batches === undefined ? '-' : String(r.batches), r.patches === undefined ? '-' : String(r.patches), r.note ?? '']);
  }
  process.stdout.write('\n');
  printTable(['slide', 'status', 'chunks', 'batches', 'patches', 'note'], rows);
  process.stdout.write(`${tasks.length} slides: ${enqueued} enqueued (${jobs} jobs), ${tasks.length - enqueued - failed} skipped, ${failed} failed\n`);
  if (enqueued) process.stdout.write(`run on each machine: ${workerHint}   (progress: sds status --queue ...)\n`);
  if (stop.received) {
    process.stderr.write(`sds: stopped by ${stop.received}: ${enqueued} slides enqueued (they stay queued); run the same command again to enqueue the rest (queued and finished slides are skipped)\n`);
    return stop.exitCode;
  }
  return failed ? 1 : 0;
}
