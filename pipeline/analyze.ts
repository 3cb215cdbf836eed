/**
 * The one place that combines reader, grid, model variant and method. A slide's tissue patches go
 * read -> batch -> worker pool -> saliency maps as an rxjs pipeline with bounded concurrency; every
 * finished batch is journalled, then stitched in batch order into per-overlay float stores that
 * flush finished chunks to disk (memory does not grow with the slide). A rerun after a crash
 * replays the journal and computes only the missing batches; outputs are byte-identical.
 */
import { mkdir, rm } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { concatMap, from, lastValueFrom, mergeMap } from 'rxjs';
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';
import { MANIFEST_FILE, overlayKey, parseContract, slideAnalysisSchema, type Manifest, type OverlayEntry, type SlideAnalysisInput, type SlideAnalysisOptions } from '../contracts/index.js';
import { fittingBatch, modelLabel, normalizeRgb, probabilities, rgbToChw } from '../models/index.js';
import { WorkerPool } from '../pool/index.js';
import { forwardGroups, SHARED_METHODS, type SharedMethod } from '../saliency/index.js';
import { detectTissue, openSlide, writeMaskPng, type Slide } from '../slide/index.js';
import { BatchJournal, type BatchMaps } from './journal.js';
import { writeManifest } from './outputs.js';
import { OverlayWriter } from './overlay-writer.js';
import { planAnalysis, type OverlaySpec, type Plan } from './plan.js';
import { claimAnalysisDir } from './results-dir.js';
import { assertUnlocked, lockAnalysisDir, type DirLock } from './lock.js';
import { analysisRecord, refuseOtherAnalysis } from './existing-analysis.js';

export { analysisDir } from './results-dir.js';

export interface AnalyzeProgress {
  /** patches finished (computed or replayed) */
  done: number;
  total: number;
  /** of which replayed from the journal */
  reused: number;
}

