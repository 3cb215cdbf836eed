/** 2x2 box averaging, for virtual pyramid levels. */
import type { RgbImage } from './types.js';

/**
 * Half-size image (ceil), each pixel the rounded mean of its 2x2 block; blocks cut by the right or bottom
 * edge average the pixels they have instead of blending in white.
 */
export function halve(src: RgbImage): RgbImage {
  const { width: sw, height: sh, data: s } = src;
  const width = Math.ceil(sw / 2);
  const height = Math.ceil(sh / 2);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const r0 = 2 * y;
    const r1 = Math.min(r0 + 1, sh - 1);
    for (let x = 0; x < width; x++) {
      const c0 = 2 * x;
      const c1 = Math.min(c0 + 1, sw - 1);
      const n = (r1 - r0 + 1) * (c1 - c0 + 1);
      const a = (r0 * sw + c0) * 3;
      const b = (r0 * sw + c1) * 3;
      const c = (r1 * sw + c0) * 3;
      const d = (r1 * sw + c1) * 3;
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) {
        // Duplicate indices at an edge are counted once: sum the distinct pixels only.
        let sum = s[a + k]!;
        if (b !== a) sum += s[b + k]!;
        if (c !== a) sum += s[c + k]!;
        if (d !== b && d !== c) sum += s[d + k]!;
        data[o + k] = Math.floor((sum + (n >> 1)) / n);
      }
    }
  }
  return { width, height, data };
}
