/**
 * The one place that combines reader, grid, model variant and method. A slide's tissue patches go
 * read -> batch -> worker pool -> saliency maps as an rxjs pipeline with bounded concurrency; every
 * finished batch is journalled, then stitched in batch order into per-overlay float stores that
 * flush finished chunks to disk (memory does not grow with the slide). A rerun after a crash
 * replays the journal and computes only the missing batches; outputs are byte-identical.
 */
import { mkdir, rm } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { concatMap, from, lastValueFrom, mergeMap } from 'rxjs';
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';
import { normalizeRgb, rgbToChw } from '../models/index.js';
import { WorkerPool } from '../pool/index.js';
import { detectTissue, openSlide, writeMaskPng, type Slide } from '../tiling/index.js';
import { BatchJournal, type BatchMaps } from './journal.js';
import { writeManifest, type Manifest, type OverlayEntry } from './outputs.js';
import { OverlayWriter } from './overlay-writer.js';
import { planAnalysis, type OverlaySpec, type Plan, type PlanOptions } from './plan.js';

export interface AnalyzeProgress {
  /** patches finished (computed or replayed) */
  done: number;
  total: number;
  /** of which replayed from the journal */
  reused: number;
}

export interface AnalyzeOptions extends PlanOptions {
  slide: string;
  /** Results folder; the slide's analysis goes to `<out>/<slide name without extension>/`. */
  out: string;
  /** How the manifest names the weights (default: the weights path, or `random:<arch>`). */
  weightsLabel?: string;
  workers?: number;
  /** Keep finished batches on disk so a rerun resumes (default true). */
  journal?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: AnalyzeProgress) => void;
  /** Called once the plan is known (patch count, overlays). */
  onPlan?: (plan: Plan) => void;
}

export interface AnalyzeStats {
  /** batches computed in this run / replayed from the journal */
  computed: number;
  reused: number;
  seconds: number;
  /** most canvas chunks held in memory at once, over all overlays */
  peakChunks: number;
}

export interface AnalyzeResult {
  dir: string;
  manifest: Manifest;
  plan: Plan;
  stats: AnalyzeStats;
}

export function analysisDir(out: string, slide: string): string {
  return join(out, basename(slide, extname(slide)));
}

function softmaxInto(logits: Float32Array, n: number, c: number, hw: number, out: Float32Array[], classes: number[]): void {
  // logits (n, c, hw) -> per requested class k: probabilities (n, hw)
  for (let i = 0; i < n; i++)
    for (let p = 0; p < hw; p++) {
      if (c === 1) {
        out[0]![i * hw + p] = 1 / (1 + Math.exp(-logits[i * hw + p]!));
        continue;
      }
      let m = -Infinity;
      for (let k = 0; k < c; k++) m = Math.max(m, logits[(i * c + k) * hw + p]!);
      let z = 0;
      for (let k = 0; k < c; k++) z += Math.exp(logits[(i * c + k) * hw + p]! - m);
      classes.forEach((k, j) => (out[j]![i * hw + p] = Math.exp(logits[(i * c + k) * hw + p]! - m) / z));
    }
}

/** Model output probabilities as patch maps of the outputs' size (segmentation: mean-pooled). */
function outputMaps(logits: Float32Array, shape: number[], specs: OverlaySpec[], patch: number): BatchMaps {
  const maps: BatchMaps = new Map();
  if (!specs.length) return maps;
  const n = shape[0]!, c = shape[1]!;
  const hw = shape.length === 4 ? shape[2]! * shape[3]! : 1;
  const probs = specs.map(() => new Float32Array(n * hw));
  softmaxInto(logits, n, c, hw, probs, specs.map((s) => s.classIndex ?? 0));
  const { mapWidth: mw, mapHeight: mh, scale: s } = specs[0]!;
  specs.forEach((spec, j) => {
    const p = probs[j]!;
    const m = new Float32Array(n * mw * mh);
    for (let i = 0; i < n; i++) {
      if (hw === 1) {
        m.fill(p[i]!, i * mw * mh, (i + 1) * mw * mh);
        continue;
      }
      for (let y = 0; y < mh; y++)
        for (let x = 0; x < mw; x++) {
          let sum = 0;
          for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) sum += p[i * hw + (y * s + dy) * patch + x * s + dx]!;
          m[i * mw * mh + y * mw + x] = sum / (s * s);
        }
    }
    maps.set(spec.key, m);
  });
  return maps;
}

