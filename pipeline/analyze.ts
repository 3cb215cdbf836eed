/**
 * The one place that combines reader, grid, model variant and method: a slide's tissue patches
 * stream through the worker pool (rxjs, bounded concurrency: memory does not depend on slide size)
 * and every (variant, method, layer) map is stitched at slide coordinates.
 */
import { firstValueFrom, from, mergeMap, tap, toArray } from 'rxjs';
import { SdsError } from '../core/errors.js';
import { buildModel, loadWeights, normalizeRgb, randomModel, rgbToChw, tf, type Model, type Normalization, type Tensor4D } from '../models/index.js';
import { WorkerPool, type ModelSpec } from '../pool/index.js';
import type { MethodName, Variant } from '../saliency/index.js';
import { detectTissue, openSlide, patchGrid, Stitcher, tissuePatches, type Patch, type Slide, type TissueMask } from '../tiling/index.js';

export interface AnalyzeOptions {
  slide: string;
  model: ModelSpec;
  surrogate?: string;
  layers: string[];
  methods: MethodName[];
  variants: Variant[];
  /** Patch side in pixels of `level`. */
  patch: number;
  level: number;
  overlap: number;
  /** Patches per worker task. */
  batch: number;
  workers?: number;
  minTissue?: number;
  /** Explained class for every patch (default: each patch's own SPEC 5 target). */
  target?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Overlay {
  variant: Variant;
  method: MethodName;
  layer: string;
  /** level-0 pixels per canvas pixel */
  downsample: number;
  canvas: Stitcher;
}

export interface Analysis {
  slide: Slide;
  mask: TissueMask;
  patches: Patch[];
  overlays: Overlay[];
  arch: string;
  normalization: Normalization;
  seconds: number;
}

async function describeModel(spec: ModelSpec): Promise<Model> {
  if (spec.kind === 'random') return randomModel(spec.arch, spec.classes, spec.seed);
  const w = await loadWeights(spec.weights);
  return buildModel(w.tensors, w.source, spec.arch);
}

export async function analyzeSlide(o: AnalyzeOptions): Promise<Analysis> {
  const t0 = performance.now();
  // the main thread only needs the model's contract: layers, normalization, map sizes
  const probe = await describeModel(o.model);
  let arch: string;
  let normalization: Normalization;
  const scale = new Map<string, number>();
  try {
    arch = probe.arch;
    normalization = probe.normalization;
    for (const l of o.layers) {
      if (!probe.layerNames.includes(l)) throw new SdsError('BAD_ARGUMENT', `unknown layer "${l}" for ${arch}`, { suggestion: `use one of: ${probe.layerNames.join(', ')}` });
    }
    tf.tidy(() => {
      const x = tf.zeros([1, o.patch, o.patch, 3]) as Tensor4D;
      for (const l of o.layers) scale.set(l, o.patch / probe.forwardTo(l, x).shape[1]);
    });
  } finally {
    probe.dispose();
  }
  const stride = o.patch - o.overlap;
  for (const [l, s] of scale) {
    if (stride % s) throw new SdsError('BAD_ARGUMENT', `layer ${l} maps ${s} px to one value; the patch stride ${stride} (patch - overlap) must be a multiple of ${s}`, { suggestion: 'choose an overlap so that patch - overlap divides by 32' });
  }
  const slide = await openSlide(o.slide);
  try {
    const level = slide.levels[o.level];
    if (!level) throw new SdsError('BAD_ARGUMENT', `level ${o.level} does not exist (the slide has ${slide.levels.length})`);
    const mask = await detectTissue(slide);
    const spec = { size: o.patch, overlap: o.overlap, level: o.level, downsample: level.downsample };
    const base = slide.levels[0]!;
    const patches = tissuePatches(patchGrid(base.width, base.height, spec), spec, mask, o.minTissue ?? 0.5);
    const overlays: Overlay[] = [];
    for (const variant of o.variants)
      for (const method of o.methods)
        for (const layer of o.layers) {
          const s = scale.get(layer)!;
          overlays.push({ variant, method, layer, downsample: s * level.downsample, canvas: new Stitcher(Math.ceil(level.width / s), Math.ceil(level.height / s)) });
        }
    const pool = await WorkerPool.create({ model: o.model, variant: o.variants[0]!, surrogate: o.surrogate, size: o.workers });
    try {
      const batches: Patch[][] = [];
      for (let i = 0; i < patches.length; i += o.batch) batches.push(patches.slice(i, i + o.batch));
      const P = o.patch;
      const hw = P * P;
      let done = 0;
      const read = async (b: Patch[]) => {
        const data = new Float32Array(b.length * 3 * hw);
        for (const [j, p] of b.entries()) {
          const rgb = await slide.readRegion(o.level, p.x, p.y, P, P);
          data.set(normalizeRgb(rgbToChw(rgb, P, P), 1, P, P, normalization), j * 3 * hw);
        }
        return { b, data };
      };
      const attribute = async ({ b, data }: { b: Patch[]; data: Float32Array }) => {
        const jobs: Promise<void>[] = [];
        for (const variant of o.variants)
          for (const method of o.methods) {
            jobs.push(
              pool
                .attribute({ variant, method, data: Float32Array.from(data), shape: [b.length, 3, P, P], layers: o.layers, targets: o.target === undefined ? undefined : [o.target] })
                .then((res) => {
                  for (const r of res.layers) {
                    const ov = overlays.find((x) => x.variant === variant && x.method === method && x.layer === r.layer)!;
                    const [, , h, w] = r.shape;
                    const s = scale.get(r.layer)!;
                    b.forEach((p, i) => ov.canvas.add(Math.round(p.x / level.downsample / s), Math.round(p.y / level.downsample / s), r.map.subarray(i * h * w, (i + 1) * h * w), w, h));
                  }
                }),
            );
          }
        await Promise.all(jobs);
        return b.length;
      };
      await firstValueFrom(
        from(batches).pipe(
          mergeMap(read, 2), // read ahead, bounded
          mergeMap(attribute, Math.max(1, Math.ceil(pool.size / (o.variants.length * o.methods.length)))),
          tap((n) => {
            done += n;
            o.onProgress?.(done, patches.length);
          }),
          toArray(),
        ),
        { defaultValue: [] },
      );
    } finally {
      await pool.close();
    }
    return { slide, mask, patches, overlays, arch, normalization, seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    await slide.close();
    throw err;
  }
}
