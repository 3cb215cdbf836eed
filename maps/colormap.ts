/** Colour maps for saliency: signed maps diverge blue-white-red around 0, scaled to a robust max. */

/** The q-quantile of |v| (q in [0,1]); robust scale for display. */
export function absQuantile(values: ArrayLike<number>, q = 0.99): number {
  const a = Float32Array.from(values, Math.abs).sort();
  if (!a.length) return 0;
  return a[Math.min(a.length - 1, Math.floor(q * (a.length - 1)))]!;
}

/** Signed values -> RGB bytes: -scale blue, 0 white, +scale red (clipped). */
export function divergingRgb(values: ArrayLike<number>, scale: number): Uint8Array {
  const out = new Uint8Array(values.length * 3);
  const s = scale > 0 ? scale : 1;
  for (let i = 0; i < values.length; i++) {
    const t = Math.max(-1, Math.min(1, values[i]! / s));
    const fade = Math.round(255 * (1 - Math.abs(t)));
    out[i * 3] = t >= 0 ? 255 : fade;
    out[i * 3 + 1] = fade;
    out[i * 3 + 2] = t <= 0 ? 255 : fade;
  }
  return out;
}

/** Nearest-neighbour upscale of an RGB byte image by an integer-free target size. */
export function resizeNearestRgb(rgb: Uint8Array, h: number, w: number, outH: number, outW: number): Uint8Array {
  const out = new Uint8Array(outH * outW * 3);
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(h - 1, Math.floor((y * h) / outH));
    for (let x = 0; x < outW; x++) {
      const sx = Math.min(w - 1, Math.floor((x * w) / outW));
      out.set(rgb.subarray((sy * w + sx) * 3, (sy * w + sx) * 3 + 3), (y * outW + x) * 3);
    }
  }
  return out;
}
