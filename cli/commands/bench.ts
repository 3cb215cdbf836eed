import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { POOL_WORKLOADS, soak, timeOnPool } from '../../bench/workloads.js';
import { benchWholeSlide } from '../../bench/whole-slide.js';
import { benchDemoWorkload, DEMO_WORKLOAD } from '../../bench/demo-workload.js';
import { prepareOnnxWorkload } from '../../bench/onnx-workload.js';
import { benchTileLatency, tileLatencyMarkdown } from '../../bench/tile-latency.js';
import { benchRegions, regionBenchSlides } from '../../bench/regions.js';
import { initEngine } from '../../models/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { splitList } from '../list.js';
import { Progress } from '../progress.js';
import { printTable } from '../table.js';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'Measure speed on this machine: ms per patch for the saliency workloads, beside PyTorch.',
  usage: 'sds bench [--only W,...] [--reps N] [--json FILE] [--torch FILE] [--soak N] [--whole-slide [--side 20000] [--baseline REV]] [--tiles] [--regions [--regions-from DIR,...]]',
  schema: z.object({
    only: opt.string('W,...', `workloads (default all): ${POOL_WORKLOADS.map((w) => w.name).join(', ')}`).optional(),
    reps: opt.int('N', 'timed batches per worker (default 2)').min(1).max(100).default(2),
    workers: opt.int('N', 'worker threads, one WASM engine each (default: the number of cores)').min(1).max(256).optional(),
    json: opt.string('FILE', 'also write {workload: ms per patch} as JSON').optional(),
    torch: opt.string('FILE', 'JSON printed by ../shared/bench/torch_reference.py: adds the PyTorch figure and the ratio').optional(),
    soak: opt.int('N', 'also run grad_all for N patches and report RSS and live tensors after 100 and after N (e.g. 1000)').min(100).optional(),
    tiles: opt.flag('also measure tile latency of sds serve: p50/p95 and tiles/s for slide and overlay tiles, cold and warm, at 32, 256 and 1000 in flight (a markdown table; minutes)'),
    'whole-slide': opt.flag('whole-slide throughput (minutes): the npm start classifier workload on the sample slide (every block, grad and DeepLift, three variants), and generated --side x --side and --side x 2*side slides (patches/s, peak RSS); without --only, only this runs'),
    side: opt.int('N', 'with --whole-slide: side of the generated slides (default 20000)').min(1024).max(200_000).default(20000),
    baseline: opt.string('REV', 'with --whole-slide: also run the npm start workload from this git revision (a worktree), same run, and compare the float stores byte for byte').optional(),
    regions: opt.flag('measure region reads per slide format (40 regions of 512 px at level 0 per slide), beside OpenSlide (Debian python3-openslide) where it opens the format; without --only, only this runs'),
    'regions-from': opt.string('DIR,...', 'with --regions: folders of slides (default ../shared/slides/formats and ../shared/slides)').optional(),
    ...BACKEND_OPTION,
  }),
  async run(o) {
    if (o.regions && !o.only) return benchRegionsCommand(o['regions-from'], o.json);
    if (o.baseline && !o['whole-slide']) throw new SdsError('BAD_ARGUMENT', '--baseline compares whole-slide runs', { suggestion: 'add --whole-slide' });
    const engine = await initEngine({ engine: o.backend });
    // --whole-slide alone measures whole slides only (the patch workloads take minutes of their own)
    const names = o.only ? splitList(o.only) : o['whole-slide'] ? [] : POOL_WORKLOADS.map((w) => w.name);
    // an ONNX row is a ratio to its native row: measured in the same run
    for (const w of POOL_WORKLOADS) if (w.onnxOf && names.includes(w.name) && !names.includes(w.onnxOf)) names.push(w.onnxOf);
    const workers = o.workers ?? (os.availableParallelism?.() ?? os.cpus().length);
    for (const n of names) if (!POOL_WORKLOADS.some((w) => w.name === n)) throw new SdsError('BAD_ARGUMENT', `unknown workload "${n}"`, { suggestion: `use ${POOL_WORKLOADS.map((w) => w.name).join(', ')}` });
    let torch: Record<string, number> = {};
    if (o.torch) torch = JSON.parse(await readFile(o.torch, 'utf8')) as Record<string, number>;
    process.stderr.write(`sds: ${engine} engine, ${workers} worker(s) on ${os.cpus().length} core(s), ${o.reps} timed batch(es) per worker${torch.threads ? `; PyTorch ${torch.torch} with ${torch.threads} threads` : ''}\n`);
    const results: Record<string, number> = {};
    const rows: string[][] = [];
    const onnxLines: string[] = [];
    for (const w of POOL_WORKLOADS.filter((x) => names.includes(x.name))) {
      process.stderr.write(`sds: ${w.name} ...\n`);
      let ms: number;
      // the ONNX row: torchvision's network exported by torch.onnx (skipped, saying why, without PyTorch)
      const onnx = w.onnxOf ? await prepareOnnxWorkload(w) : undefined;
      if (onnx && 'skipped' in onnx) {
        rows.push([w.name, engine, `skipped: ${onnx.skipped}`, '', '', '']);
        continue;
      }
      try {
        ms = await timeOnPool(w, workers, o.reps, o.backend, onnx?.spec);
      } catch (err) {
        rows.push([w.name, engine, `failed: ${(err as Error).message.split('\n')[0]}`, '', '', '']);
        continue;
      } finally {
        onnx?.dispose();
      }
      results[w.name] = ms;
      const t = torch[w.onnxOf ?? w.name];
      rows.push([w.name, engine, ms.toFixed(1), (1000 / ms).toFixed(2), t === undefined ? '-' : t.toFixed(1), t === undefined ? '-' : `${(ms / t).toFixed(2)}x`]);
      const before = w.onnxOf ? results[w.onnxOf] : undefined;
      if (w.onnxOf && before !== undefined) {
        // the native row once more after the ONNX one (native, ONNX, native): the ratio to their
        // mean cancels a drift of the machine's speed across the two rows
        process.stderr.write(`sds: ${w.onnxOf} again, for the ratio ...\n`);
        const after = await timeOnPool(POOL_WORKLOADS.find((x) => x.name === w.onnxOf)!, workers, o.reps, o.backend).catch(() => before);
        const native = (before + after) / 2;
        results[`${w.name}_vs_native`] = ms / native;
        onnxLines.push(`${w.name}: ${(1000 / ms).toFixed(2)} patches/s (${ms.toFixed(1)} ms/patch); native ${w.onnxOf}: ${(1000 / native).toFixed(2)} patches/s (${before.toFixed(1)} before, ${after.toFixed(1)} after); ONNX / native time ${(ms / native).toFixed(2)}x (issue #16 target: within 1.2x)`);
      }
    }
    if (rows.length) printTable(['workload', `engine x${workers}`, 'ms/patch', 'patches/s', 'PyTorch ms/patch', 'ratio'], rows);
    if (onnxLines.length) process.stdout.write(`\nONNX import (torchvision's network exported by torch.onnx, BatchNorm nodes kept) beside the native architecture, same run\n${onnxLines.join('\n')}\n`);
    if (o.soak) {
      const progress = new Progress('patches', o.soak);
      const s = await soak(100, o.soak, (d) => progress.update(Math.min(d, o.soak!)));
      progress.done();
      process.stdout.write('\nmemory while running resnet18_256_grad_all\n');
      printTable(['after patches', 'RSS MiB', 'live tensors'], s.map((r) => [String(r.at), r.rssMb.toFixed(0), String(r.tensors)]));
      for (const r of s) results[`rss_mb_after_${r.at}`] = r.rssMb;
      for (const r of s) results[`tensors_after_${r.at}`] = r.tensors;
    }
    if (o['whole-slide']) Object.assign(results, await wholeSlideTables(o.side, o.baseline, workers));
    if (o.tiles) {
      const tl = await benchTileLatency({ onStage: (what) => process.stderr.write(`sds: tiles: ${what} ...\n`) });
      process.stdout.write(`\ntile latency (sds serve on localhost, generated ${tl.width} x ${tl.height} JPEG slide and a ${tl.width / 4} x ${tl.height / 4} float overlay; ${os.cpus().length} core(s))\n\n`);
      process.stdout.write(tileLatencyMarkdown(tl));
      results.tiles_baseline_rss_mb = tl.baselineRssMb;
      for (const r of tl.rows) {
        const k = `tiles_${r.tiles}_${r.cache}_${r.inFlight}x${r.requests}`;
        results[`${k}_p50_ms`] = r.p50Ms;
        results[`${k}_p95_ms`] = r.p95Ms;
        results[`${k}_wall_s`] = r.wallSeconds;
        results[`${k}_tiles_per_s`] = r.tilesPerSecond;
        results[`${k}_cpu_ms_per_tile`] = r.cpuMsPerTile;
        results[`${k}_errors`] = r.errors;
        results[`${k}_rss_after_mb`] = r.rssAfterMb;
      }
    }
    if (o.regions) Object.assign(results, await regionsTable(o['regions-from']));
    if (o.json) await writeFile(o.json, `${JSON.stringify(results, null, 1)}\n`);
    return 0;
  },
});

