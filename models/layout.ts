/** NCHW (PyTorch, files) <-> NHWC (TensorFlow.js, inside) for host arrays. */

export function nchwToNhwc(data: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(data.length);
  const hw = h * w;
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * hw;
      for (let p = 0; p < hw; p++) out[(b * hw + p) * c + ch] = data[src + p]!;
    }
  return out;
}

export function nhwcToNchw(data: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(data.length);
  const hw = h * w;
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const dst = (b * c + ch) * hw;
      for (let p = 0; p < hw; p++) out[dst + p] = data[(b * hw + p) * c + ch]!;
    }
  return out;
}
