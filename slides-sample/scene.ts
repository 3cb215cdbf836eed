/**
 * A synthetic H&E slide as a pure function of (seed, level-0 pixel): render any rectangle, in any tiling,
 * and get the same pixels. Objects (nuclei, glands, vessels) live in spatial grids whose cells are seeded by
 * their index; slowly varying fields live on a global lattice (fields.ts). Nothing is held per slide but
 * a few ellipses, so an 8k x 8k slide renders strip by strip in bounded memory.
 */
import { SdsError } from '../core/errors.js';
import { paintBackground, TUMOUR_CELL_UM } from './background.js';
import { makeCanvas } from './canvas.js';
import { FieldGrid } from './fields.js';
import { finish } from './finish.js';
import { cellGland, GLAND_CELL_UM, insideGland, paintGland, type Gland } from './glands.js';
import { makeLayout, type SlideLayout } from './layout.js';
import { cellNuclei, MAX_NUCLEUS_REACH_UM, NUCLEUS_CELL_UM, tumourCellNucleus, type Nucleus } from './nuclei.js';
import { paintNucleus } from './paint-nucleus.js';
import { cellVessel, insideVessel, paintVessel, VESSEL_CELL_UM, type Vessel } from './vessels.js';

export interface SceneOptions {
  width: number;
  height: number;
  seed: number;
  /** Microns per level-0 pixel; default 0.5 (20x). */
  mpp?: number;
}

export interface SceneRegion {
  /** Interleaved RGB, w * h * 3. */
  rgb: Uint8Array;
  /** 0/1 per pixel: a nucleus covers at least half of it. */
  nuclei: Uint8Array;
  /** 0/1 per pixel: tumour region (tissue only). */
  tumour: Uint8Array;
  /** 0/1 per pixel: tissue (not glass, not a hole). */
  tissue: Uint8Array;
}

export interface Scene {
  readonly width: number;
  readonly height: number;
  readonly seed: number;
  readonly mpp: number;
  /** Pixels of the rectangle (x, y, w, h) in level-0 pixels; the same whatever tiling asks for them. */
  render(x: number, y: number, w: number, h: number): SceneRegion;
}

/** Pixels rendered around a region for the blur (two passes of a radius-2 kernel). */
const BLUR_MARGIN = 4;
/** Largest region one render call accepts (pixels); larger areas go strip by strip. */
const MAX_RENDER_PIXELS = 64 * 1024 * 1024;

export function createScene(o: SceneOptions): Scene {
  const mpp = o.mpp ?? 0.5;
  if (!(Number.isInteger(o.width) && Number.isInteger(o.height) && o.width > 0 && o.height > 0)) {
    throw new SdsError('BAD_ARGUMENT', `scene size must be positive whole pixels, got ${o.width}x${o.height}`, { suggestion: 'e.g. { width: 8192, height: 8192 }' });
  }
  if (!(mpp >= 0.1 && mpp <= 4)) {
    throw new SdsError('BAD_ARGUMENT', `scene mpp ${mpp} is outside 0.1..4 microns per pixel`, { suggestion: 'use 0.25 (40x) or 0.5 (20x)' });
  }
  if (!Number.isInteger(o.seed)) throw new SdsError('BAD_ARGUMENT', `scene seed must be an integer, got ${o.seed}`, { suggestion: 'e.g. seed: 1' });
  const layout = makeLayout(o.width, o.height, o.seed >>> 0, mpp);
  return {
    width: o.width,
    height: o.height,
    seed: o.seed,
    mpp,
    render: (x, y, w, h) => renderRegion(layout, x, y, w, h),
  };
}

