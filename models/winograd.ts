/**
 * 3x3, stride-1, pad-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016):
 * each 2x2 output tile costs 16 multiplications per channel pair instead of 36. The WASM engine's
 * convolution already runs near the SIMD peak, so fewer multiplications is what is left to gain:
 * 1.5x at 128 channels, 1.7-1.9x at 256-512 (16 images, one thread), nothing at 64.
 *
 * Used for the input gradient of constant 3x3 convolutions (a 3x3 stride-1 convolution of dy with
 * the rotated filter), not for forward passes: its rounding (~2e-6 of the largest output, direct
 * convolution ~1e-7) is harmless in a gradient, but in a forward pass it moves pre-activations
 * that sit next to zero across the ReLU threshold. It did so once in the PyTorch fixtures, and a
 * flipped ReLU changes the gradient below it by far more than rounding.
 *
 * Built from engine kernels, without transposes (slow on WASM):
 * - input transform V_rq = B^T d B as 16 depthwise 3x3 stride-2 convolutions (basis rows 0..2 use
 *   taps 0..2 of the 4-row window, row 3 taps 1..3: the same window shifted by one, i.e. other
 *   padding), each already in NHWC layout for
 * - 16 1x1 convolutions (GEMMs) with the transformed filter U_rq = (G g G^T)_rq,
 * - the output transform A^T M A as sums and differences, interleaved into the 2x2 tiles.
 */
import { tf, type Tensor4D } from './tf.js';

const BT = [
  [1, 0, -1, 0],
  [0, 1, 1, 0],
  [0, -1, 1, 0],
  [0, 1, 0, -1],
] as const;
const G = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
] as const;

/** SDS_WINOGRAD=0 turns it off (to compare; the engine's convolution is then used throughout). */
const enabled = process.env.SDS_WINOGRAD !== '0';

/** Below this many input or output channels the transforms cost what the GEMMs save. */
export const WINOGRAD_MIN_CHANNELS = 128;

export function winogradApplies(xShape: readonly number[], filterShape: readonly number[], stride: number, pad: number): boolean {
  const [, h, w] = xShape as [number, number, number, number];
  const [kh, kw, cin, cout] = filterShape as [number, number, number, number];
  return enabled && kh === 3 && kw === 3 && stride === 1 && pad === 1 && h % 2 === 0 && w % 2 === 0 && Math.min(cin, cout) >= WINOGRAD_MIN_CHANNELS;
}

/** What a Winograd convolution needs of one filter: its 16 transforms, and the input bases. */
export interface WinogradFilters {
  /** (1, 1, cin, cout) each: U_rq = (G g G^T)_rq */
  u: Tensor4D[];
  /** (3, 3, cin, 1) each: the depthwise input-transform filters */
  basis: Tensor4D[];
}

/** The Winograd filters of an HWIO 3x3 filter, from its values. */
export function winogradFilters(hwio: Float32Array, cin: number, cout: number): WinogradFilters {
  const out: Tensor4D[] = [];
  const u = new Float32Array(cin * cout);
  for (let r = 0; r < 4; r++)
    for (let q = 0; q < 4; q++) {
      u.fill(0);
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          const c = G[r]![i]! * G[q]![j]!;
          if (c === 0) continue;
          const base = (i * 3 + j) * cin * cout;
          for (let k = 0; k < cin * cout; k++) u[k] = u[k]! + c * hwio[base + k]!;
        }
      out.push(tf.tensor4d(u, [1, 1, cin, cout]));
    }
  return { u: out, basis: basisFilters(cin) };
}

/** Depthwise 3x3 filters of the 16 input-transform bases for `channels` channels. */
function basisFilters(channels: number): Tensor4D[] {
  const fs: Tensor4D[] = [];
  for (let r = 0; r < 4; r++)
    for (let q = 0; q < 4; q++) {
      const f = new Float32Array(9 * channels);
      const or = r === 3 ? 1 : 0;
      const oq = q === 3 ? 1 : 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) f.fill(BT[r]![i + or]! * BT[q]![j + oq]!, (i * 3 + j) * channels, (i * 3 + j + 1) * channels);
      fs.push(tf.tensor4d(f, [3, 3, channels, 1]));
    }
  return fs;
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
/** Windows start at rows 2t - 1 (bases 0..2) or 2t (basis 3): top padding 1 or 0. */
const padFor = (r: number, q: number): Pad4 => [
  [0, 0],
  r === 3 ? [0, 1] : [1, 0],
  q === 3 ? [0, 1] : [1, 0],
  [0, 0],
];

/** conv2d(x, g, 1, 1) for the filter g whose `winogradFilters` are `filters`. */
export function winogradConv3x3(x: Tensor4D, filters: WinogradFilters): Tensor4D {
  const { u, basis: b } = filters;
  return tf.tidy(() => {
    const [n, h, w, cin] = x.shape;
    const cout = u[0]!.shape[3];
    const th = h / 2;
    const tw = w / 2;
    // rows of A^T: [1 1 1 0] and [0 1 -1 -1], applied over r, then over q
    const t: Tensor4D[][] = [[], []];
    for (let q = 0; q < 4; q++) {
      const m = [0, 1, 2, 3].map((r) => tf.tidy(() => tf.conv2d(tf.depthwiseConv2d(x, b[r * 4 + q]!, 2, padFor(r, q)), u[r * 4 + q]!, 1, 'valid')));
      t[0]!.push(tf.addN([m[0]!, m[1]!, m[2]!]));
      t[1]!.push(tf.sub(m[1]!, tf.add(m[2]!, m[3]!)));
      for (const v of m) v.dispose();
    }
    const rows = t.map((tr) => tf.reshape(tf.stack([tf.addN([tr[0]!, tr[1]!, tr[2]!]), tf.sub(tr[1]!, tf.add(tr[2]!, tr[3]!))], 3), [n, th, tw * 2, cout]));
    return tf.reshape(tf.stack(rows, 2), [n, h, w, cout]) as Tensor4D;
  });
}
