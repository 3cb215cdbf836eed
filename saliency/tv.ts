/**
 * Total variation of an attribution (SPEC 7), per sample, accumulated in float64 so that a
 * spatially constant map gives exactly 0.
 * `g` is NCHW (n, c, h, w), the fixtures' layout.
 */
export function totalVariation(g: ArrayLike<number>, n: number, c: number, h: number, w: number): Float64Array {
  const out = new Float64Array(n);
  const hw = h * w;
  const centred = new Float64Array(hw);
  for (let b = 0; b < n; b++) {
    let sum = 0;
    for (let ch = 0; ch < c; ch++) {
      const off = (b * c + ch) * hw;
      let mean = 0;
      for (let p = 0; p < hw; p++) mean += g[off + p]!;
      mean /= hw;
      let absMean = 0;
      for (let p = 0; p < hw; p++) {
        centred[p] = g[off + p]! - mean;
        absMean += Math.abs(centred[p]!);
      }
      const scale = Math.max(absMean / hw, 1e-6);
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          const v = centred[i * w + j]!;
          if (i + 1 < h) sum += Math.abs(centred[(i + 1) * w + j]! - v) / scale;
          if (j + 1 < w) sum += Math.abs(centred[i * w + j + 1]! - v) / scale;
        }
    }
    out[b] = sum / (c * hw);
  }
  return out;
}

/** Reported TV reduction of a variant: 1 - mean over layers (TV_variant / TV_original). */
export function tvReduction(variant: readonly number[], original: readonly number[]): number {
  const ratios = variant.map((v, i) => v / original[i]!);
  return 1 - ratios.reduce((a, b) => a + b, 0) / ratios.length;
}
