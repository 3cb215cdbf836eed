import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine, loadModel, loadWeights, seededNormal, tf, writeSafetensors, type Tensor4D } from '../../models/index.js';
import { SurrogatePaths } from '../../saliency/index.js';
import { DEMO_MODELS, evaluateDemoModel, RECIPES } from '../../demo/index.js';
import {
  AdamW,
  AccuracyCounter,
  batchNormTrain,
  createTrainable,
  crossEntropy,
  DiceCounter,
  diceCrossEntropy,
  dihedral,
  lossAndGradients,
  predict,
  trainStep,
  updatedRunningStats,
  type NetSpec,
  type TrainableNet,
} from '../../training/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'sds-train-demo-'));
const TINY: NetSpec = { kind: 'classifier', depth: 18, width: 4, numClasses: 2 };
const TINY_UNET: NetSpec = { kind: 'unet', depth: 34, width: 4, decoderChannels: [16, 8, 8, 4, 4], numClasses: 3 };

/** A fixed toy batch: class 1 images are brighter in the centre, so the task is learnable. */
function toyBatch(n: number, size: number, seed: number): { x: Tensor4D; y: tf.Tensor1D } {
  const r = seededNormal(seed);
  const data = new Float32Array(n * size * size * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < size * size; p++) {
      const yy = Math.floor(p / size) - size / 2;
      const xx = (p % size) - size / 2;
      const centre = Math.hypot(xx, yy) < size / 4 ? 1 : 0;
      for (let c = 0; c < 3; c++) data[(i * size * size + p) * 3 + c] = 0.5 * r() + (labels[i] ? centre : 0);
    }
  }
  return { x: tf.tensor4d(data, [n, size, size, 3]), y: tf.tensor1d(labels, 'int32') };
}

function optimiserFor(net: TrainableNet, lr = 3e-3): AdamW {
  return new AdamW(new Map([...net.store.params].map(([k, e]) => [k, e.variable])), { lr, weightDecay: 1e-4 }, (k) => net.store.decays(k));
}

async function lossOf(net: TrainableNet, x: Tensor4D, y: tf.Tensor): Promise<number> {
  const l = tf.tidy(() => crossEntropy(net.forward(x, { training: true }), y));
  const v = (await l.data())[0]!;
  l.dispose();
  return v;
}

beforeAll(async () => {
  await initEngine({ announce: false });
});

