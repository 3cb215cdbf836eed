import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import type { MapMethod, Variant } from '../../contracts/index.js';
import { describeModel, initEngine } from '../../models/index.js';
import { analysisDir, analyzeSlideToDir } from '../../pipeline/index.js';
import { existingAnalysis } from '../../pipeline/existing-analysis.js';
import { DEFAULT_SAMPLE_PATH, ensureSample } from '../../slides-sample/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { Progress, formatSeconds } from '../progress.js';
import { serveCommand } from './serve.js';
import { stoppedMessage } from './analyze.js';
import { handleInterrupts } from '../interrupt.js';

const DEMO_MODELS_DIR = fileURLToPath(new URL('../../models-demo/', import.meta.url));
const DEMO_MODELS = ['tumour-resnet18', 'tissue-unet34'] as const;

/** What the demo explains with each model: every block of the classifier, the last block of each U-Net stage. */
async function demoPlan(weights: string, quick: boolean): Promise<{ layers: string[]; methods: MapMethod[]; variants: Variant[]; surrogate?: string }> {
  const surrogate = weights.replace(/\.safetensors$/, '.surrogate.safetensors');
  const hasSurrogate = existsSync(surrogate);
  const model = await describeModel({ kind: 'file', weights });
  const blocks = model.layers.filter((l) => /^\d+_\d+$/.test(l));
  let layers = blocks;
  if (model.kind === 'segmentation') {
    const last = new Map<string, string>();
    for (const l of blocks) last.set(l.split('_')[0]!, l);
    layers = [...last.values()];
  }
  if (quick) return { layers: layers.slice(0, 2), methods: ['grad'], variants: ['original', 'backward-hook'] };
  return { layers, methods: ['grad', 'deeplift'], variants: ['original', 'backward-hook', ...(hasSurrogate ? (['surrogate'] as const) : [])], surrogate: hasSurrogate ? surrogate : undefined };
}

export const startCommand = defineCommand({
  name: 'start',
  summary: 'The demo (npm start): make the sample slide, analyse it with the demo models (cached), then serve the viewer.',
  usage: 'sds start [--port 3000] [--results DIR] [--size 8192] [--quick] [--no-serve]',
  schema: z.object({
    port: opt.int('N', 'viewer port (default 3000; 0: any free port)').min(0).max(65535).default(3000),
    host: opt.string('H', 'address to listen on (default 127.0.0.1)').min(1).default('127.0.0.1'),
    results: opt.string('DIR', 'where analyses are cached (default demo-output/results)').default('demo-output/results'),
    sample: opt.string('FILE', 'the sample slide (default slides-sample/sample.svs; made if missing)').default(DEFAULT_SAMPLE_PATH),
    size: opt.int('N', 'side of the sample when it has to be made (default 8192)').min(512).max(65536).default(8192),
    models: opt.string('DIR', 'demo models folder (default models-demo)').default(DEMO_MODELS_DIR),
    quick: opt.flag('a short analysis (classifier only, two layers, grad): for tests and slow machines'),
    'no-serve': opt.flag('stop after the analyses'),
    workers: opt.int('N', 'worker threads (default: the number of cores)').min(1).max(256).optional(),
    ...BACKEND_OPTION,
  }),
  async run(o, positionals) {
    if (positionals.length) throw new SdsError('BAD_ARGUMENT', `start takes no positional arguments (got ${positionals.join(' ')})`);
    const t0 = performance.now();
    const sample = resolve(o.sample);
    const rows = new Progress('rows', o.size);
    const made = await ensureSample({ path: sample, width: o.size, height: o.size, seed: 1, mpp: 0.5, onProgress: (d) => rows.update(d) });
    if (made.created) rows.done();
    process.stderr.write(`sds: sample slide ${sample}${made.created ? ' (made now)' : ''}\n`);
    const results = resolve(o.results);
    // from here until the viewer serves (serve has its own handlers): a signal stops the analysis at its next batch
    const stop = handleInterrupts({ stopping: 'stopping after the running batches (finished ones are kept)', exitNow: 'batches journalled so far are kept; run sds start again to resume' });
    let current: { out: string } | undefined;
    try {
      await initEngine({ engine: o.backend });
      const models = DEMO_MODELS.map((m) => join(resolve(o.models), `${m}.safetensors`)).filter((w) => existsSync(w));
      if (!models.length) throw new SdsError('FILE_NOT_FOUND', `no demo models in ${o.models}`, { suggestion: 'run `npm run train:demo` to train them, or pass --models DIR' });
      for (const weights of o.quick ? models.slice(0, 1) : models) {
        if (stop.signal.aborted) break;
        const name = basename(weights, '.safetensors');
        const out = join(results, o.quick ? `${name}-quick` : name);
        const plan = await demoPlan(weights, o.quick ?? false);
        const spec = { model: { kind: 'file' as const, weights }, ...plan };
        // the cache counts only when it holds this analysis (demo models retrained, another plan: analyse again)
        const cached = await existingAnalysis(analysisDir(out, sample), spec);
        if (cached.state === 'same') {
          process.stderr.write(`sds: ${name}: cached analysis in ${analysisDir(out, sample)}\n`);
          continue;
        }
        if (cached.state === 'different') process.stderr.write(`sds: ${name}: the cached analysis was made otherwise (${cached.differences.join('; ')}); analysing again\n`);
        process.stderr.write(`sds: ${name}: ${plan.methods.join(' + ')} at ${plan.layers.join(', ')} (${plan.variants.join(', ')})\n`);
        await mkdir(out, { recursive: true });
        current = { out };
        let progress: Progress | undefined;
        const r = await analyzeSlideToDir({
          slide: sample,
          out,
          weightsLabel: `models-demo/${name}.safetensors`,
          // patch, level, overlap, batch: the analysis defaults
          ...spec,
          // the demo's cache is start's own: an outdated one is replaced
          replace: true,
          workers: o.workers,
          signal: stop.signal,
          onPlan: (plan) => (progress = new Progress(`${name} patches`, plan.patches.length)),
          onProgress: (p) => progress?.update(p.done, p.reused ? `(${p.reused} from an interrupted run)` : ''),
        }).finally(() => progress?.done());
        current = undefined;
        process.stderr.write(`sds: ${name}: ${r.manifest.patches.count} patches, ${r.manifest.overlays.length + (r.manifest.outputs?.length ?? 0)} overlays in ${formatSeconds(r.stats.seconds)}\n`);
      }
    } catch (err) {
      if (!stop.received) throw err;
    } finally {
      stop.dispose();
    }
    if (stop.received) {
      process.stderr.write(`${current ? stoppedMessage(stop, current.out, sample, 'run sds start again to resume from them') : `sds: stopped by ${stop.received}; run sds start again to go on`}\n`);
      return stop.exitCode;
    }
    process.stderr.write(`sds: ready in ${formatSeconds((performance.now() - t0) / 1000)}\n`);
    if (o['no-serve']) return 0;
    return serveCommand.run({ slides: [dirname(sample)], results, models: resolve(o.models), port: o.port, host: o.host, workers: o.workers, backend: o.backend }, []);
  },
});
