/**
 * What an analysis will do, decided before any patch runs: the reading geometry (level or target
 * MPP), the tissue patches in row-major order, their batches, and one overlay per (variant, method,
 * layer) plus the model's own output, each with its map size and canvas. Pure bookkeeping: the
 * same plan drives a local run, a resumed run and (later) distributed chunks of the grid.
 */
import { SdsError } from '../core/errors.js';
import { overlayKey, OUTPUT_METHOD, OUTPUT_VARIANT, type AnalysisSpec, type MapMethod, type Variant } from '../contracts/index.js';
import { describeModel, modelIdentity, type Calibration, type ModelArch, type ModelKind, type Normalization } from '../models/index.js';
import { patchGrid, tissuePatches, type Patch, type Slide, type TissueMask } from '../slide/index.js';
import { checkRoiOnSlide, readRoi, roiIdentity, roiPatches } from '../slide/roi.js';
import { checkSpec } from './check-spec.js';

/** How analysis pixels relate to the slide. */
export interface Geometry {
  /** level-0 pixels per analysis pixel */
  downsample: number;
  /** level read from, and the side of the region read there for one patch */
  readLevel: number;
  readSize: number;
  /** microns per analysis pixel, when the slide says its MPP */
  mpp?: number;
}

export interface OverlaySpec {
  key: string;
  variant: Variant | typeof OUTPUT_VARIANT;
  method: MapMethod | typeof OUTPUT_METHOD;
  layer: string;
  /** analysis pixels per map pixel */
  scale: number;
  /** one patch's map size */
  mapWidth: number;
  mapHeight: number;
  /** canvas (whole slide) size in map pixels */
  width: number;
  height: number;
  /** level-0 pixels per map pixel */
  downsample: number;
  /** for model outputs: the class whose probability this is */
  classIndex?: number;
}

export interface Plan {
  arch: ModelArch;
  /** an imported graph's engine-memory calibration (ModelDescription.memory) */
  memory?: Calibration;
  kind: ModelKind;
  numClasses: number;
  normalization: Normalization;
  geometry: Geometry;
  patches: Patch[];
  /** index ranges into `patches` */
  batches: [number, number][];
  overlays: OverlaySpec[];
  outputs: OverlaySpec[];
  stride: number;
  /** identity of everything that decides the numbers: a journal from another plan is not reused */
  fingerprint: string;
}

export function chooseGeometry(slide: Pick<Slide, 'levels' | 'mpp' | 'path'>, patch: number, o: { level?: number; mpp?: number }): Geometry {
  const levels = slide.levels;
  let d: number;
  if (o.mpp !== undefined) {
    if (!(o.mpp > 0)) throw new SdsError('BAD_ARGUMENT', `--mpp must be positive, got ${o.mpp}`);
    const base = slide.mpp;
    if (!base) throw new SdsError('BAD_ARGUMENT', `${slide.path} does not state its microns per pixel, so --mpp cannot be honoured`, { suggestion: 'choose a level with --level instead' });
    d = o.mpp / base.x;
    if (d < 0.999) throw new SdsError('BAD_ARGUMENT', `--mpp ${o.mpp} is finer than the slide's own ${base.x.toFixed(4)} µm/px`, { suggestion: `use --mpp ${base.x.toFixed(4)} or coarser` });
  } else {
    const l = levels[o.level ?? 0];
    if (!l) throw new SdsError('BAD_ARGUMENT', `level ${o.level} does not exist (the slide has ${levels.length}: 0..${levels.length - 1})`);
    d = l.downsample;
  }
  // the coarsest level still at least as fine as the analysis resolution (0.1% slack for rounding)
  let readLevel = 0;
  for (const l of levels) if (l.downsample <= d * 1.001) readLevel = l.index;
  const dl = levels[readLevel]!.downsample;
  const readSize = Math.abs(dl / d - 1) < 0.001 ? patch : Math.round((patch * d) / dl);
  return { downsample: d, readLevel, readSize, mpp: slide.mpp ? slide.mpp.x * d : undefined };
}

