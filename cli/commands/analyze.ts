import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import { analysisDir, analyzeSlideToDir, type AnalyzeResult } from '../../pipeline/index.js';
import { journalledBatches } from '../../pipeline/results-dir.js';
import { ANALYSIS_OPTIONS, slideAnalysisFromFlags } from '../analysis-options.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { handleInterrupts, type Interruption } from '../interrupt.js';
import { Progress } from '../progress.js';
import { printTable } from '../table.js';

export const analyzeCommand = defineCommand({
  name: 'analyze',
  summary: 'Per-layer saliency over a whole slide: tissue patches through the model, stitched overlays (OME-Zarr + Deep Zoom) and a manifest.',
  usage: 'sds analyze <slide> --out DIR --weights W [--arch A] [--surrogate P] [--layers 1_1,2_1] [--methods grad] [--variants original,backward-hook] [--patch 256 | --mpp 0.5] [--overlap 64]',
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
    const stop = handleInterrupts({ stopping: 'stopping after the running batches (finished batches are kept)', exitNow: 'batches journalled so far are kept; run the same command again to resume' });
    let r: AnalyzeResult;
    try {
      await initEngine({ engine: o.backend });
      r = await analyzeWithProgress(o, slide, '', stop.signal);
    } catch (err) {
      if (!stop.received) throw err;
      process.stderr.write(`${stoppedMessage(stop, o.out, slide)}\n`);
      return stop.exitCode;
    } finally {
      stop.dispose();
    }
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
    // a signal that came as the last batch finished: the analysis is complete, still say it was stopped
    if (stop.received) {
      process.stderr.write(`sds: ${stop.received} came after the analysis had finished; its results are complete\n`);
      return stop.exitCode;
    }
    return 0;
  },
});

export type AnalyzeCliOptions = Parameters<typeof analyzeCommand.run>[0];

/** One slide with a progress line (count, rate, ETA; replayed batches shown apart). */
export async function analyzeWithProgress(o: AnalyzeCliOptions, slide: string, prefix = '', signal?: AbortSignal): Promise<AnalyzeResult> {
  let progress: Progress | undefined;
  try {
    return await analyzeSlideToDir({
      ...(await slideAnalysisFromFlags(o)),
      slide,
      workers: o.workers,
      signal,
      onPlan: (plan) => {
        batches.set(slide, plan.batches.length);
        progress = new Progress(`${prefix}patches`, plan.patches.length);
      },
      onProgress: (p) => progress?.update(p.done, p.reused ? `(${p.reused} from journal)` : ''),
    });
  } finally {
    progress?.done();
  }
}

/** Batches per slide planned in this process (for the stop message). */
const batches = new Map<string, number>();

/** What an interrupted analysis of `slide` keeps, and how to go on. */
export function stoppedMessage(stop: Interruption, out: string, slide: string, resume = 'run the same command again to resume from them'): string {
  const dir = analysisDir(out, slide);
  const saved = journalledBatches(dir);
  const total = batches.get(slide);
  const what = saved ? `${saved}${total ? ` of ${total}` : ''} patch batches of ${slide} are saved in ${join(dir, '.journal')}; ${resume}` : `no batch of ${slide} had finished yet; run the same command again to start it`;
  return `sds: stopped by ${stop.received}: ${what}`;
}
