/**
 * Glands: a pale lumen ringed by one layer of columnar epithelium (pink cytoplasm, faint lateral cell borders,
 * basal oval nuclei, the odd goblet cell), on a thin basement membrane. At most one per grid cell, kept
 * inside its cell so neighbouring cells never overlap.
 */
import { clipBox, type Canvas } from './canvas.js';
import { F, type FieldGrid } from './fields.js';
import type { SlideLayout } from './layout.js';
import { hash2, Rng, valueNoise } from './noise.js';
import { Kind, makeNucleus, type Nucleus } from './nuclei.js';

export const GLAND_CELL_UM = 230;

export interface Gland {
  x: number;
  y: number;
  cos: number;
  sin: number;
  /** Lumen semi-axes (px) and outline harmonics. */
  la: number;
  lb: number;
  k2: number;
  p2: number;
  k3: number;
  p3: number;
  /** Epithelium thickness (px). */
  t: number;
  /** Number of epithelial cells around. */
  cells: number;
  /** Which cells are goblet cells (mucin vacuole instead of cytoplasm). */
  goblet: Uint8Array;
  /** Angular offset of the cell borders. */
  phase: number;
  nuclei: Nucleus[];
  reach: number;
  seed: number;
}

/** Lumen outline radius (px) at angle `th` of the gland's frame. */
function lumenRadius(g: Gland, th: number): number {
  const c = Math.cos(th);
  const s = Math.sin(th);
  const ell = (g.la * g.lb) / Math.sqrt(g.lb * g.lb * c * c + g.la * g.la * s * s);
  return ell * (1 + g.k2 * Math.cos(2 * th + g.p2) + g.k3 * Math.cos(3 * th + g.p3));
}

/** The gland of cell (gi, gj), or undefined where there is none. */
export function cellGland(L: SlideLayout, grid: FieldGrid, gi: number, gj: number): Gland | undefined {
  const um = 1 / L.mpp;
  const cell = GLAND_CELL_UM * um;
  const rng = new Rng(hash2(gi, gj, L.seeds.glands));
  const la = rng.range(10, 38) * um;
  const lb = la * rng.range(0.45, 1);
  const k2 = rng.range(0, 0.12);
  const k3 = rng.range(0, 0.08);
  const t = rng.range(12, 17) * um;
  const reach = la * (1 + k2 + k3) + t + 3 * um;
  const span = cell - 2 * reach;
  const x = gi * cell + reach + rng.next() * span;
  const y = gj * cell + reach + rng.next() * span;
  const presence = rng.next();
  const angle = rng.next() * Math.PI;
  const p2 = rng.next() * 2 * Math.PI;
  const p3 = rng.next() * 2 * Math.PI;
  const seed = (rng.next() * 4294967296) >>> 0;
  const margin = reach + 25 * um;
  if (presence >= grid.at(x, y, F.glandular)) return undefined;
  if (grid.at(x, y, F.tissue) < margin || grid.at(x, y, F.tumour) > -margin || grid.at(x, y, F.fat) > 0.15) return undefined;

  const g: Gland = { x, y, cos: Math.cos(angle), sin: Math.sin(angle), la, lb, k2, p2, k3, p3, t, cells: 0, goblet: new Uint8Array(0), phase: 0, nuclei: [], reach, seed };
  // One cell per ~7 µm of the perimeter halfway through the epithelium.
  const mid = Math.PI * (la + lb + t);
  g.cells = Math.max(8, Math.round(mid / (7 * um)));
  g.goblet = new Uint8Array(g.cells);
  g.phase = rng.next();
  const look = new Rng(seed);
  for (let k = 0; k < g.cells; k++) {
    const goblet = look.next() < 0.18;
    g.goblet[k] = goblet ? 1 : 0;
    // Nucleus in the middle of its cell (angle), basal (outer part of the epithelium), long axis radial.
    const th = ((k + 0.5 + g.phase) / g.cells) * 2 * Math.PI + look.range(-0.08, 0.08) * (2 * Math.PI / g.cells);
    const r = lumenRadius(g, th) + t * (goblet ? look.range(0.75, 0.85) : look.range(0.55, 0.72));
    const lx = r * Math.cos(th);
    const ly = r * Math.sin(th);
    const nx = x + lx * g.cos - ly * g.sin;
    const ny = y + lx * g.sin + ly * g.cos;
    const n = makeNucleus(Kind.Epithelial, nx, ny, th + angle + look.normal(0, 0.08), look, L.mpp);
    if (goblet) {
      n.b *= 0.7;
      n.a *= 0.85;
    }
    g.nuclei.push(n);
  }
  return g;
}