/** The plan of one slide's analysis; `spec` has its defaults filled (contracts `parseAnalysisSpec`). */
export async function planAnalysis(slide: Slide, mask: TissueMask, o: AnalysisSpec): Promise<Plan> {
  const model = await describeModel(o.model);
  checkSpec(model, o);
  const { kind, arch, numClasses, normalization, classNames } = model;
  const scale = new Map(o.layers.map((l) => [l, model.scales.get(l)!]));
  const stride = o.patch - o.overlap;
  const geometry = chooseGeometry(slide, o.patch, o);
  const d = geometry.downsample;
  const grid = { size: o.patch, overlap: o.overlap, level: geometry.readLevel, downsample: d };
  const base = slide.levels[0]!;
  const all = patchGrid(base.width, base.height, grid);
  let patches: Patch[];
  let roi: string | undefined;
  if (o.roi) {
    // only the patches whose centre lies inside the regions (slide/roi.ts), then the tissue rule
    const regions = await readRoi(o.roi);
    checkRoiOnSlide(regions, base.width, base.height, o.roi);
    roi = roiIdentity(regions);
    const inside = roiPatches(all, grid, regions);
    const where = `ROI ${o.roi}: no patch of ${Math.round(o.patch * d)} level-0 px`;
    if (!inside.length) throw new SdsError('BAD_INPUT', `${where} has its centre inside the regions`, { suggestion: 'draw larger regions, or use smaller patches (--patch) or a finer level', context: { file: o.roi } });
    patches = tissuePatches(inside, grid, mask, o.minTissue);
    if (!patches.length) throw new SdsError('BAD_INPUT', `${where} inside the regions has tissue on at least ${o.minTissue * 100}% of it (${inside.length} patch${inside.length === 1 ? '' : 'es'} inside, all mostly glass)`, { suggestion: 'check that the regions were drawn on this slide, over tissue', context: { file: o.roi } });
  } else patches = tissuePatches(all, grid, mask, o.minTissue);
  const batches: [number, number][] = [];
  for (let i = 0; i < patches.length; i += o.batch) batches.push([i, Math.min(patches.length, i + o.batch)]);
  const aw = Math.ceil(base.width / d), ah = Math.ceil(base.height / d);
  const canvas = (s: number, mw: number, mh: number) => ({ scale: s, mapWidth: mw, mapHeight: mh, width: Math.ceil(aw / s), height: Math.ceil(ah / s), downsample: s * d });
  const overlays: OverlaySpec[] = [];
  for (const variant of o.variants)
    for (const method of o.methods)
      for (const layer of o.layers) {
        const s = scale.get(layer)!;
        overlays.push({ key: overlayKey({ variant, method, layer }), variant, method, layer, ...canvas(s, o.patch / s, o.patch / s) });
      }
  const outputs: OverlaySpec[] = [];
  if (o.outputs) {
    // classifier: one value per patch, drawn as a coarse block (blending smooths it); segmentation: 4x pooled
    let s = kind === 'classifier' ? 32 : 4;
    while (s > 1 && (stride % s || o.patch % s)) s /= 2;
    const classes = numClasses === 1 ? [0] : Array.from({ length: numClasses - 1 }, (_, k) => k + 1);
    for (const k of classes) {
      // named after the class when the weights say its name (overlays/model/output/tumour)
      const layer = numClasses === 1 ? 'probability' : (classNames?.[k] ?? `class-${k}`);
      outputs.push({ key: overlayKey({ variant: OUTPUT_VARIANT, method: OUTPUT_METHOD, layer }), variant: OUTPUT_VARIANT, method: OUTPUT_METHOD, layer, classIndex: k, ...canvas(s, o.patch / s, o.patch / s) });
    }
  }
  const fingerprint = JSON.stringify({
    v: 1,
    slide: [slide.path, base.width, base.height],
    model: await modelIdentity(o.model),
    arch: o.model.arch ?? null,
    surrogate: o.surrogate ? await modelIdentity({ kind: 'file', weights: o.surrogate }) : null,
    layers: o.layers,
    methods: o.methods,
    variants: o.variants,
    geometry,
    patch: o.patch,
    overlap: o.overlap,
    batch: o.batch,
    target: o.target ?? null,
    steps: o.methods.includes('ig') ? o.steps : null,
    minTissue: o.minTissue,
    patches: patches.length,
    outputs: outputs.map((x) => x.key),
    // only with an ROI, so journals of analyses without one keep their fingerprint
    ...(roi ? { roi } : {}),
  });
  return { arch, ...(model.memory ? { memory: model.memory } : {}), kind, numClasses, normalization, geometry, patches, batches, overlays, outputs, stride, fingerprint };
}
