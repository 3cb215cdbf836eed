/**
 * Held-out measures of the committed demo models, through the ordinary loaders (`loadModel`,
 * surrogate paths from their file): classifier accuracy, U-Net Dice per class, and how closely
 * each surrogate model follows its original.
 */
import { existsSync } from 'node:fs';
import { SdsError } from '../core/errors.js';
import { loadModel, loadWeights, tf, type Model } from '../models/index.js';
import { SurrogatePaths, VariantModel } from '../saliency/index.js';
import { ClassificationSampler, normaliseInto, SegmentationSampler } from '../training/data.js';
import type { DemoRecipe } from './recipes.js';
import { surrogatePath, weightsPath } from './train.js';
import { AccuracyCounter, argmaxAt, DiceCounter } from '../training/metrics.js';

export interface DemoEvaluation {
  name: string;
  kind: 'classifier' | 'segmentation';
  patches: number;
  patch: number;
  /** Classifier: share of held-out patches classified right, and the counts. */
  accuracy?: number;
  correct?: number;
  /** Classifier: [truth][prediction]. */
  confusion?: number[][];
  /** U-Net: Dice per class name, pixels pooled over the held-out patches. */
  dice?: Record<string, number>;
  pixelAccuracy?: number;
  /** Top-1 (classifier) or pixel-wise (U-Net) agreement of the surrogate model with the original. */
  surrogateAgreement?: number;
  seconds: number;
}

export interface EvaluateOptions {
  /** Evaluate only the first `count` held-out patches (default: the recipe's whole set). */
  count?: number;
  /** Skip the surrogate agreement (faster). */
  skipSurrogate?: boolean;
}

export async function evaluateDemoModel(r: DemoRecipe, dir: string, o: EvaluateOptions = {}): Promise<DemoEvaluation> {
  const t0 = performance.now();
  const count = Math.min(o.count ?? r.heldOut.count, r.heldOut.count);
  for (const f of [weightsPath(dir, r.name), ...(o.skipSurrogate ? [] : [surrogatePath(dir, r.name)])]) {
    if (!existsSync(f)) throw new SdsError('FILE_NOT_FOUND', `${f} does not exist`, { suggestion: 'train the demo models first: npm run train:demo' });
  }
  const model = await loadModel(weightsPath(dir, r.name));
  let paths: SurrogatePaths | undefined;
  try {
    if (!o.skipSurrogate) {
      const w = await loadWeights(surrogatePath(dir, r.name));
      paths = SurrogatePaths.fromStateDict(model, w.tensors, w.source);
    }
    const surrogate = paths ? new VariantModel(model, 'surrogate', paths) : undefined;
    const result = r.spec.kind === 'classifier' ? await classifierHeldOut(r, model, surrogate, count) : await unetHeldOut(r, model, surrogate, count);
    return { ...result, name: r.name, patches: count, patch: r.heldOut.patch, seconds: (performance.now() - t0) / 1000 };
  } finally {
    paths?.dispose();
    model.dispose();
  }
}

type HeldOutMeasures = Omit<DemoEvaluation, 'name' | 'patches' | 'patch' | 'seconds'>;

async function forward(m: Model, x: Float32Array, n: number, size: number): Promise<Float32Array> {
  const y = tf.tidy(() => m.forward(tf.tensor4d(x, [n, size, size, 3])));
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}

async function classifierHeldOut(r: DemoRecipe, model: Model, surrogate: Model | undefined, count: number): Promise<HeldOutMeasures> {
  const h = r.heldOut;
  const sampler = new ClassificationSampler(h.set, h.patch, h.seed);
  const acc = new AccuracyCounter(model.numClasses);
  let agree = 0;
  const B = 16;
  for (let from = 0; from < count; from += B) {
    const b = sampler.batch(from, Math.min(B, count - from));
    const logits = await forward(model, b.x, b.n, b.size);
    acc.add(logits, b.labels);
    if (surrogate) {
      const s = await forward(surrogate, b.x, b.n, b.size);
      for (let j = 0; j < b.n; j++) if (argmaxAt(s, j * 2, 2) === argmaxAt(logits, j * 2, 2)) agree++;
    }
  }
  return { kind: 'classifier', accuracy: acc.accuracy, correct: acc.correct, confusion: acc.confusion, surrogateAgreement: surrogate ? agree / count : undefined };
}

async function unetHeldOut(r: DemoRecipe, model: Model, surrogate: Model | undefined, count: number): Promise<HeldOutMeasures> {
  const h = r.heldOut;
  const sampler = new SegmentationSampler(h.set, h.patch, h.seed);
  const k = model.numClasses;
  const dice = new DiceCounter(k);
  let agree = 0;
  let pixels = 0;
  const side = h.patch;
  for (let i = 0; i < count; i++) {
    const tile = sampler.item(i);
    const x = new Float32Array(side * side * 3);
    normaliseInto(tile.rgb, x, 0);
    const logits = await forward(model, x, 1, side);
    dice.add(logits, tile.labels);
    if (surrogate) {
      const s = await forward(surrogate, x, 1, side);
      for (let p = 0; p < tile.labels.length; p++) if (argmaxAt(s, p * k, k) === argmaxAt(logits, p * k, k)) agree++;
      pixels += tile.labels.length;
    }
  }
  const byClass: Record<string, number> = {};
  r.classes.forEach((c, i) => (byClass[c] = dice.dice(i)));
  return { kind: 'segmentation', dice: byClass, pixelAccuracy: dice.pixelAccuracy, surrogateAgreement: surrogate ? agree / pixels : undefined };
}
