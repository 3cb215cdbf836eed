import { nchwToNhwc, nhwcToNchw } from './layout.js';
import type { Model } from './model.js';
import { tf } from './tf.js';

export interface Prediction {
  /** NCHW like PyTorch: (N,K) or (N,K,H,W). */
  logits: Float32Array;
  shape: number[];
}

/**
 * Runs the model over an NCHW batch in chunks of `batchSize`, so memory stays bounded
 * whatever N is. Returns logits in PyTorch layout.
 */
export async function predictBatch(model: Model, data: Float32Array, shape: readonly [number, number, number, number], batchSize = 16): Promise<Prediction> {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  const parts: Float32Array[] = [];
  let outShape: number[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const m = Math.min(batchSize, n - start);
    const x = nchwToNhwc(data.subarray(start * per, (start + m) * per), m, c, h, w);
    const y = tf.tidy(() => model.forward(tf.tensor4d(x, [m, h, w, c])));
    try {
      const values = (await y.data()) as Float32Array;
      if (y.rank === 4) {
        const [, oh, ow, k] = y.shape as number[];
        parts.push(nhwcToNchw(values, m, oh!, ow!, k!));
        outShape = [n, k!, oh!, ow!];
      } else {
        parts.push(values);
        outShape = [n, y.shape[1]!];
      }
    } finally {
      y.dispose();
    }
  }
  const logits = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    logits.set(p, off);
    off += p.length;
  }
  return { logits, shape: outShape };
}

export interface ClassScore {
  cls: number;
  logit: number;
  probability: number;
}

/** Per image, classes by descending probability (softmax; sigmoid for a single logit). */
export function classScores(logits: Float32Array, n: number, k: number): ClassScore[][] {
  const p = probabilities(logits, n, k);
  const out: ClassScore[][] = [];
  for (let i = 0; i < n; i++) {
    const z = Array.from(logits.subarray(i * k, (i + 1) * k));
    out.push(z.map((logit, cls) => ({ cls, logit, probability: p[i * k + cls]! })).sort((a, b) => b.probability - a.probability));
  }
  return out;
}

/** Per image, the fraction of pixels whose argmax is each class. */
export function classFractions(logits: Float32Array, n: number, k: number, h: number, w: number): number[][] {
  const hw = h * w;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const counts = new Array<number>(k).fill(0);
    const base = i * k * hw;
    for (let p = 0; p < hw; p++) {
      let best = 0;
      let bv = logits[base + p]!;
      for (let c = 1; c < k; c++) {
        const v = logits[base + c * hw + p]!;
        if (v > bv) {
          bv = v;
          best = c;
        }
      }
      counts[best]!++;
    }
    out.push(counts.map((c) => c / hw));
  }
  return out;
}

/**
 * Class probabilities of logits laid out (N, K, HW) (HW = 1 for a classifier): softmax over K, or
 * the sigmoid of a single logit (one-logit models such as MONAI's Camelyon16 ResNet). Float64, the
 * same layout; the one place sds turns logits into probabilities.
 */
export function probabilities(logits: ArrayLike<number>, n: number, k: number, hw = 1): Float64Array {
  const p = new Float64Array(n * k * hw);
  for (let i = 0; i < n; i++)
    for (let q = 0; q < hw; q++) {
      const at = (c: number) => (i * k + c) * hw + q;
      if (k === 1) {
        p[at(0)] = 1 / (1 + Math.exp(-logits[at(0)]!));
        continue;
      }
      let m = -Infinity;
      for (let c = 0; c < k; c++) m = Math.max(m, logits[at(c)]!);
      let s = 0;
      for (let c = 0; c < k; c++) s += Math.exp(logits[at(c)]! - m);
      for (let c = 0; c < k; c++) p[at(c)] = Math.exp(logits[at(c)]! - m) / s;
    }
  return p;
}