/** Whether (x, y) lies within the gland's basement membrane. */
export function insideGland(g: Gland, x: number, y: number): boolean {
  const dx = x - g.x;
  const dy = y - g.y;
  if (dx * dx + dy * dy > g.reach * g.reach) return false;
  const u = dx * g.cos + dy * g.sin;
  const v = -dx * g.sin + dy * g.cos;
  return Math.sqrt(u * u + v * v) < lumenRadius(g, Math.atan2(v, u)) + g.t + 2;
}

/** Lumen, epithelium and basement membrane over whatever the canvas holds (stroma). */
export function paintGland(c: Canvas, g: Gland, mpp: number): void {
  const [x0, y0, x1, y1] = clipBox(c, g.x, g.y, g.reach);
  const um = 1 / mpp;
  const membrane = 1.2 * um;
  const apical = 1.5 * um;
  const { hOD, eOD, rOD, w } = c;
  const twoPi = 2 * Math.PI;
  for (let y = y0; y < y1; y++) {
    const dy = y + 0.5 - g.y;
    let idx = (y - c.y0) * w + (x0 - c.x0);
    for (let x = x0; x < x1; x++, idx++) {
      const dx = x + 0.5 - g.x;
      const u = dx * g.cos + dy * g.sin;
      const v = -dx * g.sin + dy * g.cos;
      const r = Math.sqrt(u * u + v * v);
      const th = Math.atan2(v, u);
      const d = r - lumenRadius(g, th); // px outside the lumen outline
      if (d > g.t + membrane + 1) continue;
      let hv: number;
      let ev: number;
      if (d < 0) {
        // Lumen: nearly clear, a little pale secretion.
        const s = valueNoise(x / (6 * um), y / (6 * um), g.seed);
        hv = 0.01;
        ev = 0.03 + 0.1 * s * s;
      } else if (d <= g.t) {
        // Epithelium: cytoplasm, darker apical edge, faint borders between cells, mucin in goblet cells.
        const pos = (((th / twoPi) * g.cells - g.phase) % g.cells + g.cells) % g.cells;
        const k = Math.floor(pos);
        const border = Math.abs(pos - k - 0.5) > 0.44 ? 1 : 0;
        const grain = valueNoise(x / (1.5 * um), y / (1.5 * um), g.seed + 1);
        hv = 0.22 + 0.08 * grain;
        ev = 0.6 + 0.15 * grain + 0.25 * border + (d < apical ? 0.3 : 0);
        if (g.goblet[k]) {
          // A goblet cell's mucin: a pale grey-blue cup in the apical part of the cell.
          const depth = d / (g.t * 0.62);
          if (depth < 1 && Math.abs(pos - k - 0.5) < 0.4 * Math.sqrt(1 - depth * depth)) {
            hv = 0.2 + 0.06 * grain;
            ev = 0.14 + 0.05 * grain;
          }
        }
      } else {
        hv = 0.1;
        ev = 1.0; // basement membrane
      }
      // Soft outer edge and soft lumen edge (1 px).
      let alpha = g.t + membrane + 0.5 - d;
      alpha = alpha > 1 ? 1 : alpha;
      if (d < 0 && d > -1) {
        // Blend lumen and apical cytoplasm across the outline.
        const t = -d;
        hv = hv * t + 0.3 * (1 - t);
        ev = ev * t + 0.9 * (1 - t);
      }
      const keep = 1 - alpha;
      hOD[idx] = hOD[idx]! * keep + hv * alpha;
      eOD[idx] = eOD[idx]! * keep + ev * alpha;
      rOD[idx] = rOD[idx]! * keep;
    }
  }
}
