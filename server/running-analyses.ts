/**
 * Analyses still being written by this server's own jobs, as catalog entries, so that the page lists
 * them (once a first chunk is written) and draws their overlays while they run (`sds start` runs the demo this way). A running
 * analysis has no manifest yet: its overlays are the float stores the pipeline has created, with the
 * geometry the plan gives them (the slide's levels, the model's layer scales), and the stores hold
 * the chunks finished so far (the writer flushes each one when its last patch is in); tiles are
 * drawn where a chunk exists and transparent elsewhere (NaN). The colour range is the finished
 * chunks' (recomputed when a chunk arrives), until the manifest gives the final one.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { overlayKey, type JobStatus, type Manifest, type OverlayEntry, type SlideTask } from '../contracts/index.js';
import { FloatStore, symmetricRange } from '../maps/index.js';
import { describeModel, modelLabel } from '../models/index.js';
import { chooseGeometry } from '../pipeline/index.js';
import { idFromRelative } from './ids.js';
import type { AnalysisEntry, OverlayRef } from './results-catalog.js';
import type { SlideEntry } from './slide-catalog.js';

/** A job worked in this process, now running. */
export interface RunningJob {
  dir: string;
  task: SlideTask;
  status: JobStatus;
  /** epoch ms when it started running */
  startedAt: number;
}

type ModelFacts = { arch: string; kind: string; classes: number; scales: ReadonlyMap<string, number> };

/** The level-0 chunk files of a store (0 while none is written). */
async function chunkCount(store: string): Promise<number> {
  let n = 0;
  const rows = await readdir(join(store, '0')).catch(() => [] as string[]);
  for (const row of rows) if (/^\d+$/.test(row)) n += (await readdir(join(store, '0', row)).catch(() => [] as string[])).filter((c) => /^\d+$/.test(c)).length;
  return n;
}

export class RunningAnalyses {
  /** what the plan needs of each model (layer scales), by model spec */
  private readonly models = new Map<string, Promise<ModelFacts>>();
  private readonly ranges = new Map<string, { chunks: number; range: [number, number] }>();

  constructor(
    private readonly o: {
      /** real path of the results folder */
      root: () => Promise<string | undefined>;
      slides: () => Promise<SlideEntry[]>;
      running: () => RunningJob[];
      /** how long a list is reused (default 1000 ms) */
      reuseMs?: number;
    },
  ) {}

  /** the last list and when it was made: every tile request of a running analysis looks it up */
  private last?: { at: number; jobs: string; list: Promise<AnalysisEntry[]> };

  /**
   * Entries of the running jobs with a first chunk written (none while the slide's tissue is being
   * found); reused for a second while the same jobs run (a view's tiles come in bursts).
   */
  list(): Promise<AnalysisEntry[]> {
    const jobs = this.o.running();
    if (!jobs.length) return Promise.resolve([]);
    const key = jobs.map((j) => `${j.dir}@${j.startedAt}`).join('|');
    const now = performance.now();
    if (this.last && this.last.jobs === key && now - this.last.at < (this.o.reuseMs ?? 1000)) return this.last.list;
    const list = this.build(jobs);
    this.last = { at: now, jobs: key, list };
    return list;
  }

  private async build(jobs: RunningJob[]): Promise<AnalysisEntry[]> {
    const root = await this.o.root();
    if (!root) return [];
    const slides = await this.o.slides();
    const out: AnalysisEntry[] = [];
    for (const job of jobs) {
      try {
        const entry = await this.entry(job, root, slides);
        if (entry) out.push(entry);
      } catch {
        // a job whose folder or model cannot be read now is listed when it is finished
      }
    }
    return out;
  }

  private facts(job: RunningJob): Promise<ModelFacts> {
    // per model spec: a folder analysed again may be analysed with another model
    const key = JSON.stringify(job.task.options.model);
    const known = this.models.get(key);
    if (known) return known;
    const p: Promise<ModelFacts> = describeModel(job.task.options.model).then((d) => ({ arch: d.arch, kind: d.kind, classes: d.numClasses, scales: d.scales }));
    p.catch(() => this.models.delete(key));
    this.models.set(key, p);
    return p;
  }