async function readPatchBatch(slide: Slide, plan: Plan, range: [number, number], patch: number): Promise<Float32Array> {
  const { readLevel, readSize } = plan.geometry;
  const hw = patch * patch;
  const n = range[1] - range[0];
  const data = new Float32Array(n * 3 * hw);
  for (let j = 0; j < n; j++) {
    const p = plan.patches[range[0] + j]!;
    let rgb = await slide.readRegion(readLevel, p.x, p.y, readSize, readSize);
    if (readSize !== patch) {
      rgb = new Uint8Array(await sharp(rgb, { raw: { width: readSize, height: readSize, channels: 3 } }).resize(patch, patch, { kernel: 'lanczos3' }).raw().toBuffer());
    }
    data.set(normalizeRgb(rgbToChw(rgb, patch, patch), 1, patch, patch, plan.normalization), j * 3 * hw);
  }
  return data;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SdsError('ABORTED', 'analysis stopped; finished batches are journalled and a rerun resumes from them');
}

export async function analyzeSlideToDir(o: AnalyzeOptions): Promise<AnalyzeResult> {
  const t0 = performance.now();
  const dir = analysisDir(o.out, o.slide);
  const slide = await openSlide(o.slide);
  let pool: Promise<WorkerPool> | undefined;
  try {
    await mkdir(dir, { recursive: true });
    // an older manifest must not vouch for the stores this run is about to rewrite
    await rm(join(dir, 'manifest.json'), { force: true });
    const mask = await detectTissue(slide);
    await writeMaskPng(mask, join(dir, 'tissue-mask.png'));
    const plan = await planAnalysis(slide, mask, o);
    o.onPlan?.(plan);
    const all = [...plan.overlays, ...plan.outputs];
    const journal = await BatchJournal.open(join(dir, '.journal'), plan.fingerprint, { entries: all.map((s) => ({ key: s.key, perPatch: s.mapWidth * s.mapHeight })) });
    const writers = await Promise.all(all.map((s) => OverlayWriter.create(s, join(dir, 'overlays', s.variant, s.method, `${s.layer}.zarr`))));
    const at = (s: OverlaySpec, i: number) => {
      const p = plan.patches[i]!;
      return [(p.col * plan.stride) / s.scale, (p.row * plan.stride) / s.scale] as const;
    };
    for (const w of writers) for (let i = 0; i < plan.patches.length; i++) w.expect(...at(w.spec, i));

    const P = o.patch;
    const compute = async (range: [number, number]): Promise<BatchMaps> => {
      pool ??= WorkerPool.create({ model: o.model, variant: o.variants[0] ?? 'original', surrogate: o.surrogate, size: o.workers });
      const wp = await pool;
      const n = range[1] - range[0];
      const data = await readPatchBatch(slide, plan, range, P);
      checkAbort(o.signal);
      const maps: BatchMaps = new Map();
      const jobs: Promise<void>[] = [];
      for (const variant of o.variants)
        for (const method of o.methods)
          jobs.push(
            wp.attribute({ variant, method, data: Float32Array.from(data), shape: [n, 3, P, P], layers: o.layers, targets: o.target === undefined ? undefined : [o.target], mapsOnly: true }).then((res) => {
              for (const r of res.layers) maps.set(`${variant}/${method}/${r.layer}`, r.map);
            }),
          );
      if (plan.outputs.length) jobs.push(wp.forward({ variant: 'original', data: Float32Array.from(data), shape: [n, 3, P, P] }).then((r) => outputMaps(r.logits, r.shape, plan.outputs, P).forEach((v, k) => maps.set(k, v))));
      await Promise.all(jobs);
      return maps;
    };

    // batches finish out of order; they are stitched in order, and a batch may only start while it
    // is within `window` of the next one to stitch (backpressure: bounded memory)
    let computed = 0, reused = 0, done = 0, reusedPatches = 0, next = 0;
    const ready = new Map<number, BatchMaps>();
    const waiting: { i: number; go: () => void }[] = [];
    const parallel = Math.max(1, (o.workers ?? 0) || 2) + 1;
    const window = 2 * parallel + 2;
    const gate = (i: number) => (i < next + window ? Promise.resolve() : new Promise<void>((go) => waiting.push({ i, go })));
    const produce = async (i: number): Promise<{ i: number; maps: BatchMaps }> => {
      await gate(i);
      checkAbort(o.signal);
      const range = plan.batches[i]!;
      const n = range[1] - range[0];
      if (o.journal !== false) {
        const old = await journal.read(i, n);
        if (old) {
          reused++;
          reusedPatches += n;
          return { i, maps: old };
        }
      }
      const maps = await compute(range);
      if (o.journal !== false) await journal.write(i, n, maps);
      computed++;
      return { i, maps };
    };
    const stitch = async (i: number, maps: BatchMaps) => {
      const [a, b] = plan.batches[i]!;
      for (const w of writers) {
        const m = maps.get(w.spec.key)!;
        const per = w.spec.mapWidth * w.spec.mapHeight;
        for (let j = a; j < b; j++) await w.add(...at(w.spec, j), m.subarray((j - a) * per, (j - a + 1) * per));
      }
      done += b - a;
      o.onProgress?.({ done, total: plan.patches.length, reused: reusedPatches });
    };
    await lastValueFrom(
      from(plan.batches.keys()).pipe(
        mergeMap(produce, parallel),
        concatMap(async ({ i, maps }) => {
          ready.set(i, maps);
          while (ready.has(next)) {
            await stitch(next, ready.get(next)!);
            ready.delete(next);
            next++;
            for (let k = waiting.length - 1; k >= 0; k--) {
              if (waiting[k]!.i < next + window) waiting.splice(k, 1)[0]!.go();
            }
          }
        }),
      ),
      { defaultValue: undefined },
    );
    if (pool) await (await pool).close();
    pool = undefined;

    const entries = async (ws: OverlayWriter[], colormap: 'diverging' | 'viridis', range?: [number, number]): Promise<OverlayEntry[]> => {
      const out: OverlayEntry[] = [];
      for (const w of ws) {
        const r = await w.finish({ colormap, range });
        const s = w.spec;
        out.push({ variant: s.variant, method: s.method, layer: s.layer, downsample: s.downsample, width: s.width, height: s.height, range: r, store: relative(dir, w.path), dzi: relative(dir, w.path.replace(/\.zarr$/, '.dzi')) });
      }
      return out;
    };
    const overlays = await entries(writers.slice(0, plan.overlays.length), 'diverging');
    const outputs = await entries(writers.slice(plan.overlays.length), 'viridis', [0, 1]);
    const seconds = (performance.now() - t0) / 1000;
    const l0 = slide.levels[0]!;
    const manifest: Manifest = {
      version: 1,
      slide: { path: slide.path, name: basename(slide.path), width: l0.width, height: l0.height, mpp: slide.mpp, magnification: slide.magnification },
      model: { weights: o.weightsLabel ?? (o.model.kind === 'file' ? o.model.weights : `random:${o.model.arch}`), arch: plan.arch, kind: plan.kind, classes: plan.numClasses, surrogate: o.surrogate },
      patches: { size: P, level: plan.geometry.readLevel, downsample: plan.geometry.downsample, mpp: plan.geometry.mpp, overlap: o.overlap, count: plan.patches.length },
      tissueMask: 'tissue-mask.png',
      overlays,
      outputs,
      seconds,
      created: new Date().toISOString(),
    };
    await writeManifest(dir, manifest);
    await journal.remove();
    return { dir, manifest, plan, stats: { computed, reused, seconds, peakChunks: writers.reduce((s, w) => s + w.peakChunks, 0) } };
  } finally {
    if (pool) await (await pool.catch(() => undefined))?.close();
    await slide.close();
  }
}
