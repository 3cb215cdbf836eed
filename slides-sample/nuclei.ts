/**
 * Nuclei: what each cell type looks like (size, shape, stain, chromatin) and where the free-lying ones sit:
 * a few candidates per grid cell, kept with a probability set by the local tissue (tumour nests, stroma,
 * inflammation), drawn from a PRNG seeded by the cell's index.
 */
import { F, type FieldGrid } from './fields.js';
import type { SlideLayout } from './layout.js';
import { hash2, Rng } from './noise.js';
import { FAT_CELL_THRESHOLD, FAT_CELL_UM } from './background.js';
import { nearestCell, seedX, seedY, voronoiHit } from './voronoi.js';

export const enum Kind {
  Lymphocyte = 0,
  Fibroblast = 1,
  Epithelial = 2,
  Tumour = 3,
  Endothelial = 4,
}

export interface Nucleus {
  kind: Kind;
  x: number;
  y: number;
  /** Semi-axes (px), a >= b, and the direction of a. */
  a: number;
  b: number;
  cos: number;
  sin: number;
  /** Hematoxylin and eosin optical density inside. */
  h: number;
  e: number;
  /** Outline harmonics: radius *= 1 + k2 cos(2t + p2) + k3 cos(3t + p3). */
  k2: number;
  p2: number;
  k3: number;
  p3: number;
  /** Banana bend of spindle nuclei (per px of the long axis). */
  bend: number;
  /** Chromatin contrast and grain (px). */
  tex: number;
  grain: number;
  /** Darker rim (membrane) strength; vesicular = pale centre. */
  rim: number;
  vesicular: number;
  /** Nucleoli: offset (px, nucleus frame) and radius; r = 0 when absent. */
  n1x: number;
  n1y: number;
  n1r: number;
  /** Hash seed of its chromatin texture. */
  seed: number;
  /** Bounding radius (px). */
  reach: number;
}

/** Largest bounding radius of any nucleus in microns: render margins use it. */
export const MAX_NUCLEUS_REACH_UM = 15;
/** Grid cell of free-lying nuclei, microns. */
export const NUCLEUS_CELL_UM = 24;
/** Candidates per cell: enough for dense lymphocyte clusters (~14 per 1000 µm²). */
const CANDIDATES = 8;

/** A nucleus of `kind` at (x, y), its look drawn from `rng`; `angle` orients it (radians). */
export function makeNucleus(kind: Kind, x: number, y: number, angle: number, rng: Rng, mpp: number): Nucleus {
  const um = 1 / mpp;
  let a: number, b: number, h: number, e: number, k2 = 0, k3 = 0, bend = 0, tex: number, grain: number, rim: number, vesicular = 0, n1r = 0;
  switch (kind) {
    case Kind.Lymphocyte:
      a = rng.range(2.9, 3.7);
      b = a * rng.range(0.85, 1);
      h = rng.range(2.0, 2.5);
      e = 0.5;
      k2 = rng.range(0, 0.05);
      tex = 0.12;
      grain = 0.8;
      rim = 0.1;
      break;
    case Kind.Fibroblast:
      a = rng.range(5, 9);
      b = rng.range(1.1, 1.8);
      h = rng.range(1.4, 1.9);
      e = 0.55;
      bend = rng.range(-0.035, 0.035);
      tex = 0.15;
      grain = 0.8;
      rim = 0.1;
      break;
    case Kind.Endothelial:
      a = rng.range(4.5, 6.5);
      b = rng.range(1, 1.5);
      h = rng.range(1.3, 1.7);
      e = 0.55;
      bend = rng.range(-0.03, 0.03);
      tex = 0.1;
      grain = 0.8;
      rim = 0.1;
      break;
    case Kind.Epithelial:
      a = rng.range(3.8, 5.2);
      b = rng.range(2.1, 2.8);
      h = rng.range(1.1, 1.5);
      e = 0.55;
      k2 = rng.range(0, 0.05);
      tex = 0.25;
      grain = 0.7;
      rim = 0.35;
      break;
    case Kind.Tumour: {
      // Pleomorphic: large, variable, irregular outlines, hyperchromatic, coarse chromatin, nucleoli.
      a = rng.range(4.5, 8.5);
      b = a * rng.range(0.6, 0.95);
      h = rng.range(1.5, 2.3);
      e = 0.6;
      k2 = rng.range(0.03, 0.14);
      k3 = rng.range(0.02, 0.1);
      tex = rng.range(0.3, 0.5);
      grain = rng.range(0.9, 1.4);
      rim = rng.range(0.3, 0.7);
      vesicular = rng.next() < 0.3 ? rng.range(0.3, 0.55) : 0;
      n1r = rng.next() < 0.55 ? rng.range(0.7, 1.3) : 0;
      break;
    }
  }
  const p2 = rng.next() * 2 * Math.PI;
  const p3 = rng.next() * 2 * Math.PI;
  const n1x = rng.range(-0.35, 0.35) * a * um;
  const n1y = rng.range(-0.3, 0.3) * b * um;
  const seed = (rng.next() * 4294967296) >>> 0;
  const reach = Math.min(MAX_NUCLEUS_REACH_UM * um, a * um * (1 + k2 + k3) + Math.abs(bend) * a * a * um + 1.5);
  return {
    kind,
    x,
    y,
    a: a * um,
    b: b * um,
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    h,
    e,
    k2,
    p2,
    k3,
    p3,
    bend: bend / um,
    tex,
    grain: grain * um,
    rim,
    vesicular,
    n1x,
    n1y,
    n1r: n1r * um,
    seed,
    reach,
  };
}