/** One slide's analysis: its spec and results folder (contracts `SlideAnalysisInput`, defaults may be left out), and how this run goes. */
export interface AnalyzeOptions extends SlideAnalysisInput {
  slide: string;
  workers?: number;
  /** Keep finished batches on disk so a rerun resumes (default true). */
  journal?: boolean;
  /** Replace a finished analysis made with other settings (the server's re-analysis); without it such a folder is refused. */
  replace?: boolean;
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

/** Model output probabilities as patch maps of the outputs' size (segmentation: mean-pooled). */
function outputMaps(logits: Float32Array, shape: number[], specs: OverlaySpec[], patch: number): BatchMaps {
  const maps: BatchMaps = new Map();
  if (!specs.length) return maps;
  const n = shape[0]!, c = shape[1]!;
  const hw = shape.length === 4 ? shape[2]! * shape[3]! : 1;
  const all = probabilities(logits, n, c, hw);
  // per requested class k: its probabilities (n, hw), as float32 like the stored maps
  const probs = specs.map((spec) => {
    const k = spec.classIndex ?? 0;
    const p = new Float32Array(n * hw);
    for (let i = 0; i < n; i++) for (let q = 0; q < hw; q++) p[i * hw + q] = all[(i * c + k) * hw + q]!;
    return p;
  });
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

/**
 * One slide's analysis state: the open slide, its plan and journal, and (lazily) a worker pool.
 * The local run streams compute and stitch together (`analyzeSlideToDir`); a distributed run
 * computes ranges of batches on many machines (`computeBatches`) and stitches once from the
 * journal (`stitchFromJournal`). Both give the same bytes.
 */
export class AnalysisSession {
  private pool?: Promise<WorkerPool>;
  private readonly t0 = performance.now();

  private constructor(
    readonly o: AnalyzeOptions,
    /** the analysis settings with their defaults filled */
    readonly spec: SlideAnalysisOptions,
    readonly dir: string,
    readonly slide: Slide,
    readonly plan: Plan,
    readonly journal: BatchJournal,
    /** this run's hold on the results folder (fresh sessions: one writer at a time) */
    private readonly lock?: DirLock,
  ) {}

  /**
   * Opens the slide, writes the tissue mask, plans, and opens the journal. `fresh` (the default)
   * starts a new journal when the plan changed; `fresh: false` (queue workers) refuses instead, so
   * a worker never wipes batches that other machines wrote.
   */
  static async open(o: AnalyzeOptions, { fresh = true }: { fresh?: boolean } = {}): Promise<AnalysisSession> {
    // defaults filled and every field checked before anything is opened or written
    const spec = parseContract(slideAnalysisSchema, o, 'analysis');
    const slide = await openSlide(o.slide);
    let lock: DirLock | undefined;
    try {
      // the slide's own folder (another slide's of the same name is left alone), one writer at a time
      const dir = await claimAnalysisDir(spec.out, o.slide);
      if (fresh) lock = await lockAnalysisDir(dir);
      else await assertUnlocked(dir);
      // a finished analysis of other settings is not overwritten unless asked to
      if (fresh && !o.replace) await refuseOtherAnalysis(dir, spec);
      await mkdir(dir, { recursive: true });
      const mask = await detectTissue(slide);
      const plan = await planAnalysis(slide, mask, spec);
      const all = [...plan.overlays, ...plan.outputs];
      const journal = await BatchJournal.open(join(dir, '.journal'), plan.fingerprint, { entries: all.map((s) => ({ key: s.key, perPatch: s.mapWidth * s.mapHeight })) }, { fresh });
      if (fresh) {
        // an older manifest must not vouch for the stores this run is about to rewrite
        await rm(join(dir, MANIFEST_FILE), { force: true });
        await writeMaskPng(mask, join(dir, 'tissue-mask.png'));
      }
      o.onPlan?.(plan);
      return new AnalysisSession(o, spec, dir, slide, plan, journal, lock);
    } catch (err) {
      await slide.close();
      await lock?.release();
      throw err;
    }
  }

  private async compute(range: [number, number]): Promise<BatchMaps> {
    const { o, spec, plan } = this;
    this.pool ??= WorkerPool.create({ model: spec.model, variant: spec.variants[0] ?? 'original', surrogate: spec.surrogate, size: o.workers });
    const wp = await this.pool;
    const P = spec.patch;
    const n = range[1] - range[0];
    const data = await readPatchBatch(this.slide, plan, range, P);
    checkAbort(o.signal);
    const maps: BatchMaps = new Map();
    const jobs: Promise<void>[] = [];
    const targets = spec.target === undefined ? undefined : [spec.target];
    // no more patches per task than one engine is estimated to hold (the pool splits as well if that was optimistic)
    const fitting = (methods: string[], variants: string[]) => fittingBatch({ arch: plan.arch, ...(plan.memory ? { calibration: plan.memory } : {}), layers: spec.layers, methods, variants, patch: P }, n);
    // grad and DeepLift of every variant that shares a forward pass come from one pass (saliency/shared.ts);
    // the original variant's pass also gives the model's own outputs
    const shared = spec.methods.filter((m) => (SHARED_METHODS as readonly string[]).includes(m)) as SharedMethod[];
    let outputsDone = false;
    if (shared.length)
      for (const group of forwardGroups(spec.variants)) {
        const logits = plan.outputs.length > 0 && !outputsDone && group.includes('original');
        if (logits) outputsDone = true;
        jobs.push(
          wp.shared({ variants: group, methods: shared, data, shape: [n, 3, P, P], layers: spec.layers, targets, logits }, { maxImages: fitting(shared, group) }).then((res) => {
            for (const r of res.results) for (const l of r.layers) maps.set(overlayKey({ variant: r.variant, method: r.method, layer: l.layer }), l.map);
            if (res.logits) outputMaps(res.logits, res.logitsShape!, plan.outputs, P).forEach((v, k) => maps.set(k, v));
          }),
        );
      }
    for (const variant of spec.variants)
      for (const method of spec.methods.filter((m) => !(shared as string[]).includes(m)))
        jobs.push(
          wp.attribute({ variant, method, data, shape: [n, 3, P, P], layers: spec.layers, targets, steps: spec.steps, mapsOnly: true }, { maxImages: fitting([method], [variant]) }).then((res) => {
            for (const r of res.layers) maps.set(overlayKey({ variant, method, layer: r.layer }), r.map);
          }),
        );
    if (plan.outputs.length && !outputsDone) jobs.push(wp.forward({ variant: 'original', data, shape: [n, 3, P, P] }).then((r) => outputMaps(r.logits, r.shape, plan.outputs, P).forEach((v, k) => maps.set(k, v))));
    await Promise.all(jobs);
    return maps;
  }

  /** Batch i's maps: from the journal when it is there, else computed (and journalled). */
  async produce(i: number): Promise<{ maps: BatchMaps; reused: boolean }> {
    checkAbort(this.o.signal);
    const range = this.plan.batches[i]!;
    const n = range[1] - range[0];
    const useJournal = this.o.journal !== false;
    if (useJournal) {
      const old = await this.journal.read(i, n);
      if (old) return { maps: old, reused: true };
    }
    const maps = await this.compute(range);
    if (useJournal) await this.journal.write(i, n, maps);
    return { maps, reused: false };
  }

  /** Journalled batches among `indices`. */
  async missing(indices: Iterable<number>): Promise<number[]> {
    const out: number[] = [];
    for (const i of indices) if (!(await this.journal.has(i, this.plan.batches[i]![1] - this.plan.batches[i]![0]))) out.push(i);
    return out;
  }

  /**
   * Runs `produce` over batches with bounded concurrency and stitches them in batch order as an
   * rxjs pipeline; a batch may only start within `window` of the next one to stitch (backpressure).
   */
  async run(indices: number[], stitch: ((i: number, maps: BatchMaps) => Promise<void>) | undefined, onBatch?: (i: number, reused: boolean) => void | Promise<void>): Promise<{ computed: number; reused: number }> {
    let computed = 0, reused = 0, next = 0;
    const ready = new Map<number, BatchMaps>();
    const waiting: { k: number; go: () => void }[] = [];
    const parallel = Math.max(1, (this.o.workers ?? 0) || 2) + 1;
    const window = 2 * parallel + 2;
    const gate = (k: number) => (!stitch || k < next + window ? Promise.resolve() : new Promise<void>((go) => waiting.push({ k, go })));
    await lastValueFrom(
      from(indices.keys()).pipe(
        mergeMap(async (k) => {
          await gate(k);
          const r = await this.produce(indices[k]!);
          if (r.reused) reused++;
          else computed++;
          await onBatch?.(indices[k]!, r.reused);
          return { k, maps: r.maps };
        }, parallel),
        concatMap(async ({ k, maps }) => {
          if (!stitch) return;
          ready.set(k, maps);
          while (ready.has(next)) {
            await stitch(indices[next]!, ready.get(next)!);
            ready.delete(next);
            next++;
            for (let j = waiting.length - 1; j >= 0; j--) if (waiting[j]!.k < next + window) waiting.splice(j, 1)[0]!.go();
          }
        }),
      ),
      { defaultValue: undefined },
    );
    return { computed, reused };
  }

  /** Stitches every batch (computing what the journal lacks), writes stores, tiles and the manifest. */
  async complete(): Promise<AnalyzeResult> {
    const { o, spec, plan, dir } = this;
    const all = [...plan.overlays, ...plan.outputs];
    const writers = await Promise.all(all.map((s) => OverlayWriter.create(s, join(dir, 'overlays', s.variant, s.method, `${s.layer}.zarr`))));
    const at = (s: OverlaySpec, i: number) => {
      const p = plan.patches[i]!;
      return [(p.col * plan.stride) / s.scale, (p.row * plan.stride) / s.scale] as const;
    };
    for (const w of writers) for (let i = 0; i < plan.patches.length; i++) w.expect(...at(w.spec, i));
    let done = 0, reusedPatches = 0;
    const reusedBatches = new Set<number>();
    const stitch = async (i: number, maps: BatchMaps) => {
      const [a, b] = plan.batches[i]!;
      for (const w of writers) {
        const m = maps.get(w.spec.key)!;
        const per = w.spec.mapWidth * w.spec.mapHeight;
        for (let j = a; j < b; j++) await w.add(...at(w.spec, j), m.subarray((j - a) * per, (j - a + 1) * per));
      }
      done += b - a;
      if (reusedBatches.has(i)) reusedPatches += b - a;
      o.onProgress?.({ done, total: plan.patches.length, reused: reusedPatches });
    };
    const counts = await this.run([...plan.batches.keys()], stitch, (i, reused) => {
      if (reused) reusedBatches.add(i);
    });
    await this.closePool();

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
    const seconds = (performance.now() - this.t0) / 1000;
    const l0 = this.slide.levels[0]!;
    const manifest: Manifest = {
      version: 1,
      slide: { path: this.slide.path, name: basename(this.slide.path), vendor: this.slide.info.vendor, width: l0.width, height: l0.height, mpp: this.slide.mpp, magnification: this.slide.magnification },
      model: { weights: spec.weightsLabel ?? modelLabel(spec.model), arch: plan.arch, kind: plan.kind, classes: plan.numClasses, surrogate: spec.surrogate },
      patches: { size: spec.patch, level: plan.geometry.readLevel, downsample: plan.geometry.downsample, mpp: plan.geometry.mpp, overlap: spec.overlap, count: plan.patches.length },
      tissueMask: 'tissue-mask.png',
      overlays,
      outputs,
      analysis: await analysisRecord(spec),
      seconds,
      created: new Date().toISOString(),
    };
    await writeManifest(dir, manifest);
    await this.journal.remove();
    return { dir, manifest, plan, stats: { ...counts, seconds, peakChunks: writers.reduce((s, w) => s + w.peakChunks, 0) } };
  }

  private async closePool(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p) await (await p.catch(() => undefined))?.close();
  }

  async close(): Promise<void> {
    await this.closePool();
    await this.slide.close();
    await this.lock?.release();
  }
}

/** Analyses a slide into `<out>/<slide name>/`, resuming from its journal when one matches. */
export async function analyzeSlideToDir(o: AnalyzeOptions): Promise<AnalyzeResult> {
  const session = await AnalysisSession.open(o);
  try {
    return await session.complete();
  } finally {
    await session.close();
  }
}

/**
 * Computes and journals the given batches only (a queue worker's chunk of the grid); no stitching.
 * The journal must already exist for this plan (made by whoever enqueued the work).
 */
export async function computeBatches(o: AnalyzeOptions, indices: number[], onBatch?: (i: number, reused: boolean) => void | Promise<void>): Promise<{ computed: number; reused: number }> {
  const session = await AnalysisSession.open(o, { fresh: false });
  try {
    return await session.run(indices, undefined, onBatch);
  } finally {
    await session.close();
  }
}
