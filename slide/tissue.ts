/**
 * Tissue detection on a low-resolution level: Otsu on saturation (stained tissue is coloured,
 * glass is grey-white), then a morphological closing and opening to fill nuclei holes and drop
 * specks. The mask is in level pixels with its downsample to level 0.
 */
import sharp from 'sharp';
import { otsuThreshold } from './otsu.js';
import type { Slide } from './slide.js';

export interface TissueMask {
  width: number;
  height: number;
  /** level-0 pixels per mask pixel */
  downsample: number;
  /** 1 = tissue */
  data: Uint8Array;
  threshold: number;
}

/** Saturation in 0..255 of RGB bytes. */
export function saturation(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let p = 0; p < out.length; p++) {
    const r = rgb[p * 3]!;
    const g = rgb[p * 3 + 1]!;
    const b = rgb[p * 3 + 2]!;
    const max = Math.max(r, g, b);
    out[p] = max ? Math.round((255 * (max - Math.min(r, g, b))) / max) : 0;
  }
  return out;
}

function morph(mask: Uint8Array, w: number, h: number, r: number, dilate: boolean): Uint8Array {
  // separable square structuring element: rows then columns
  const tmp = new Uint8Array(mask.length);
  const out = new Uint8Array(mask.length);
  const pass = (src: Uint8Array, dst: Uint8Array, horizontal: boolean) => {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let v = dilate ? 0 : 1;
        for (let d = -r; d <= r; d++) {
          const xx = horizontal ? x + d : x;
          const yy = horizontal ? y : y + d;
          const s = xx < 0 || yy < 0 || xx >= w || yy >= h ? (dilate ? 0 : 1) : src[yy * w + xx]!;
          v = dilate ? v | s : v & s;
        }
        dst[y * w + x] = v;
      }
  };
  pass(mask, tmp, true);
  pass(tmp, out, false);
  return out;
}

/** Tissue mask from an RGB image (h*w*3). */
export function tissueFromRgb(rgb: Uint8Array, width: number, height: number, radius = 2): { data: Uint8Array; threshold: number } {
  const s = saturation(rgb);
  const hist = new Float64Array(256);
  for (const v of s) hist[v]!++;
  // a floor keeps an all-glass image from splitting its own noise into "tissue"
  const threshold = Math.max(otsuThreshold(hist), 20);
  let mask: Uint8Array = Uint8Array.from(s, (v) => (v > threshold ? 1 : 0));
  mask = morph(morph(mask, width, height, radius, true), width, height, radius, false); // closing
  mask = morph(morph(mask, width, height, radius, false), width, height, radius, true); // opening
  return { data: mask, threshold };
}

/** Reads the level nearest `targetSide` px on its longer side (not smaller) and detects tissue on it. */
export async function detectTissue(slide: Slide, targetSide = 768): Promise<TissueMask> {
  const levels = slide.levels;
  let level = levels[0]!;
  for (const l of levels) if (Math.max(l.width, l.height) >= targetSide) level = l;
  const rgb = await slide.readRegion(level.index, 0, 0, level.width, level.height);
  const { data, threshold } = tissueFromRgb(rgb, level.width, level.height, 3);
  return { width: level.width, height: level.height, downsample: level.downsample, data, threshold };
}

/** The mask as a PNG (white tissue on black). */
export async function writeMaskPng(mask: TissueMask, path: string): Promise<void> {
  await sharp(Buffer.from(mask.data.map((v) => v * 255)), { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .png()
    .toFile(path);
}
