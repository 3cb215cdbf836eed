/**
 * The paper's evaluation on a set of patches: TV per layer and variant, insertion/deletion per
 * layer, variant and method (GradCAM and the input layer as baselines), prediction difference and
 * agreement, and the model randomization test against a random-map baseline.
 */
import { SdsError } from '../core/errors.js';
import { buildModel, nchwToNhwc, randomizationSteps, randomizeStateDict, seededNormal, tf, type Model, type StateDict } from '../models/index.js';

/** What the evaluation reads patches from (a folder, a tensor batch, slides: see pipeline/). */
export interface EvaluationData {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly labels?: readonly number[];
  /** Patches `indices`, NCHW, normalized. */
  read(indices: readonly number[]): Promise<Float32Array>;
}
import { attributeBatch } from './batch.js';
import { insertionDeletion } from './insdel.js';
import type { MethodName } from './methods.js';
import { accuracy, argmax, predictionDifference } from './prediction.js';
import { spearman } from './stats.js';
import { totalVariation } from './tv.js';
import { VariantModel, type SurrogatePaths, type Variant } from './variants.js';

export interface EvaluateOptions {
  layers: string[];
  methods: MethodName[];
  variants: Variant[];
  surrogate?: SurrogatePaths;
  limit: number;
  steps: number;
  randomization: boolean;
  seed: number;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface TvRow { variant: Variant; method: MethodName; layer: string; tv: number }
export interface InsDelRow { variant: Variant | 'random'; method: MethodName | 'random'; layer: string; deletion: number; insertion: number }
export interface PredRow { variant: Variant; all: number; target: number; agreement: number; accuracy?: number }
export interface RandomizationRow { variant: Variant; step: string; layer: string; spearman: number; deletion: number; insertion: number; randomDeletion: number; randomInsertion: number }

export interface EvaluationReport {
  images: number;
  size: [number, number];
  tv: TvRow[];
  insdel: InsDelRow[];
  prediction: PredRow[];
  randomization: RandomizationRow[];
  method: MethodName;
}

const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;

/** Map (N,h,w) at layer resolution -> (N,H,W) nearest-upscaled, as the paper shows maps. */
function upscaleMaps(map: Float32Array, n: number, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(n * H * W);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < H; y++) {
      const sy = Math.floor((y * h) / H);
      for (let x = 0; x < W; x++) out[(i * H + y) * W + x] = map[(i * h + sy) * w + Math.floor((x * w) / W)]!;
    }
  return out;
}

async function logits(model: Model, data: Float32Array, n: number, h: number, w: number): Promise<Float32Array> {
  const y = tf.tidy(() => model.forward(tf.tensor4d(nchwToNhwc(data, n, 3, h, w), [n, h, w, 3])));
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}

async function insdelMean(model: Model, data: Float32Array, maps: Float32Array, n: number, H: number, W: number) {
  let d = 0;
  let ins = 0;
  for (let i = 0; i < n; i++) {
    const r = await insertionDeletion(model, data.subarray(i * 3 * H * W, (i + 1) * 3 * H * W), H, W, maps.subarray(i * H * W, (i + 1) * H * W));
    d += r.deletionAuc;
    ins += r.insertionAuc;
  }
  return { deletion: d / n, insertion: ins / n };
}

