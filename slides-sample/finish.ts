/**
 * Optical densities -> 8-bit RGB as a scanner would record them: Beer-Lambert mixing of the stains (with the
 * slide's stain-strength variation), defocus that varies over the slide, sensor noise and faint 8x8 block
 * noise like a JPEG's.
 */
import type { Canvas } from './canvas.js';
import { F, FIELD_COUNT, LATTICE, type FieldGrid } from './fields.js';
import type { SlideLayout } from './layout.js';
import { hash2, hash3 } from './noise.js';

/** Red cells: eosin on haemoglobin, redder than stroma (more blue absorbed). */
const RBC_VECTOR = [0.12, 0.72, 0.68] as const;

/**
 * Colours of the canvas, blurred and noised, cropped by `margin` px on every side (the margin feeds the blur).
 */
export function finish(c: Canvas, grid: FieldGrid, L: SlideLayout, margin: number): Uint8Array {
  const { w, h } = c;
  const n = w * h;
  const lin = new Float32Array(n * 3);
  const [hr, hg, hb] = L.hVector;
  const [er, eg, eb] = L.eVector;
  const [rr, rg, rb] = RBC_VECTOR;
  const [gr, gg, gb] = L.glass;
  const vals = grid.values;
  const FC = FIELD_COUNT;
  const row = grid.gw * FC;
  const blurW = new Float32Array(n);
  for (let j = 0; j < h; j++) {
    const y = c.y0 + j;
    const gyAbs = Math.floor(y / LATTICE);
    const fy = (y - gyAbs * LATTICE) / LATTICE;
    const rowBase = (gyAbs - grid.gy0) * row;
    for (let i = 0, p = j * w; i < w; i++, p++) {
      const x = c.x0 + i;
      const gxAbs = Math.floor(x / LATTICE);
      const fx = (x - gxAbs * LATTICE) / LATTICE;
      const o = rowBase + (gxAbs - grid.gx0) * FC;
      const sH = lerp2(vals, o, FC, row, F.stainH, fx, fy);
      const sE = lerp2(vals, o, FC, row, F.stainE, fx, fy);
      blurW[p] = lerp2(vals, o, FC, row, F.blur, fx, fy);
      const H = c.hOD[p]! * sH;
      const E = c.eOD[p]! * sE;
      const R = c.rOD[p]!;
      if (H === 0 && E === 0 && R === 0) {
        lin[p * 3] = gr;
        lin[p * 3 + 1] = gg;
        lin[p * 3 + 2] = gb;
        continue;
      }
      lin[p * 3] = gr * Math.exp(-(H * hr + E * er + R * rr));
      lin[p * 3 + 1] = gg * Math.exp(-(H * hg + E * eg + R * rg));
      lin[p * 3 + 2] = gb * Math.exp(-(H * hb + E * eb + R * rb));
    }
  }
  // Focus: from blur1 (sigma ~1 px) towards blur2 (sigma ~1.4 px) where the field says defocused.
  const blur1 = blur5(lin, w, h);
  const blur2 = blur5(blur1, w, h);
  const ow = w - 2 * margin;
  const oh = h - 2 * margin;
  const out = new Uint8Array(ow * oh * 3);
  const seed = L.seeds.pixel;
  for (let j = 0; j < oh; j++) {
    const y = c.y0 + margin + j;
    for (let i = 0; i < ow; i++) {
      const x = c.x0 + margin + i;
      const p = (j + margin) * w + i + margin;
      const amount = 0.5 + 1.3 * blurW[p]!;
      const hs = hash2(x, y, seed);
      // Luminance noise (about +-1.5) and a little chroma noise, from the pixel's own hash.
      const lum = ((hs & 0xfff) / 4096 - 0.5) * 3 + blockNoise(x, y, seed);
      const cr = (((hs >>> 12) & 0xff) / 256 - 0.5) * 1.2;
      const cb = (((hs >>> 20) & 0xff) / 256 - 0.5) * 1.2;
      const o = (j * ow + i) * 3;
      for (let k = 0; k < 3; k++) {
        const b1 = blur1[p * 3 + k]!;
        const sharpness = amount <= 1 ? lin[p * 3 + k]! + (b1 - lin[p * 3 + k]!) * amount : b1 + (blur2[p * 3 + k]! - b1) * (amount - 1);
        const v = sharpness + lum + (k === 0 ? cr : k === 2 ? cb : 0);
        out[o + k] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
  }
  return out;
}

function lerp2(vals: Float64Array, o: number, FC: number, row: number, f: number, fx: number, fy: number): number {
  const a = vals[o + f]!;
  const top = a + (vals[o + FC + f]! - a) * fx;
  const b = vals[o + row + f]!;
  return top + (b + (vals[o + row + FC + f]! - b) * fx - top) * fy;
}

/** Separable [1 4 6 4 1]/16 blur (sigma ~1 px) of interleaved RGB; edges clamp (only the margin sees them). */
function blur5(src: Float32Array, w: number, h: number): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const xm2 = x < 2 ? 0 : x - 2;
      const xm1 = x < 1 ? 0 : x - 1;
      const xp1 = x + 1 >= w ? w - 1 : x + 1;
      const xp2 = x + 2 >= w ? w - 1 : x + 2;
      const r = y * w;
      for (let k = 0; k < 3; k++) {
        tmp[(r + x) * 3 + k] =
          (src[(r + xm2) * 3 + k]! + 4 * src[(r + xm1) * 3 + k]! + 6 * src[(r + x) * 3 + k]! + 4 * src[(r + xp1) * 3 + k]! + src[(r + xp2) * 3 + k]!) / 16;
      }
    }
  for (let y = 0; y < h; y++) {
    const ym2 = (y < 2 ? 0 : y - 2) * w;
    const ym1 = (y < 1 ? 0 : y - 1) * w;
    const yp1 = (y + 1 >= h ? h - 1 : y + 1) * w;
    const yp2 = (y + 2 >= h ? h - 1 : y + 2) * w;
    const r = y * w;
    for (let x = 0; x < w; x++)
      for (let k = 0; k < 3; k++) {
        out[(r + x) * 3 + k] =
          (tmp[(ym2 + x) * 3 + k]! + 4 * tmp[(ym1 + x) * 3 + k]! + 6 * tmp[(r + x) * 3 + k]! + 4 * tmp[(yp1 + x) * 3 + k]! + tmp[(yp2 + x) * 3 + k]!) / 16;
      }
  }
  return out;
}

/** DCT basis: COS[u * 8 + x] = cos((2x + 1) u pi / 16), u < 4. */
const COS = Float64Array.from({ length: 32 }, (_, k) => Math.cos(((2 * (k & 7) + 1) * (k >> 3) * Math.PI) / 16));

/** Faint 8x8-block cosine patterns (like JPEG quantisation error), aligned to the level-0 grid. */
function blockNoise(x: number, y: number, seed: number): number {
  const hb = hash3(x >> 3, y >> 3, 7, seed);
  const u = hb & 3;
  const v = (hb >>> 2) & 3;
  const amp = (((hb >>> 4) & 0xff) / 256 - 0.5) * 1.6;
  return amp * COS[u * 8 + (x & 7)]! * COS[v * 8 + (y & 7)]!;
}
