import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir, type AnalyzeResult } from '../../pipeline/index.js';
import { ANALYSIS_OPTIONS, slideAnalysisFromFlags } from '../analysis-options.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { Progress } from '../progress.js';
import { printTable } from '../table.js';

export const analyzeCommand = defineCommand({
  name: 'analyze',
  summary: 'Per-layer saliency over a whole slide: tissue patches through the model, stitched overlays (OME-Zarr + Deep Zoom) and a manifest.',
  usage: 'sds analyze <slide> --out DIR --weights W [--arch A] [--surrogate P] [--layers 1_1,2_1] [--methods grad] [--variants original,backward-hook] [--patch 256 | --mpp 0.5] [--overlap 0]',
  schema: z.object({
    weights: ANALYSIS_OPTIONS.weights,
    arch: ANALYSIS_OPTIONS.arch,
    out: opt.required('DIR', 'results folder; the slide gets DIR/<slide name>/ with manifest.json'),
    ...(({ weights: _w, arch: _a, ...rest }) => rest)(ANALYSIS_OPTIONS),
    'stats-json': opt.string('FILE', 'write run statistics (patches, seconds, patches/s, peak RSS) as JSON').optional(),
    workers: opt.int('N', 'worker threads (default: the number of cores)').min(1).max(256).optional(),
    ...BACKEND_OPTION,
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

/** One slide with a progress line (count, rate, ETA; replayed batches shown apart). */
export async function analyzeWithProgress(o: AnalyzeCliOptions, slide: string, prefix = ''): Promise<AnalyzeResult> {
  let progress: Progress | undefined;
  const r = await analyzeSlideToDir({
    ...slideAnalysisFromFlags(o),
    slide,
    workers: o.workers,
    onPlan: (plan) => (progress = new Progress(`${prefix}patches`, plan.patches.length)),
    onProgress: (p) => progress?.update(p.done, p.reused ? `(${p.reused} from journal)` : ''),
  });
  progress?.done();
  return r;
}