/** The npm start workload (beside a baseline revision when given) and the generated slides: tables on stdout, {key: value} for --json. */
async function wholeSlideTables(side: number, baseline: string | undefined, workers: number): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  const stage = (what: string) => process.stderr.write(`sds: whole slide: ${what} ...\n`);
  const demo = await benchDemoWorkload(workers, baseline, stage);
  const w = DEMO_WORKLOAD;
  process.stdout.write(`\nnpm start classifier workload (sample slide, demo ResNet18, patch ${w.patch}, overlap ${w.overlap}, layers ${w.layers}, ${w.methods}, ${w.variants}; ${workers} workers)\n`);
  printTable(
    ['code', 'patches', 'seconds', 'patches/s', 'peak RSS MiB'],
    demo.rows.map((r) => [r.label, String(r.patches), r.seconds.toFixed(1), r.patchesPerSecond.toFixed(2), r.maxRssMb.toFixed(0)]),
  );
  const now = demo.rows.at(-1)!;
  results.demo_workload_patches_per_s = now.patchesPerSecond;
  results.demo_workload_peak_rss_mb = now.maxRssMb;
  if (demo.rows.length === 2) {
    const before = demo.rows[0]!;
    results.demo_workload_baseline_patches_per_s = before.patchesPerSecond;
    results.demo_workload_speedup = now.patchesPerSecond / before.patchesPerSecond;
    results.demo_workload_store_files_compared = demo.compared!;
    results.demo_workload_store_files_differing = demo.differing!.length;
    process.stdout.write(`speed-up over ${before.label}: ${(now.patchesPerSecond / before.patchesPerSecond).toFixed(2)}x (issue #18 target: 1.8x); float stores: ${demo.compared} files compared, ${demo.differing!.length ? `${demo.differing!.length} DIFFER: ${demo.differing!.slice(0, 5).join(', ')}` : 'all byte-identical'}\n`);
  }
  const ws = await benchWholeSlide(side, workers, stage);
  process.stdout.write('\nwhole slide (random ResNet18, 256 px, grad at 1_1 and 2_1, original + backward-hook, model output)\n');
  printTable(
    ['slide', 'tissue patches', 'seconds', 'patches/s', 'peak RSS MiB'],
    ws.map((r) => [`${r.width} x ${r.height}`, String(r.patches), r.seconds.toFixed(1), r.patchesPerSecond.toFixed(2), r.maxRssMb.toFixed(0)]),
  );
  const [a, b] = ws as [(typeof ws)[0], (typeof ws)[0]];
  process.stdout.write(`peak RSS at twice the area: ${((100 * b.maxRssMb) / a.maxRssMb - 100).toFixed(1)}% (target: within 10%)\n`);
  for (const r of ws) {
    results[`whole_slide_${r.width}x${r.height}_patches_per_s`] = r.patchesPerSecond;
    results[`whole_slide_${r.width}x${r.height}_peak_rss_mb`] = r.maxRssMb;
  }
  return results;
}