describe('training machinery (tiny networks, analytic checks)', () => {
  it('BatchNorm in training mode is the analytic batch normalisation, and its running update is PyTorch\'s', () => {
    const [n, h, w, c] = [3, 4, 5, 2];
    const r = seededNormal(7);
    const xs = Float32Array.from({ length: n * h * w * c }, () => 3 * r() + 1);
    const gamma = [1.5, -0.5];
    const beta = [0.25, 2];
    const { y, stats } = tf.tidy(() => {
      const o = batchNormTrain(tf.tensor4d(xs, [n, h, w, c]), tf.tensor1d(gamma), tf.tensor1d(beta));
      return { y: tf.keep(o.y), stats: { mean: tf.keep(o.stats.mean), variance: tf.keep(o.stats.variance), count: o.stats.count } };
    });
    const ys = y.dataSync();
    const m = stats.mean.dataSync();
    const v = stats.variance.dataSync();
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let i = ch; i < xs.length; i += c) sum += xs[i]!;
      const mean = sum / (n * h * w);
      let sq = 0;
      for (let i = ch; i < xs.length; i += c) sq += (xs[i]! - mean) ** 2;
      const variance = sq / (n * h * w);
      expect(m[ch]).toBeCloseTo(mean, 5);
      expect(v[ch]).toBeCloseTo(variance, 4);
      for (let i = ch; i < xs.length; i += c) expect(ys[i]).toBeCloseTo(((xs[i]! - mean) / Math.sqrt(variance + 1e-5)) * gamma[ch]! + beta[ch]!, 4);
    }
    expect(stats.count).toBe(n * h * w);
    // running statistics from (0, 1): 0.1 * batch mean, 0.9 + 0.1 * unbiased batch variance
    const [r0, r1] = [tf.tensor1d([0, 0]), tf.tensor1d([1, 1])];
    const [rm, rv] = updatedRunningStats(r0, r1, stats);
    const count = n * h * w;
    for (let ch = 0; ch < c; ch++) {
      expect(rm.dataSync()[ch]).toBeCloseTo(0.1 * m[ch]!, 6);
      expect(rv.dataSync()[ch]).toBeCloseTo(0.9 + (0.1 * v[ch]! * count) / (count - 1), 5);
    }
    for (const t of [y, stats.mean, stats.variance, r0, r1, rm, rv]) t.dispose();
  });

  it('one AdamW step is the closed-form update (first step: lr * g / (|g| + eps), decoupled decay)', () => {
    const p = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const opt = new AdamW(new Map([['p', p]]), { lr: 0.1, weightDecay: 0.5 });
    const g = [0.3, -4, 0];
    opt.apply(new Map([['p', tf.tensor1d(g)]]));
    const after = p.dataSync();
    [1, -2, 0.5].forEach((v, i) => expect(after[i]).toBeCloseTo(v * (1 - 0.1 * 0.5) - (0.1 * g[i]!) / (Math.abs(g[i]!) + 1e-8), 5));
    opt.dispose();
    p.dispose();
  });

  it('the gradient of single parameters equals a central finite difference (BatchNorm in training mode)', async () => {
    // width 8 at 64 px: BatchNorm over 1x1 maps of 4 images (width 4, 32 px) curves the loss too much for a finite difference
    const net = createTrainable({ ...TINY, width: 8 }, { seed: 3 });
    const { x, y } = toyBatch(4, 64, 1);
    const keys = ['conv1.weight', 'layer2.0.bn1.weight', 'layer3.1.conv2.weight', 'fc.bias'];
    const { loss, grads, stats } = lossAndGradients(net, x, y, crossEntropy);
    loss.dispose();
    for (const [, s] of stats) [s.mean, s.variance].forEach((t) => t.dispose());
    for (const key of keys) {
      const v = net.store.params.get(key)!.variable;
      const g = grads.get(key)!.dataSync();
      // the parameter entry with the largest gradient: clearly above float32 noise
      let at = 0;
      for (let i = 0; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[at]!)) at = i;
      const base = v.dataSync().slice();
      const eps = 1e-3;
      const shifted = async (d: number) => {
        const w = base.slice();
        w[at] = w[at]! + d;
        v.assign(tf.tensor(w, v.shape));
        return lossOf(net, x, y);
      };
      const fd = ((await shifted(eps)) - (await shifted(-eps))) / (2 * eps);
      v.assign(tf.tensor(base, v.shape));
      expect(Math.abs(fd - g[at]!), `${key}[${at}]: finite difference ${fd}, gradient ${g[at]}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(g[at]!));
    }
    for (const t of grads.values()) t.dispose();
    net.store.dispose();
    x.dispose();
    y.dispose();
  });

  it('training a tiny ResNet lowers the loss on a fixed toy batch, with a flat tensor count', async () => {
    const net = createTrainable(TINY, { seed: 5 });
    const opt = optimiserFor(net);
    const { x, y } = toyBatch(8, 32, 2);
    const before = await lossOf(net, x, y);
    let count = -1;
    for (let s = 0; s < 25; s++) {
      await trainStep(net, opt, x, y, crossEntropy);
      if (s === 1) count = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(count);
    const after = await lossOf(net, x, y);
    expect(after).toBeLessThan(0.5 * before);
    // the running statistics moved off their initial (0, 1)
    const rm = net.store.buffers.get('bn1.running_mean')!.variable.dataSync();
    expect(Math.max(...Array.from(rm, Math.abs))).toBeGreaterThan(1e-3);
    expect(net.store.batchesTracked).toBe(25);
    opt.dispose();
    net.store.dispose();
    x.dispose();
    y.dispose();
  });

  it.each([
    ['ResNet18 width 4', TINY, 32],
    ['U-Net ResNet34 width 4', TINY_UNET, 64],
  ] as const)('a trained %s round-trips through safetensors (F32 exactly, F16 within its precision) and loads with loadModel', async (_, spec, size) => {
    const net = createTrainable(spec, { seed: 9 });
    const opt = optimiserFor(net);
    const { x, y } = toyBatch(4, size, 4);
    const labels = spec.kind === 'unet' ? tf.tidy(() => tf.cast(tf.greater(tf.mean(x, 3), 0.5), 'int32')) : y;
    for (let s = 0; s < 3; s++) await trainStep(net, opt, x, labels, spec.kind === 'unet' ? diceCrossEntropy : crossEntropy);
    const ours = await predict(net, x);
    let scale = 0;
    for (const v of ours) scale = Math.max(scale, Math.abs(v));
    for (const dtype of ['F32', 'F16'] as const) {
      const path = join(tmp, `${spec.kind}-${dtype}.safetensors`);
      await writeSafetensors(path, await net.store.toStateDict(dtype));
      const model = await loadModel(path);
      expect(model.arch).toBe(spec.kind === 'unet' ? 'unet-resnet34' : 'resnet18');
      const theirs = tf.tidy(() => model.forward(x)).dataSync();
      model.dispose();
      let d = 0;
      for (let i = 0; i < ours.length; i++) d = Math.max(d, Math.abs(ours[i]! - theirs[i]!));
      expect(d / scale, dtype).toBeLessThan(dtype === 'F32' ? 1e-5 : 1e-2);
    }
    if (labels !== y) labels.dispose();
    opt.dispose();
    net.store.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('metrics and augmentation (analytic)', () => {
  it('accuracy and per-class Dice from known predictions', () => {
    const acc = new AccuracyCounter(2);
    acc.add([2, 1, 0, 3, 5, 4], [0, 1, 1]); // predictions 0, 1, 0
    expect(acc.accuracy).toBeCloseTo(2 / 3, 10);
    expect(acc.confusion).toEqual([[1, 0], [1, 1]]);
    const dice = new DiceCounter(3);
    // predictions 0, 1, 2, 2; truth 0, 1, 1, 2
    dice.add([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1], [0, 1, 1, 2]);
    expect(dice.dice(0)).toBe(1);
    expect(dice.dice(1)).toBeCloseTo((2 * 1) / (1 + 2), 10);
    expect(dice.dice(2)).toBeCloseTo((2 * 1) / (2 + 1), 10);
  });

  it('the 8 dihedral transforms are distinct bijections, and transposing twice is the identity', () => {
    const img = Uint8Array.from({ length: 9 }, (_, i) => i);
    const seen = new Set<string>();
    for (let k = 0; k < 8; k++) {
      const t = dihedral(img, 3, 1, k);
      expect([...t].sort((a, b) => a - b)).toEqual([...img]);
      seen.add(t.join(','));
    }
    expect(seen.size).toBe(8);
    expect([...dihedral(dihedral(img, 3, 1, 4), 3, 1, 4)]).toEqual([...img]);
    expect([...dihedral(img, 3, 1, 1)]).toEqual([2, 1, 0, 5, 4, 3, 8, 7, 6]);
  });
});

/**
 * The committed demo weights against the numbers models-demo/README.md states for its quick
 * check (the first held-out patches of `sds evaluate-demo`, scenes never trained on).
 */
const DEMO_DIR = fileURLToPath(new URL('../../models-demo/', import.meta.url));
const hasDemo = DEMO_MODELS.every((m) => existsSync(`${DEMO_DIR}${m}.safetensors`) && existsSync(`${DEMO_DIR}${m}.surrogate.safetensors`));
if (!hasDemo) console.warn(`[sds tests] ${DEMO_DIR} lacks the demo weights: run \`npm run train:demo\`; their checks are skipped`);

function readmeLine(pattern: RegExp): RegExpMatchArray {
  const text = readFileSync(`${DEMO_DIR}README.md`, 'utf8');
  const m = pattern.exec(text);
  if (!m) throw new Error(`models-demo/README.md has no line matching ${pattern}`);
  return m;
}

describe.skipIf(!hasDemo)('committed demo models reach the held-out numbers their README states', () => {
  it('tumour-resnet18: quick-check accuracy, and its surrogate agrees with it', async () => {
    const [, pctText, correct, count] = readmeLine(/quick check, tumour-resnet18: accuracy ([\d.]+)% \((\d+)\/(\d+)\)/);
    const r = await evaluateDemoModel(RECIPES['tumour-resnet18'], DEMO_DIR, { count: Number(count) });
    expect(r.patches).toBe(Number(count));
    // float differences between engines may flip a patch on the decision boundary, not more
    expect(Math.abs(r.correct! - Number(correct))).toBeLessThanOrEqual(1);
    expect(100 * r.accuracy!).toBeGreaterThanOrEqual(Number(pctText) - 100 / Number(count) - 0.05);
    expect(r.accuracy).toBeGreaterThan(0.9);
    expect(r.surrogateAgreement).toBeGreaterThan(0.8);
  });

  it('tissue-unet34: quick-check Dice for tumour and nuclei on a 1536 px patch; its surrogate paths load', async () => {
    const [, tumour, nuclei, count] = readmeLine(/quick check, tissue-unet34: Dice tumour ([\d.]+), nuclei ([\d.]+) \((\d+) patch/);
    const r = await evaluateDemoModel(RECIPES['tissue-unet34'], DEMO_DIR, { count: Number(count), skipSurrogate: true });
    expect(r.patch).toBe(1536);
    expect(r.dice!.tumour).toBeGreaterThanOrEqual(Number(tumour) - 0.005);
    expect(r.dice!.nuclei).toBeGreaterThanOrEqual(Number(nuclei) - 0.005);
    const model = await loadModel(`${DEMO_DIR}tissue-unet34.safetensors`);
    const w = await loadWeights(`${DEMO_DIR}tissue-unet34.surrogate.safetensors`);
    const paths = SurrogatePaths.fromStateDict(model, w.tensors, w.source);
    expect(paths.paths.size).toBe(model.hookPoints.length - 1);
    paths.dispose();
    model.dispose();
  });
});