  private async entry(job: RunningJob, root: string, slides: SlideEntry[]): Promise<AnalysisEntry | undefined> {
    const dir = await realpath(job.dir).catch(() => undefined);
    if (!dir) return undefined;
    const slideReal = await realpath(job.task.slide).catch(() => undefined);
    const slide = slides.find((s) => s.path === slideReal);
    if (!slide) return undefined;
    const spec = job.task.options;
    const model = await this.facts(job);
    const l0 = slide.info.levels[0]!;
    const geometry = chooseGeometry({ levels: slide.info.levels, mpp: slide.info.mpp, path: slide.path }, spec.patch, spec);
    const d = geometry.downsample;
    const overlays: OverlayEntry[] = [];
    let chunks = 0;
    for (const variant of spec.variants)
      for (const method of spec.methods)
        for (const layer of spec.layers) {
          const store = join('overlays', variant, method, `${layer}.zarr`);
          if (!(await stat(join(dir, store, '.zattrs')).catch(() => undefined))) continue;
          const s = model.scales.get(layer) ?? 1;
          const r = await this.range(join(dir, store), job.startedAt);
          chunks += r.chunks;
          overlays.push({ variant, method, layer, downsample: s * d, width: Math.ceil(Math.ceil(l0.width / d) / s), height: Math.ceil(Math.ceil(l0.height / d) / s), range: r.range, store, dzi: store.replace(/\.zarr$/, '.dzi') });
        }
    // listed once something can be drawn: before that the page shows the job's progress alone
    if (!chunks) return undefined;
    const manifest: Manifest = {
      version: 1,
      slide: { path: slide.path, name: slide.name, vendor: slide.info.vendor, width: l0.width, height: l0.height, ...(slide.info.mpp ? { mpp: slide.info.mpp } : {}), ...(slide.info.magnification ? { magnification: slide.info.magnification } : {}) },
      model: { weights: spec.weightsLabel ?? modelLabel(spec.model), arch: model.arch, kind: model.kind, classes: model.classes, ...(spec.surrogate ? { surrogate: spec.surrogate } : {}) },
      patches: { size: spec.patch, level: geometry.readLevel, downsample: d, overlap: spec.overlap, count: job.status.total },
      tissueMask: 'tissue-mask.png',
      overlays,
      outputs: [],
      seconds: (Date.now() - job.startedAt) / 1000,
      created: new Date(job.startedAt).toISOString(),
    };
    const refs: OverlayRef[] = overlays.map((entry) => ({ key: overlayKey(entry), variant: entry.variant, method: entry.method, layer: entry.layer, kind: 'overlay', entry }));
    const id = idFromRelative(relative(root, dir));
    // tiles and open stores are cached by version: a new one with every finished batch
    return { id, dir, manifest, version: `running:${job.status.done}`, overlays: refs, outputs: [], slideReal, running: true };
  }

  /** The finished chunks' symmetric range, recomputed when another chunk is there; [-1, 1] before the first. */
  private async range(store: string, run: number): Promise<{ chunks: number; range: [number, number] }> {
    const chunks = await chunkCount(store);
    // per run: a store written again starts from nothing
    const key = `${store}@${run}`;
    const old = this.ranges.get(key);
    if (old && old.chunks === chunks) return old;
    let range: [number, number] = old?.range ?? [-1, 1];
    if (chunks > 0) {
      try {
        const r = await symmetricRange(await FloatStore.open(store, { cacheChunks: 4 }));
        if (r[1] > r[0]) range = r;
      } catch {
        // a chunk caught while it is being written: the next look reads it whole
        return { chunks: old?.chunks ?? 0, range };
      }
    }
    this.ranges.set(key, { chunks, range });
    return { chunks, range };
  }
}