export async function evaluate(model: Model, stateDict: StateDict, source: EvaluationData, o: EvaluateOptions): Promise<EvaluationReport> {
  const n = Math.min(o.limit, source.count);
  const { height: H, width: W } = source;
  const data = await source.read(Array.from({ length: n }, (_, i) => i));
  const report: EvaluationReport = { images: n, size: [H, W], tv: [], insdel: [], prediction: [], randomization: [], method: o.methods[0]! };
  const original = await logits(model, data, n, H, W);
  const k = model.numClasses;
  const labels = source.labels?.slice(0, n);
  const lastLayer = model.layerNames.at(-1)!;
  const jobs = o.variants.length * o.methods.length;
  let job = 0;
  const rng = seededNormal(o.seed);
  const randomMap = (h: number, w: number) => upscaleMaps(Float32Array.from({ length: n * h * w }, rng), n, h, w, H, W);

  for (const v of o.variants) {
    const explained = new VariantModel(model, v, o.surrogate);
    if (model.kind === 'classifier') {
      const mine = v === 'original' ? original : await logits(explained, data, n, H, W);
      const targets = Array.from({ length: n }, (_, i) => argmax(original, i * k, k));
      const d = predictionDifference(original, mine, n, k, targets);
      const agree = targets.filter((t, i) => argmax(mine, i * k, k) === t).length / n;
      report.prediction.push({ variant: v, all: mean(d.all), target: mean(d.target), agreement: agree, accuracy: labels ? accuracy(mine, n, k, labels) : undefined });
    }
    for (const method of o.methods) {
      o.onProgress?.(`${v} ${method}`, job++, jobs);
      const res = await attributeBatch(explained, method, data, [n, 3, H, W], { layers: o.layers, steps: o.steps, batch: 4 });
      for (const layer of o.layers) {
        const r = res.layers.get(layer)!;
        const [, c, h, w] = r.shape;
        report.tv.push({ variant: v, method, layer, tv: mean(totalVariation(r.attr, n, c, h, w)) });
        // insertion/deletion judge every variant's maps on the original model
        report.insdel.push({ variant: v, method, layer, ...(await insdelMean(model, data, upscaleMaps(r.map, n, h, w, H, W), n, H, W)) });
      }
    }
  }
  if (model.layerNames.includes(lastLayer)) {
    const cam = await attributeBatch(model, 'gradcam', data, [n, 3, H, W], { layers: [lastLayer] });
    const r = cam.layers.get(lastLayer)!;
    const [, , h, w] = r.shape;
    report.insdel.push({ variant: 'original', method: 'gradcam', layer: lastLayer, ...(await insdelMean(model, data, upscaleMaps(r.map, n, h, w, H, W), n, H, W)) });
  }
  // random-map baseline at each layer's resolution
  const layerShapes = new Map<string, [number, number]>();
  tf.tidy(() => {
    const x = tf.zeros([1, H, W, 3]) as tf.Tensor4D;
    for (const l of o.layers) {
      const a = model.forwardTo(l, x);
      layerShapes.set(l, [a.shape[1], a.shape[2]]);
    }
  });
  for (const l of o.layers) {
    const [h, w] = layerShapes.get(l)!;
    report.insdel.push({ variant: 'random', method: 'random', layer: l, ...(await insdelMean(model, data, randomMap(h, w), n, H, W)) });
  }

  if (o.randomization) {
    const method = o.methods[0]!;
    if (model.arch === 'onnx') {
      throw new SdsError('BAD_ARGUMENT', 'the model randomization test rebuilds the model with re-initialised blocks, which sds does for its native architectures only, not for imported graphs', {
        suggestion: 'pass --no-randomization',
      });
    }
    const steps = randomizationSteps(model.arch);
    const reference = new Map<string, Map<string, Float32Array>>();
    for (const [si, step] of steps.entries()) {
      o.onProgress?.(`randomization ${step.name}`, si, steps.length);
      const m = si === 0 ? model : buildModel(randomizeStateDict(stateDict, step, o.seed + si), `randomized(${step.name})`, model.arch, { numClasses: model.numClasses });
      try {
        for (const v of o.variants.filter((x) => x !== 'surrogate')) {
          const res = await attributeBatch(new VariantModel(m, v), method, data, [n, 3, H, W], { layers: o.layers, steps: o.steps, batch: 4 });
          for (const layer of o.layers) {
            const r = res.layers.get(layer)!;
            const [, , h, w] = r.shape;
            if (si === 0) {
              if (!reference.has(v)) reference.set(v, new Map());
              reference.get(v)!.set(layer, r.map);
            }
            const scores = await insdelMean(m, data, upscaleMaps(r.map, n, h, w, H, W), n, H, W);
            const rand = await insdelMean(m, data, randomMap(h, w), n, H, W);
            report.randomization.push({
              variant: v,
              step: step.name,
              layer,
              spearman: spearman(r.map, reference.get(v)!.get(layer)!),
              deletion: scores.deletion,
              insertion: scores.insertion,
              randomDeletion: rand.deletion,
              randomInsertion: rand.insertion,
            });
          }
        }
      } finally {
        if (m !== model) m.dispose();
      }
    }
  }
  return report;
}