function renderRegion(L: SlideLayout, x: number, y: number, w: number, h: number): SceneRegion {
  if (![x, y, w, h].every(Number.isInteger) || w <= 0 || h <= 0) {
    throw new SdsError('BAD_ARGUMENT', `render region must be whole pixels with positive size, got x=${x} y=${y} ${w}x${h}`, { suggestion: 'pass integers' });
  }
  if (w * h > MAX_RENDER_PIXELS) {
    throw new SdsError('BAD_ARGUMENT', `a ${w}x${h} render is larger than ${MAX_RENDER_PIXELS} pixels`, { suggestion: 'render it in strips or tiles' });
  }
  const um = 1 / L.mpp;
  const m = BLUR_MARGIN;
  const c = makeCanvas(x - m, y - m, w + 2 * m, h + 2 * m);
  // Objects reaching into the canvas can sit up to their reach outside it; fields cover them too.
  const reach = Math.ceil(Math.max(MAX_NUCLEUS_REACH_UM * um, 4 * um));
  const gx0 = c.x0 - reach - NUCLEUS_CELL_UM * um;
  const gy0 = c.y0 - reach - NUCLEUS_CELL_UM * um;
  const grid = new FieldGrid(L, gx0, gy0, c.x0 + c.w + reach + NUCLEUS_CELL_UM * um, c.y0 + c.h + reach + NUCLEUS_CELL_UM * um);

  const tissue = new Uint8Array(c.w * c.h);
  const tumour = new Uint8Array(c.w * c.h);
  paintBackground(c, grid, L, tissue, tumour);

  // Glands and vessels near the canvas (each stays inside its own grid cell).
  const glands = new Map<number, Gland | undefined>();
  const glandCell = GLAND_CELL_UM * um;
  const glandAt = (i: number, j: number): Gland | undefined => {
    const key = i * 1_000_003 + j;
    if (!glands.has(key)) glands.set(key, cellGland(L, grid, i, j));
    return glands.get(key);
  };
  const vessels = new Map<number, Vessel | undefined>();
  const vesselCell = VESSEL_CELL_UM * um;
  const vesselAt = (i: number, j: number): Vessel | undefined => {
    const key = i * 1_000_003 + j;
    if (!vessels.has(key)) vessels.set(key, cellVessel(L, grid, i, j));
    return vessels.get(key);
  };
  const nuclei: Nucleus[] = [];
  // Cells a little beyond the canvas too, so an object that pokes out of its cell is never missed.
  for (let j = Math.floor((c.y0 - reach) / glandCell); j * glandCell < c.y0 + c.h + reach; j++)
    for (let i = Math.floor((c.x0 - reach) / glandCell); i * glandCell < c.x0 + c.w + reach; i++) {
      const g = glandAt(i, j);
      if (!g) continue;
      paintGland(c, g, L.mpp);
      nuclei.push(...g.nuclei);
    }
  for (let j = Math.floor((c.y0 - reach) / vesselCell); j * vesselCell < c.y0 + c.h + reach; j++)
    for (let i = Math.floor((c.x0 - reach) / vesselCell); i * vesselCell < c.x0 + c.w + reach; i++) {
      const v = vesselAt(i, j);
      if (!v) continue;
      paintVessel(c, v);
      nuclei.push(...v.nuclei);
    }
  const occupied = (px: number, py: number): boolean => {
    const g = glandAt(Math.floor(px / glandCell), Math.floor(py / glandCell));
    if (g && insideGland(g, px, py)) return true;
    const v = vesselAt(Math.floor(px / vesselCell), Math.floor(py / vesselCell));
    return v !== undefined && insideVessel(v, px, py);
  };
  const cell = NUCLEUS_CELL_UM * um;
  for (let j = Math.floor((c.y0 - reach) / cell); j * cell < c.y0 + c.h + reach; j++)
    for (let i = Math.floor((c.x0 - reach) / cell); i * cell < c.x0 + c.w + reach; i++) nuclei.push(...cellNuclei(L, grid, i, j, occupied));
  const tcell = TUMOUR_CELL_UM * um;
  for (let j = Math.floor((c.y0 - reach) / tcell); j * tcell < c.y0 + c.h + reach; j++)
    for (let i = Math.floor((c.x0 - reach) / tcell); i * tcell < c.x0 + c.w + reach; i++) {
      const n = tumourCellNucleus(L, grid, i, j, TUMOUR_CELL_UM, occupied);
      if (n) nuclei.push(n);
    }
  for (const n of nuclei) paintNucleus(c, n);

  const rgb = finish(c, grid, L, m);
  return { rgb, nuclei: crop(c.nuclei, c.w, m, w, h), tumour: crop(tumour, c.w, m, w, h), tissue: crop(tissue, c.w, m, w, h) };
}

function crop(src: Uint8Array, sw: number, m: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let j = 0; j < h; j++) out.set(src.subarray((j + m) * sw + m, (j + m) * sw + m + w), j * w);
  return out;
}
