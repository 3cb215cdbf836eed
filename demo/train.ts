/**
 * Trains one demo model from its recipe: renders its training patches, trains the network
 * (resumable checkpoints), exports it as an F16 state_dict that loads like a torchvision / smp
 * one, then trains its surrogate paths on the exported model (teacher forcing, as
 * `sds train-surrogate`).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, pytorchConvInit, tf, writeSafetensors, type Tensor, type Tensor4D } from '../models/index.js';
import { SurrogatePaths, SurrogateTrainer } from '../saliency/index.js';
import { AdamW, warmupCosine } from '../training/adam.js';
import { loadCheckpoint } from '../training/checkpoint.js';
import { ClassificationSampler, PatchPool, SegmentationSampler, type Batch } from '../training/data.js';
import type { DemoRecipe } from './recipes.js';
import { crossEntropy, diceCrossEntropy } from '../training/losses.js';
import { runTraining } from '../training/loop.js';
import { createTrainable, type TrainableNet } from '../training/networks.js';

/** Rendering the training patches, training the model, training its surrogate paths. */
export type DemoPhase = 'data' | 'model' | 'surrogate';

export interface DemoTrainOptions {
  /** Continue from the checkpoint; a model already finished keeps its surrogate paths. */
  resume?: boolean;
  /** Override the recipe's step counts (quick runs). */
  steps?: number;
  surrogateSteps?: number;
  /** Progress: items rendered (loss NaN), or steps done with the step's loss. */
  onStep?(phase: DemoPhase, done: number, total: number, loss: number): void;
  log?(line: string): void;
}

export interface DemoTrainResult {
  weights: string;
  surrogate: string;
  steps: number;
  /** Seconds spent rendering the training patches (this run). */
  dataSeconds: number;
  /** Seconds of model training (resumed runs summed). */
  seconds: number;
  finalLoss: number;
  surrogateSteps: number;
  surrogateSeconds: number;
  surrogateLoss: number;
  bytes: number;
}

export const weightsPath = (dir: string, name: string) => join(dir, `${name}.safetensors`);
export const surrogatePath = (dir: string, name: string) => join(dir, `${name}.surrogate.safetensors`);

/** Host batch -> engine tensors: images NHWC; labels (N) or (N,H,W). */
function toTensors(b: Batch, perPixel: boolean): { x: Tensor4D; labels: Tensor } {
  const x = tf.tensor4d(b.x, [b.n, b.size, b.size, 3]);
  const labels = perPixel ? tf.tensor3d(b.labels, [b.n, b.size, b.size], 'int32') : tf.tensor1d(b.labels, 'int32');
  return { x, labels };
}

/** The recipe's training patches, rendered from its training scenes. */
function renderPool(r: DemoRecipe, o: DemoTrainOptions): PatchPool {
  const onItem = (done: number) => o.onStep?.('data', done, r.pool.count, NaN);
  return r.spec.kind === 'classifier'
    ? PatchPool.classification(new ClassificationSampler(r.train, r.pool.side, r.seed), r.pool.count, onItem)
    : PatchPool.segmentation(new SegmentationSampler(r.train, r.pool.side, r.seed), r.pool.count, onItem);
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);

