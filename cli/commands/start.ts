/**
 * `sds start` (npm start): the viewer first, the demo analyses behind it. The server listens at
 * once (the URL is printed before anything slow), the sample slide is made if missing (the page
 * lists it when it is written), and the demo analyses run as the server's own analysis jobs: the
 * page finds them (GET /api/jobs), shows their progress over the jobs' event streams and each
 * analysis as soon as it is finished, the quick classifier analysis first (cli/demo-plan.ts).
 * Analyses cached from an earlier start with the same plan are served at once and not run again.
 */
import { existsSync } from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { slideTaskSchema, parseContract, type JobStatus } from '../../contracts/index.js';
import { initEngine } from '../../models/index.js';
import { analysisDir } from '../../pipeline/index.js';
import { existingAnalysis } from '../../pipeline/existing-analysis.js';
import { createServer, isLoopbackHost, type SdsServer } from '../../server/index.js';
import { DEFAULT_SAMPLE_PATH, ensureSample } from '../../slides-sample/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { DEMO_MODELS, demoSteps, type DemoStep } from '../demo-plan.js';
import { handleInterrupts } from '../interrupt.js';
import { Progress, formatSeconds } from '../progress.js';

const DEMO_MODELS_DIR = fileURLToPath(new URL('../../models-demo/', import.meta.url));

async function listen(server: SdsServer, o: { port: number; host: string }): Promise<string> {
  try {
    return (await server.listen()).url;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new SdsError('BAD_ARGUMENT', `port ${o.port} is already in use`, { suggestion: 'pass another --port, or --port 0 for any free one' });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new SdsError('BAD_ARGUMENT', `cannot listen on --host ${o.host}: no such address here`, { suggestion: 'use 127.0.0.1' });
    throw err;
  }
}

