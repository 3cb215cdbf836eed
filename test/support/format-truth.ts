/**
 * The whole-slide format test files in ../shared/slides/formats (never copied into the project) and their
 * truth files: levels, MPP and six regions with exact expected pixels (see that folder's README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { expect } from 'vitest';
import type { Slide } from '../../slide/index.js';

export const FORMATS_DIR = fileURLToPath(new URL('../../../shared/slides/formats/', import.meta.url));

export interface TruthRegion {
  level: number;
  x: number;
  y: number;
  width: number;
  height: number;
  level_x: number;
  level_y: number;
  png: string;
  tolerance: number;
  edge: boolean;
}

export interface Truth {
  levels: { width: number; height: number; downsample: number }[];
  mpp: { x: number; y: number };
  regions: TruthRegion[];
}

/** The truth of a format test file, or undefined (with a warning saying why the tests skip) when it is absent. */
export function loadTruth(name: string): Truth | undefined {
  const path = join(FORMATS_DIR, name);
  if (!existsSync(path) || !existsSync(`${path}.truth.json`)) {
    console.warn(`${name} tests SKIPPED: ${path} (and its .truth.json) not found; the format test files live in ../shared/slides/formats`);
    return undefined;
  }
  return JSON.parse(readFileSync(`${path}.truth.json`, 'utf8')) as Truth;
}

/** Mean absolute difference over all samples. */
export function mad(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

export async function pngRgb(path: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/**
 * Region k as the truth says: read with readRegion(level, x, y, w, h), equal to its PNG (mean absolute difference
 * returned), and every pixel past the level's right or bottom edge white. Returns the MAD and the count of
 * outside pixels checked.
 */
export async function checkRegion(slide: Slide, r: TruthRegion): Promise<{ mad: number; outside: number }> {
  const ours = await slide.readRegion(r.level, r.x, r.y, r.width, r.height);
  const png = await pngRgb(join(FORMATS_DIR, r.png));
  expect([png.width, png.height]).toEqual([r.width, r.height]);
  const level = slide.levels[r.level]!;
  let outside = 0;
  for (let y = 0; y < r.height; y++)
    for (let x = 0; x < r.width; x++) {
      if (r.level_x + x < level.width && r.level_y + y < level.height) continue;
      const i = (y * r.width + x) * 3;
      outside++;
      if (ours[i] !== 255 || ours[i + 1] !== 255 || ours[i + 2] !== 255) throw new Error(`region ${r.png}: pixel (${x}, ${y}) lies outside level ${r.level} but is ${ours[i]},${ours[i + 1]},${ours[i + 2]}, not white`);
    }
  expect(outside > 0, `${r.png}: edge ${r.edge} but ${outside} pixels outside`).toBe(r.edge);
  return { mad: mad(ours, png.data), outside };
}