export async function trainDemoModel(r: DemoRecipe, dir: string, o: DemoTrainOptions = {}): Promise<DemoTrainResult> {
  const ckptDir = join(dir, '.checkpoints');
  mkdirSync(ckptDir, { recursive: true });
  const ckptPath = join(ckptDir, `${r.name}.ckpt.safetensors`);
  const steps = o.steps ?? r.steps;
  const ckpt = o.resume ? await loadCheckpoint(ckptPath) : undefined;
  const stepsBefore = ckpt?.step ?? 0;
  // surrogate paths from an earlier run fit only if the model has not moved since
  const keepSurrogate = o.resume === true && stepsBefore >= steps && existsSync(surrogatePath(dir, r.name));
  const t0 = performance.now();
  const pool = stepsBefore < steps || !keepSurrogate ? renderPool(r, o) : undefined;
  const dataSeconds = (performance.now() - t0) / 1000;
  const net: TrainableNet = createTrainable(r.spec, ckpt ? { weights: ckpt.weights, source: ckptPath } : { seed: r.seed });
  const optimiser = new AdamW(new Map([...net.store.params].map(([k, e]) => [k, e.variable])), { lr: r.lr, weightDecay: r.weightDecay }, (k) => net.store.decays(k));
  let trained;
  try {
    if (ckpt) {
      optimiser.restore(ckpt.step, ckpt.m, ckpt.v);
      net.store.batchesTracked = ckpt.batchesTracked;
      o.log?.(`${r.name}: resuming from ${ckptPath} at step ${ckpt.step}`);
    }
    const perPixel = r.spec.kind === 'unet';
    trained = await runTraining({
      net,
      optimiser,
      steps,
      batch: (step) => toTensors(pool!.batch(step, r.batch, r.patch), perPixel),
      loss: perPixel ? diceCrossEntropy : crossEntropy,
      lr: (step) => warmupCosine(r.lr, step, steps, r.warmup),
      checkpoint: { path: ckptPath, every: 25 },
      secondsBefore: ckpt?.seconds,
      onStep: (step, loss) => o.onStep?.('model', step, steps, loss),
    });
    await writeSafetensors(weightsPath(dir, r.name), await net.store.toStateDict('F16'), {
      format: 'sds-demo-model',
      sds_arch: net.arch,
      classes: r.classes.join(','),
      normalization: 'imagenet',
      mpp: '0.5',
      width: String(r.spec.width),
      ...(r.spec.kind === 'unet' ? { decoder_channels: r.spec.decoderChannels.join(',') } : {}),
      patch: String(r.patch),
      train_steps: String(steps),
      train_batch: String(r.batch),
      train_seconds: trained.seconds.toFixed(0),
      train_scenes: `slides-sample/scene.ts seeds ${r.train.seeds[0]}-${r.train.seeds.at(-1)}, ${r.train.size} px; ${r.pool.count} patches of ${r.pool.side} px`,
    });
  } finally {
    optimiser.dispose();
    net.store.dispose();
  }
  if (keepSurrogate) o.log?.(`${r.name}: the model was already trained; its surrogate paths ${surrogatePath(dir, r.name)} are kept (delete the file to retrain them)`);
  const surrogate = keepSurrogate ? { surrogateSteps: 0, surrogateSeconds: 0, surrogateLoss: NaN } : await trainDemoSurrogate(r, dir, pool!, o);
  const bytes = statSync(weightsPath(dir, r.name)).size + statSync(surrogatePath(dir, r.name)).size;
  return { weights: weightsPath(dir, r.name), surrogate: surrogatePath(dir, r.name), steps, dataSeconds, seconds: trained.seconds, finalLoss: trained.finalLoss, ...surrogate, bytes };
}

/** Surrogate paths for the exported (F16) model, trained with the recipe's surrogate settings. */
async function trainDemoSurrogate(r: DemoRecipe, dir: string, pool: PatchPool, o: DemoTrainOptions): Promise<{ surrogateSteps: number; surrogateSeconds: number; surrogateLoss: number }> {
  const s = r.surrogate;
  const steps = o.surrogateSteps ?? s.steps;
  const model = await loadModel(weightsPath(dir, r.name));
  const paths = SurrogatePaths.fromStateDict(model, new Map(), 'random init', { init: pytorchConvInit(s.seed), trainable: true });
  const trainer = new SurrogateTrainer(model, paths, { lr: s.lr });
  try {
    const t0 = performance.now();
    const recent: number[] = [];
    let baseline: number | undefined;
    for (let step = 0; step < steps; step++) {
      const b = pool.batch(step, s.batch, s.patch, 1);
      const x = tf.tensor4d(b.x, [b.n, b.size, b.size, 3]);
      let loss: number;
      try {
        loss = await trainer.trainStep(x);
      } finally {
        x.dispose();
      }
      recent.push(loss);
      if (recent.length > 20) recent.shift();
      const live = tf.memory().numTensors;
      baseline ??= live;
      if (live > baseline) throw new Error(`tensor leak in surrogate training: ${live} live tensors, ${baseline} after the first step`);
      o.onStep?.('surrogate', step + 1, steps, loss);
    }
    const seconds = (performance.now() - t0) / 1000;
    const sd = await paths.toStateDict();
    await writeSafetensors(surrogatePath(dir, r.name), new Map([...sd].map(([k, t]) => [k, { ...t, dtype: 'F16' as const }])), {
      format: 'sds-surrogate',
      arch: model.arch,
      hook_points: model.hookPoints.slice(1).join(','),
      steps: String(steps),
      train_seconds: seconds.toFixed(0),
    });
    return { surrogateSteps: steps, surrogateSeconds: seconds, surrogateLoss: mean(recent) };
  } finally {
    trainer.dispose();
    paths.dispose();
    model.dispose();
  }
}