/** Whether a point lies in a structure that brings its own nuclei (gland, vessel), where free nuclei are not placed. */
export type Occupied = (x: number, y: number) => boolean;

/** Free-lying nuclei (tumour, fibroblasts, lymphocytes) of grid cell (ci, cj), in generation order. */
export function cellNuclei(L: SlideLayout, grid: FieldGrid, ci: number, cj: number, occupied: Occupied): Nucleus[] {
  const um = 1 / L.mpp;
  const cell = NUCLEUS_CELL_UM * um;
  const area = NUCLEUS_CELL_UM * NUCLEUS_CELL_UM; // µm²
  const rng = new Rng(hash2(ci, cj, L.seeds.nuclei));
  const out: Nucleus[] = [];
  for (let k = 0; k < CANDIDATES; k++) {
    const x = (ci + rng.next()) * cell;
    const y = (cj + rng.next()) * cell;
    const pick = rng.next();
    const look = new Rng((rng.next() * 4294967296) >>> 0);
    if (grid.at(x, y, F.tissue) < 4 * um || occupied(x, y)) continue;
    const tumour = grid.at(x, y, F.tumour) > 0;
    const nest = tumour && grid.at(x, y, F.nest) > 0;
    const inflam = grid.at(x, y, F.inflam);
    const fat = tumour ? 0 : grid.at(x, y, F.fat);
    if (fat > 0.1 && insideAdipocyte(L, grid, x, y)) continue;
    // Expected nuclei per 1000 µm² of each kind here.
    // Tumour cells have their own grid (tumourCellNucleus); here only what lies among or between them.
    const dTumour = 0;
    let dFibro = 0;
    let dLymph = 0;
    if (nest) {
      dLymph = 0.3 + 1.2 * inflam;
    } else {
      dFibro = (tumour ? 1.8 : 1.0) * (1 - 0.85 * fat);
      dLymph = (13 * inflam * Math.sqrt(inflam) + (tumour ? 1.2 : 0.1)) * (1 - 0.8 * fat);
    }
    const total = dTumour + dFibro + dLymph;
    const p = (total * area) / 1000 / CANDIDATES;
    if (pick >= p) continue;
    const r = pick / p; // uniform again, picks the kind
    const kind = r < dTumour / total ? Kind.Tumour : r < (dTumour + dFibro) / total ? Kind.Fibroblast : Kind.Lymphocyte;
    const angle = kind === Kind.Fibroblast ? fibreDirection(L, grid, x, y) + look.normal(0, 0.15) : look.next() * Math.PI;
    const n = makeNucleus(kind, x, y, angle, look, L.mpp);
    // Keep neighbours in this cell from piling up: centres at least ~80% of their combined minor+major radius apart.
    const crowd = kind === Kind.Tumour ? 0.75 : 0.9;
    if (out.some((m) => Math.hypot(m.x - x, m.y - y) < crowd * 0.5 * (m.a + m.b + n.a + n.b))) continue;
    out.push(n);
  }
  return out;
}

/** Whether (x, y) lies in the empty body of a fat cell (background.ts draws those), away from its membrane. */
function insideAdipocyte(L: SlideLayout, grid: FieldGrid, x: number, y: number): boolean {
  const um = 1 / L.mpp;
  nearestCell(x, y, FAT_CELL_UM * um, L.seeds.fat);
  return voronoiHit.border > 2 * um && grid.at(voronoiHit.x, voronoiHit.y, F.fat) > FAT_CELL_THRESHOLD;
}

/** Tumour cell (i, j) of the grid whose Voronoi cells background.ts shades as cytoplasm: its nucleus, if any. */
export function tumourCellNucleus(L: SlideLayout, grid: FieldGrid, i: number, j: number, cellUm: number, occupied: Occupied): Nucleus | undefined {
  const um = 1 / L.mpp;
  const cell = cellUm * um;
  const rng = new Rng(hash2(i, j, L.seeds.tumourCells + 17));
  const keep = rng.next();
  const ox = rng.range(-1.2, 1.2) * um;
  const oy = rng.range(-1.2, 1.2) * um;
  const angle = rng.next() * Math.PI;
  const look = new Rng((rng.next() * 4294967296) >>> 0);
  const x = seedX(i, j, cell, L.seeds.tumourCells) + ox;
  const y = seedY(i, j, cell, L.seeds.tumourCells) + oy;
  if (keep > 0.9 || grid.at(x, y, F.tumour) <= 0 || grid.at(x, y, F.nest) <= 0 || grid.at(x, y, F.tissue) < 4 * um || occupied(x, y)) return undefined;
  return makeNucleus(Kind.Tumour, x, y, angle, look, L.mpp);
}

/** Collagen fibre direction at (x, y): along the level sets of the fibre phase (see stroma.ts). */
export function fibreDirection(L: SlideLayout, grid: FieldGrid, x: number, y: number): number {
  const d = 6;
  const gx = Math.cos(L.fibreAngle) + (grid.at(x + d, y, F.warp) - grid.at(x - d, y, F.warp)) / (2 * d);
  const gy = Math.sin(L.fibreAngle) + (grid.at(x, y + d, F.warp) - grid.at(x, y - d, F.warp)) / (2 * d);
  // The phase gradient is across the fibres; fibres run perpendicular to it.
  return Math.atan2(gy, gx) + Math.PI / 2;
}