async function benchRegionsCommand(from: string | undefined, json: string | undefined): Promise<number> {
  const results = await regionsTable(from);
  if (json) await writeFile(json, `${JSON.stringify(results, null, 1)}\n`);
  return 0;
}

/** Region reads per slide, sds beside OpenSlide: a table on stdout, {key: ms} for --json. */
async function regionsTable(from: string | undefined): Promise<Record<string, number>> {
  const folders = from ? splitList(from) : ['../shared/slides/formats', '../shared/slides'];
  const slides = await regionBenchSlides(folders);
  if (!slides.length) throw new SdsError('BAD_ARGUMENT', `--regions: no slides in ${folders.join(', ')}`, { suggestion: 'pass --regions-from DIR with slides of the formats to measure' });
  const rows = await benchRegions(slides, { onSlide: (p) => process.stderr.write(`sds: regions: ${p} ...\n`) });
  process.stdout.write(`\nregion reads (${rows[0]?.regions ?? 0} regions of ${rows[0]?.side ?? 0} px at level 0 per slide at spread pseudo-random places, the same for both readers, each from a fresh open, one at a time; ${os.cpus().length} core(s))\n`);
  printTable(
    ['slide', 'vendor', 'compression', 'sds regions/s', 'OpenSlide regions/s', 'sds / OpenSlide time'],
    rows.map((r) => [
      r.slide,
      r.vendor,
      r.compression,
      (1000 / r.sdsMsPerRegion).toFixed(0),
      r.openslideMsPerRegion === undefined ? `- (${r.openslideError ?? 'not run'})` : (1000 / r.openslideMsPerRegion).toFixed(0),
      r.openslideMsPerRegion === undefined ? '-' : `${(r.sdsMsPerRegion / r.openslideMsPerRegion).toFixed(2)}x`,
    ]),
  );
  const results: Record<string, number> = {};
  for (const r of rows) {
    results[`regions_${r.slide}_sds_ms`] = r.sdsMsPerRegion;
    if (r.openslideMsPerRegion !== undefined) results[`regions_${r.slide}_openslide_ms`] = r.openslideMsPerRegion;
  }
  return results;
}
