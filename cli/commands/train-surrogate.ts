import { existsSync } from 'node:fs';
import { z } from 'zod';
import { initEngine, openModel, modelSpecFromArgs, loadWeights, nchwToNhwc, pytorchConvInit, readSafetensors, seededRandom, tf, writeSafetensors, type Model, type Tensor, type WritableTensor } from '../../models/index.js';
import { openPatchSource, type PatchSource } from '../../pipeline/index.js';
import { argmax, predictionDifference, SurrogatePaths, SurrogateTrainer, VariantModel } from '../../saliency/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../common-options.js';
import { Progress } from '../progress.js';
import { printTable } from '../table.js';

function shuffled(indices: number[], seed: number): number[] {
  const r = seededRandom(seed);
  const a = [...indices];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export const trainSurrogateCommand = defineCommand({
  name: 'train-surrogate',
  summary: 'Train the bilinear surrogate paths of a model (frozen) on image patches.',
  usage: 'sds train-surrogate --weights W [--arch A] --data D --out P [--epochs 10] [--batch 64] [--lr 1e-3] [--init P0] [--steps N] [--seed S] [--resume]',
  schema: z.object({
    ...MODEL_OPTIONS,
    patch: opt.int('N', 'patch side when --data is a slide or a folder of .svs slides (default 224; tissue only)').min(32).max(4096).default(224),
    ...BACKEND_OPTION,
    data: opt.required('D', 'folder of image patches, or .safetensors with `input` (N,3,H,W) normalized'),
    out: opt.required('FILE', 'trained paths (.safetensors, `<hook point>.conv_one.weight` ...); checkpoint beside it'),
    epochs: opt.int('N', 'epochs (default 10)').min(1).max(100000).default(10),
    batch: opt.int('N', 'patches per step (default 64)').min(1).max(4096).default(64),
    lr: opt.number('LR', 'Adam learning rate (default 1e-3)').positive().max(1).default(1e-3),
    init: opt.string('FILE', 'start from these paths instead of a seeded random init').optional(),
    steps: opt.int('N', 'stop after N steps in total').min(1).optional(),
    seed: opt.int('S', 'seed for initialisation, shuffling and the held-out split (default 0)').min(0).default(0),
    holdout: opt.number('F', 'fraction of patches held out for the final check (default 0.1 for a folder, 0 for a tensor batch)').min(0).max(0.9).optional(),
    resume: opt.flag('continue from <out>.ckpt.safetensors if it exists'),
    normalize: opt.enum(['imagenet', 'minus1to1', 'none'], 'N', "for image patches: imagenet|minus1to1|none (default: the model's own)").optional(),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const model = await openModel(modelSpecFromArgs(o.weights, o.arch));
    const ckptPath = `${o.out}.ckpt.safetensors`;
    let paths: SurrogatePaths | undefined;
    let trainer: SurrogateTrainer | undefined;
    let source: PatchSource | undefined;
    try {
      source = await openPatchSource(o.data, o.normalize ?? model.normalization, { patch: o.patch });
      const all = Array.from({ length: source.count }, (_, i) => i);
      const holdoutShare = o.holdout ?? (source.ordered ? 0 : 0.1);
      const perm = source.ordered ? all : shuffled(all, o.seed);
      const nHold = Math.min(source.count - 1, Math.ceil(holdoutShare * source.count));
      const held = perm.slice(0, nHold);
      const train = perm.slice(nHold);
      const resume = o.resume && existsSync(ckptPath);
      let startEpoch = 0;
      let ckpt: Awaited<ReturnType<typeof readSafetensors>> | undefined;
      if (resume) {
        ckpt = await readSafetensors(ckptPath);
        const pathWeights = new Map([...ckpt.tensors].filter(([k]) => !k.startsWith('adam.')));
        paths = SurrogatePaths.fromStateDict(model, pathWeights, ckptPath, { trainable: true });
        startEpoch = Number(ckpt.metadata.epoch) + 1;
      } else if (o.init) {
        const w = await loadWeights(o.init);
        paths = SurrogatePaths.fromStateDict(model, w.tensors, w.source, { trainable: true });
      } else {
        paths = SurrogatePaths.fromStateDict(model, new Map(), 'random init', { init: pytorchConvInit(o.seed), trainable: true });
      }
      trainer = new SurrogateTrainer(model, paths, { lr: o.lr });
      if (ckpt) {
        const m = new Map<string, Tensor>();
        const v = new Map<string, Tensor>();
        for (const [k, t] of ckpt.tensors) {
          if (k.startsWith('adam.m/')) m.set(k.slice(7), tf.tensor(t.data as Float32Array, t.shape));
          if (k.startsWith('adam.v/')) v.set(k.slice(7), tf.tensor(t.data as Float32Array, t.shape));
        }
        trainer.restoreMoments(Number(ckpt.metadata.step), m, v);
        process.stderr.write(`sds: resuming from ${ckptPath} after epoch ${startEpoch} (step ${trainer.step})\n`);
      }
      const stepsPerEpoch = Math.ceil(train.length / o.batch);
      const totalSteps = Math.min(o.steps ?? Infinity, o.epochs * stepsPerEpoch);
      process.stderr.write(`sds: ${source.description}; training on ${train.length}, holding out ${held.length}; ${model.hookPoints.length - 1} paths; ${totalSteps} steps\n`);
      const progress = new Progress('steps', totalSteps);
      const t0 = performance.now();
      let seen = 0;
      const { height: h, width: w } = source;
      let lastLoss = NaN;
      for (let epoch = startEpoch; epoch < o.epochs && trainer.step < totalSteps; epoch++) {
        const order = source.ordered ? train : shuffled(train, o.seed * 1000 + epoch + 1);
        for (let b = 0; b < order.length && trainer.step < totalSteps; b += o.batch) {
          const idx = order.slice(b, b + o.batch);
          const data = await source.read(idx);
          const x = tf.tensor4d(nchwToNhwc(data, idx.length, 3, h, w), [idx.length, h, w, 3]);
          try {
            lastLoss = await trainer.trainStep(x);
          } finally {
            x.dispose();
          }
          seen += idx.length;
          const rate = seen / ((performance.now() - t0) / 1000);
          progress.update(trainer.step, `epoch ${epoch + 1}/${o.epochs}  loss ${lastLoss.toFixed(5)}  ${rate.toFixed(1)} patches/s`);
        }
        await saveCheckpoint(ckptPath, paths, trainer, epoch, model);
      }
      progress.done();
      const weights = await paths.toStateDict();
      await writeSafetensors(o.out, weights, { format: 'sds-surrogate', arch: model.arch, hook_points: model.hookPoints.slice(1).join(','), steps: String(trainer.step) });
      process.stderr.write(`sds: ${trainer.step} steps, last loss ${lastLoss.toFixed(5)} -> ${o.out}\n`);
      await reportAgreement(model, paths, source, held.length ? held : train, held.length ? 'held-out' : 'training (nothing held out)');
      return 0;
    } finally {
      await source?.close?.();
      trainer?.dispose();
      paths?.dispose();
      model.dispose();
    }
  },
});

async function saveCheckpoint(path: string, paths: SurrogatePaths, trainer: SurrogateTrainer, epoch: number, model: Model): Promise<void> {
  const out = new Map<string, WritableTensor>(await paths.toStateDict());
  const { m, v } = trainer.moments();
  for (const [k, t] of m) out.set(`adam.m/${k}`, { shape: t.shape, data: (await t.data()) as Float32Array });
  for (const [k, t] of v) out.set(`adam.v/${k}`, { shape: t.shape, data: (await t.data()) as Float32Array });
  await writeSafetensors(path, out, { format: 'sds-surrogate-checkpoint', arch: model.arch, epoch: String(epoch), step: String(trainer.step) });
}

/** How closely the surrogate model follows the original (SPEC 9), on patches it was not trained on. */
async function reportAgreement(model: Model, paths: SurrogatePaths, source: PatchSource, indices: number[], label: string): Promise<void> {
  const surrogate = new VariantModel(model, 'surrogate', paths);
  const { height: h, width: w } = source;
  let agree = 0;
  let total = 0;
  let diffAll = 0;
  let diffTarget = 0;
  for (let b = 0; b < indices.length; b += 16) {
    const idx = indices.slice(b, b + 16);
    const data = await source.read(idx);
    const [p, q] = tf.tidy(() => {
      const x = tf.tensor4d(nchwToNhwc(data, idx.length, 3, h, w), [idx.length, h, w, 3]);
      return [model.forward(x), surrogate.forward(x)];
    });
    const [pv, qv] = [(await p!.data()) as Float32Array, (await q!.data()) as Float32Array];
    const k = model.numClasses;
    if (model.kind === 'classifier') {
      const n = idx.length;
      const targets = Array.from({ length: n }, (_, i) => argmax(pv, i * k, k));
      const d = predictionDifference(pv, qv, n, k, targets);
      for (let i = 0; i < n; i++) {
        diffAll += d.all[i]!;
        diffTarget += d.target[i]!;
        if (argmax(qv, i * k, k) === targets[i]) agree++;
      }
      total += n;
    } else {
      const pixels = pv.length / k;
      for (let i = 0; i < pixels; i++) if (argmax(pv, i * k, k) === argmax(qv, i * k, k)) agree++;
      total += pixels;
    }
    p!.dispose();
    q!.dispose();
  }
  const rows = model.kind === 'classifier'
    ? [
        ['prediction difference, all classes (x100)', ((100 * diffAll) / total).toFixed(3)],
        ['prediction difference, predicted class (x100)', ((100 * diffTarget) / total).toFixed(3)],
        ['top-1 agreement with the original', `${((100 * agree) / total).toFixed(2)}%`],
      ]
    : [['pixel-wise class agreement with the original', `${((100 * agree) / total).toFixed(2)}%`]];
  process.stdout.write(`surrogate vs original on ${indices.length} ${label} patches\n`);
  printTable(['measure', 'value'], rows);
}

