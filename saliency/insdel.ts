/**
 * Insertion and deletion (RISE; SPEC 8): how fast the explained class's probability falls when the
 * most salient pixels are removed, and rises when they are put back into a blurred image.
 */
import { nchwToNhwc, tf, type Model, type Tensor, type Tensor4D } from '../models/index.js';
import { defaultTargets } from './targets.js';

/**
 * The 11x11 insertion blur: scipy `gaussian_filter(delta, sigma=5, truncate=4.0, mode='reflect')`
 * of an 11x11 array with a single 1 at its centre, i.e. a radius-20 Gaussian folded back by
 * half-sample reflection, per axis. Sums to 1.
 */
export function riseBlurKernel(size = 11, sigma = 5, truncate = 4): Float32Array {
  const radius = Math.floor(truncate * sigma + 0.5);
  const w: number[] = [];
  for (let k = -radius; k <= radius; k++) w.push(Math.exp(-0.5 * (k / sigma) ** 2));
  const sum = w.reduce((a, b) => a + b, 0);
  const centre = (size - 1) / 2;
  const reflect = (p: number) => {
    const period = 2 * size;
    let q = ((p % period) + period) % period;
    if (q >= size) q = period - q - 1;
    return q;
  };
  const k1 = new Float64Array(size);
  for (let j = 0; j < size; j++) for (let k = -radius; k <= radius; k++) if (reflect(j + k) === centre) k1[j]! += w[k + radius]! / sum;
  const out = new Float32Array(size * size);
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) out[i * size + j] = k1[i]! * k1[j]!;
  return out;
}

/** Pixel order by descending saliency; ties by lower flat index. */
export function rankPixels(saliency: ArrayLike<number>): Int32Array {
  const idx = Int32Array.from({ length: saliency.length }, (_, i) => i);
  return idx.sort((a, b) => saliency[b]! - saliency[a]! || a - b);
}

export interface InsDelResult {
  deletion: Float64Array;
  insertion: Float64Array;
  deletionAuc: number;
  insertionAuc: number;
  step: number;
  cls: number;
}

export function auc(scores: ArrayLike<number>): number {
  const n = scores.length - 1;
  let s = 0;
  for (let i = 0; i <= n; i++) s += scores[i]!;
  return (s - scores[0]! / 2 - scores[n]! / 2) / n;
}

/** Probability of `cls` per image: softmax (sigmoid for one logit); segmentation: mean over pixels. */
function classProbability(model: Model, out: Tensor, cls: number): Tensor {
  if (model.kind === 'classifier') {
    const p = model.numClasses === 1 ? tf.sigmoid(out) : tf.softmax(out);
    return tf.squeeze(tf.slice(p, [0, cls], [-1, 1]), [1]);
  }
  const p = model.numClasses === 1 ? tf.sigmoid(out) : tf.softmax(out);
  return tf.mean(tf.slice(p, [0, 0, 0, cls], [-1, -1, -1, 1]), [1, 2, 3]);
}

/**
 * One image (3,H,W normalized, NCHW) and its input-resolution map (H,W).
 * `cls` defaults to the class the model predicts for the unmodified image.
 */
export async function insertionDeletion(model: Model, image: Float32Array, height: number, width: number, saliency: ArrayLike<number>, options: { cls?: number; batch?: number } = {}): Promise<InsDelResult> {
  const hw = height * width;
  const step = 8 * width;
  const n = Math.ceil(hw / step);
  const order = rankPixels(saliency);
  const batch = options.batch ?? 16;
  const blurred = tf.tidy(() => {
    const x = tf.tensor4d(nchwToNhwc(image, 1, 3, height, width), [1, height, width, 3]);
    const k = tf.tensor4d(riseBlurKernel(), [11, 11, 1, 1]);
    const b = tf.depthwiseConv2d(x, tf.tile(k, [1, 1, 3, 1]) as Tensor4D, 1, 5);
    return b.dataSync() as Float32Array; // NHWC
  });
  const base = nchwToNhwc(image, 1, 3, height, width);
  let cls = options.cls;
  if (cls === undefined) {
    // SPEC 5, as every method picks its default target
    cls = tf.tidy(() => defaultTargets(model, model.forward(tf.tensor4d(base, [1, height, width, 3])))[0]!);
  }
  const scoresFor = async (start: Float32Array, fill: Float32Array | null): Promise<Float64Array> => {
    const scores = new Float64Array(n + 1);
    const cur = Float32Array.from(start);
    let k = 0;
    while (k <= n) {
      const m = Math.min(batch, n + 1 - k);
      const stack = new Float32Array(m * hw * 3);
      for (let j = 0; j < m; j++) {
        const kk = k + j;
        if (kk > 0) {
          // apply step kk: pixels ranked [(kk-1)*step, kk*step)
          for (let r = (kk - 1) * step; r < Math.min(kk * step, hw); r++) {
            const p = order[r]! * 3;
            for (let c = 0; c < 3; c++) cur[p + c] = fill ? fill[p + c]! : 0;
          }
        }
        stack.set(cur, j * hw * 3);
      }
      const probs = tf.tidy(() => classProbability(model, model.forward(tf.tensor4d(stack, [m, height, width, 3])), cls!).dataSync());
      for (let j = 0; j < m; j++) scores[k + j] = probs[j]!;
      k += m;
    }
    return scores;
  };
  const deletion = await scoresFor(base, null);
  const insertion = await scoresFor(blurred, base);
  return { deletion, insertion, deletionAuc: auc(deletion), insertionAuc: auc(insertion), step, cls };
}
