import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { ARCHS, initEngine, isArch } from '../../models/index.js';
import { analyzeSlideToDir, type AnalyzeOptions, type AnalyzeResult } from '../../pipeline/index.js';
import type { ModelSpec } from '../../pool/index.js';
import { defineCommand } from '../args.js';
import { BACKEND_OPTION, MODEL_OPTIONS, MODEL_SCHEMA } from '../common-options.js';
import { parseMethods, parseVariants, splitList } from '../list.js';
import { Progress } from '../progress.js';
import { printTable } from './predict.js';

export const analyzeCommand = defineCommand({
  name: 'analyze',
  summary: 'Per-layer saliency over a whole slide: tissue patches through the model, stitched overlays (OME-Zarr + Deep Zoom) and a manifest.',
  usage: 'sds analyze <slide> --out DIR --weights W [--arch A] [--surrogate P] [--layers 1_1,2_1] [--methods grad] [--variants original,backward-hook] [--patch 256 | --mpp 0.5] [--overlap 0]',
  options: {
    ...MODEL_OPTIONS,
    out: { type: 'string', value: 'DIR', help: 'results folder; the slide gets DIR/<slide name>/ with manifest.json' },
    surrogate: { type: 'string', value: 'FILE', help: 'surrogate paths, for --variants surrogate' },
    layers: { type: 'string', value: 'L,...', help: 'layers (default 1_1,2_1)' },
    methods: { type: 'string', value: 'M,...', help: 'grad, deeplift, ig (default grad)' },
    variants: { type: 'string', value: 'V,...', help: 'default original,backward-hook' },
    target: { type: 'string', value: 'T', help: 'class explained in every patch (default: each patch its own prediction)' },
    patch: { type: 'string', value: 'N', help: 'patch side in level pixels (default 256)' },
    level: { type: 'string', value: 'L', help: 'slide level patches are read at (default 0)' },
    mpp: { type: 'string', value: 'UM', help: 'analyse at this many microns per pixel instead of a level (read at the nearest finer level, resized)' },
    'no-outputs': { type: 'boolean', help: 'skip the overlays of the model\'s own class probabilities' },
    overlap: { type: 'string', value: 'N', help: 'pixels shared by neighbouring patches, blended (default 0)' },
    batch: { type: 'string', value: 'N', help: 'patches per worker task (default 8)' },
    'stats-json': { type: 'string', value: 'FILE', help: 'write run statistics (patches, seconds, patches/s, peak RSS) as JSON' },
    workers: { type: 'string', value: 'N', help: 'worker threads (default: the number of cores)' },
    ...BACKEND_OPTION,
  },
  schema: z.object({
    ...MODEL_SCHEMA,
    out: z.string({ error: 'is required' }),
    surrogate: z.string().optional(),
    layers: z.string().default('1_1,2_1'),
    methods: z.string().default('grad'),
    variants: z.string().default('original,backward-hook'),
    target: z.coerce.number().int().min(0).optional(),
    patch: z.coerce.number().int().min(32).max(4096).default(256),
    level: z.coerce.number().int().min(0).default(0),
    mpp: z.coerce.number().positive().max(100).optional(),
    'no-outputs': z.boolean().optional(),
    overlap: z.coerce.number().int().min(0).default(0),
    batch: z.coerce.number().int().min(1).max(256).default(8),
    'stats-json': z.string().optional(),
    workers: z.coerce.number().int().min(1).max(256).optional(),
  }),
  async run(o, positionals) {
    const slide = positionals[0];
    if (!slide || positionals.length > 1) throw new SdsError('BAD_ARGUMENT', 'give exactly one slide', { suggestion: 'sds analyze <slide> --out DIR --weights W' });
    await initEngine({ engine: o.backend });
    const r = await analyzeWithProgress(o, slide);
    printTable(
      ['overlay', 'size', 'range', 'deep zoom'],
      [...r.manifest.overlays, ...(r.manifest.outputs ?? [])].map((v) => [`${v.variant} ${v.method} ${v.layer}`, `${v.width}x${v.height}`, v.method === 'output' ? '0..1' : `±${v.range[1].toPrecision(3)}`, v.dzi]),
    );
    const resumed = r.stats.reused ? ` (${r.stats.reused} of ${r.stats.reused + r.stats.computed} batches resumed from the journal)` : '';
    process.stderr.write(`sds: ${r.manifest.patches.count} tissue patches in ${r.stats.seconds.toFixed(1)} s${resumed} -> ${join(r.dir, 'manifest.json')}\n`);
    if (o['stats-json']) {
      const stats = { patches: r.manifest.patches.count, seconds: r.stats.seconds, patchesPerSecond: r.manifest.patches.count / r.stats.seconds, maxRssMb: process.resourceUsage().maxRSS / 1024, batchesComputed: r.stats.computed, batchesReused: r.stats.reused, peakChunks: r.stats.peakChunks };
      await writeFile(o['stats-json'], `${JSON.stringify(stats, null, 1)}\n`);
    }
    return 0;
  },
});

export type AnalyzeCliOptions = Parameters<typeof analyzeCommand.run>[0];

/** The analysis settings the command line gives (the same for every slide of a batch), as plain JSON. */
export function analysisOptions(o: AnalyzeCliOptions): Omit<AnalyzeOptions, 'slide'> {
  return {
    out: o.out,
    model: modelSpec(o.weights, o.arch),
    surrogate: o.surrogate,
    layers: splitList(o.layers),
    methods: parseMethods(o.methods),
    variants: parseVariants(o.variants),
    patch: o.patch,
    level: o.level,
    mpp: o.mpp,
    overlap: o.overlap,
    batch: o.batch,
    target: o.target,
    outputs: !o['no-outputs'],
  };
}

/** One slide with a progress line (count, rate, ETA; replayed batches shown apart). */
export async function analyzeWithProgress(o: AnalyzeCliOptions, slide: string, prefix = ''): Promise<AnalyzeResult> {
  let progress: Progress | undefined;
  const r = await analyzeSlideToDir({
    ...analysisOptions(o),
    slide,
    workers: o.workers,
    onPlan: (plan) => (progress = new Progress(`${prefix}patches`, plan.patches.length)),
    onProgress: (p) => progress?.update(p.done, p.reused ? `(${p.reused} from journal)` : ''),
  });
  progress?.done();
  return r;
}

/** `--weights random:<arch>` is a seeded random model (2 classes), for trying the pipeline without weights. */
export function modelSpec(weights: string, arch?: string): ModelSpec {
  const m = /^random:([a-z0-9-]+)$/.exec(weights);
  if (!m) return { kind: 'file', weights, arch };
  if (!isArch(m[1]!)) throw new SdsError('BAD_ARGUMENT', `unknown architecture in --weights ${weights}`, { suggestion: `use random:<arch> with one of: ${ARCHS.join(', ')}` });
  return { kind: 'random', arch: m[1]!, classes: 2, seed: 0 };
}