/** The server's id of the slide at `path`; the catalog rescans at most once a second, so a slide just written may take a moment. */
async function slideId(server: SdsServer, path: string): Promise<string> {
  const real = await realpath(path);
  for (let t = 0; t < 50; t++) {
    const entry = (await server.context.slides.list()).find((s) => s.path === real);
    if (entry) return entry.id;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new SdsError('BAD_INPUT', `the server does not list the sample ${path}`, { suggestion: 'check that the file is a readable slide (sds info), or delete it so that sds start makes it again' });
}

/** Follows one job until it is done or failed, with a progress line; resolves with its last status. */
function follow(server: SdsServer, step: DemoStep, job: JobStatus, t0: number, quiet: AbortSignal): Promise<JobStatus> {
  const jobs = server.context.jobs;
  let progress: Progress | undefined;
  let started: number | undefined;
  return new Promise((ok) => {
    const end = (s: JobStatus) => {
      unsubscribe();
      progress?.done();
      const after = `${formatSeconds((performance.now() - t0) / 1000)} after start`;
      if (s.state === 'done') process.stderr.write(`sds: ${step.name}: ready${started === undefined ? '' : ` in ${formatSeconds((performance.now() - started) / 1000)}`} (${after}); ${quiet.aborted ? 'cached for the next start' : 'the page shows it now'}\n`);
      else if (!quiet.aborted) process.stderr.write(`sds: ${step.name}: failed (${after}): ${s.error ?? 'unknown error'}\n`);
      ok(s);
    };
    const unsubscribe = jobs.subscribe(job.id, (e) => {
      if (e.type !== 'progress') return end(e.status);
      started ??= performance.now();
      if (e.status.total > 0) {
        progress ??= new Progress(`${step.name} patches`, e.status.total);
        progress.update(e.status.done);
      }
    });
    const now = jobs.get(job.id);
    if (now?.state === 'done' || now?.state === 'failed') end(now);
  });
}

export const startCommand = defineCommand({
  name: 'start',
  summary: 'The demo (npm start): serve the viewer at once, make the sample slide if missing, and analyse it with the demo models behind it (cached).',
  usage: 'sds start [--port 3000] [--results DIR] [--size 8192] [--quick] [--no-serve]',
  schema: z.object({
    port: opt.int('N', 'viewer port (default 3000; 0: any free port)').min(0).max(65535).default(3000),
    host: opt.string('H', 'address to listen on (default 127.0.0.1)').min(1).default('127.0.0.1'),
    results: opt.string('DIR', 'where analyses are cached (default demo-output/results)').default('demo-output/results'),
    sample: opt.string('FILE', 'the sample slide (default slides-sample/sample.svs; made if missing)').default(DEFAULT_SAMPLE_PATH),
    size: opt.int('N', 'side of the sample when it has to be made (default 8192)').min(512).max(65536).default(8192),
    models: opt.string('DIR', 'demo models folder (default models-demo)').default(DEMO_MODELS_DIR),
    quick: opt.flag('a short analysis only (classifier, two layers, grad): for tests and slow machines'),
    'no-serve': opt.flag('run the analyses without serving the viewer, then stop'),
    workers: opt.int('N', 'worker threads (default: the number of cores)').min(1).max(256).optional(),
    ...BACKEND_OPTION,
  }),
  async run(o, positionals) {
    if (positionals.length) throw new SdsError('BAD_ARGUMENT', `start takes no positional arguments (got ${positionals.join(' ')})`);
    const t0 = performance.now();
    const sample = resolve(o.sample);
    const results = resolve(o.results);
    const models = DEMO_MODELS.map((m) => join(resolve(o.models), `${m}.safetensors`)).filter((w) => existsSync(w));
    if (!models.length) throw new SdsError('FILE_NOT_FOUND', `no demo models in ${o.models}`, { suggestion: 'run `npm run train:demo` to train them, or pass --models DIR' });
    await mkdir(results, { recursive: true });
    await mkdir(dirname(sample), { recursive: true });
    await initEngine({ engine: o.backend });
    // the demo's analyses are this server's jobs (worked here, one at a time, every core each)
    const server = createServer({ slides: [dirname(sample)], results, models: resolve(o.models), host: o.host, port: o.port, workers: o.workers });
    const serve = !o['no-serve'];
    const stop = handleInterrupts({ stopping: 'stopping (a running analysis keeps its journalled batches)', exitNow: 'batches journalled so far are kept; run sds start again to resume' });
    const stopped = new Promise<void>((done) => stop.signal.addEventListener('abort', () => done(), { once: true }));
    let pending = 0;
    let failed = 0;
    /** analyses still waiting or running when a signal came */
    let unfinished = 0;
    try {
      if (serve) {
        const url = await listen(server, o);
        if (!isLoopbackHost(o.host)) process.stderr.write(`sds: warning: listening on ${o.host}: anyone who can reach this address can read the slides and start analyses\n`);
        process.stdout.write(`sds viewer: ${url}\n`);
        process.stderr.write(`sds: serving after ${((performance.now() - t0) / 1000).toFixed(1)} s; the demo analyses run behind it and the page shows each one when it is ready\n`);
      }

      let rows: Progress | undefined;
      const made = await ensureSample({
        path: sample, width: o.size, height: o.size, seed: 1, mpp: 0.5,
        onProgress: (d) => {
          if (!rows) process.stderr.write(`sds: making the sample slide ${sample} (${o.size} x ${o.size}); the page lists it when it is written\n`);
          (rows ??= new Progress('rows', o.size)).update(d);
        },
      });
      rows?.done();
      process.stderr.write(`sds: sample slide ${sample}${made.created ? ' (made now)' : ''}\n`);
      const slide = await slideId(server, sample);

      const steps = await demoSteps(models, results, o.quick ?? false);
      const follows: Promise<JobStatus>[] = [];
      for (const step of steps) {
        if (stop.signal.aborted) break;
        // the cache counts only when it holds this analysis (demo models retrained, another plan: analyse again)
        const cached = await existingAnalysis(analysisDir(step.out, sample), step.spec);
        if (cached.state === 'same') {
          process.stderr.write(`sds: ${step.name}: cached analysis in ${analysisDir(step.out, sample)}\n`);
          continue;
        }
        if (cached.state === 'different') process.stderr.write(`sds: ${step.name}: the cached analysis was made otherwise (${cached.differences.join('; ')}); analysing again\n`);
        process.stderr.write(`sds: ${step.name}: ${step.spec.methods.join(' + ')} at ${step.spec.layers.join(', ')} (${step.spec.variants.join(', ')}) queued\n`);
        const task = parseContract(slideTaskSchema, { slide: sample, options: { ...step.spec, out: step.out, weightsLabel: step.weightsLabel } }, 'demo analysis');
        const job = await server.context.jobs.submit(slide, task);
        pending++;
        follows.push(
          follow(server, step, job, t0, stop.signal).then((s) => {
            pending--;
            if (s.state === 'failed') failed++;
            return s;
          }),
        );
      }
      await Promise.race([Promise.all(follows), stopped]);
      unfinished = pending;
      if (!stop.received) process.stderr.write(`sds: demo analyses ready ${formatSeconds((performance.now() - t0) / 1000)} after start${failed ? ` (${failed} failed)` : ''}\n`);
      if (serve && !stop.received) await stopped;
    } finally {
      // the handlers stay until the server is closed: a Ctrl-C reaches the launcher and this process
      // both, and the second copy must not find this process without them while the analysis stops
      try {
        await server.close();
      } finally {
        stop.dispose();
      }
    }
    if (stop.received) {
      process.stderr.write(unfinished ? `sds: stopped by ${stop.received}; finished batches are journalled: run sds start again to resume\n` : `sds: stopped by ${stop.received}\n`);
      // a stopped analysis' worker threads may take a moment; do not hang on them
      const code = unfinished ? stop.exitCode : 0;
      setTimeout(() => process.exit(code), 2000).unref();
      return code;
    }
    return failed ? 1 : 0;
  },
});
