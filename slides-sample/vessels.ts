/**
 * Small blood vessels in the stroma: a lumen with red blood cells (bright eosinophilic discs with central
 * pallor) in pale plasma, a thin pink wall and flat endothelial nuclei. At most one per grid cell, inside it.
 */
import { clipBox, type Canvas } from './canvas.js';
import { F, type FieldGrid } from './fields.js';
import type { SlideLayout } from './layout.js';
import { hash2, Rng } from './noise.js';
import { Kind, makeNucleus, type Nucleus } from './nuclei.js';

export const VESSEL_CELL_UM = 120;

export interface Vessel {
  x: number;
  y: number;
  cos: number;
  sin: number;
  /** Lumen semi-axes and wall thickness (px). */
  la: number;
  lb: number;
  wall: number;
  /** Red cells: centre (level-0 px) and radius, flat arrays. */
  rbc: Float64Array;
  nuclei: Nucleus[];
  reach: number;
}

export function cellVessel(L: SlideLayout, grid: FieldGrid, vi: number, vj: number): Vessel | undefined {
  const um = 1 / L.mpp;
  const cell = VESSEL_CELL_UM * um;
  const rng = new Rng(hash2(vi, vj, L.seeds.vessels));
  const la = rng.range(4, 13) * um;
  const lb = la * rng.range(0.5, 0.95);
  const wall = rng.range(1.2, 2.6) * um;
  const reach = la + wall + 2 * um;
  const x = vi * cell + reach + rng.next() * (cell - 2 * reach);
  const y = vj * cell + reach + rng.next() * (cell - 2 * reach);
  const presence = rng.next();
  const angle = rng.next() * Math.PI;
  const seed = (rng.next() * 4294967296) >>> 0;
  if (presence > 0.3) return undefined;
  const tumour = grid.at(x, y, F.tumour) > 0;
  if (grid.at(x, y, F.tissue) < reach + 6 * um || (tumour && grid.at(x, y, F.nest) > -reach)) return undefined;
  const v: Vessel = { x, y, cos: Math.cos(angle), sin: Math.sin(angle), la, lb, wall, rbc: new Float64Array(0), nuclei: [], reach };
  const look = new Rng(seed);
  // Red cells fill about half the lumen.
  const count = Math.floor((0.5 * la * lb) / (3.6 * um) ** 2 * look.range(0.5, 1.2));
  const rbc: number[] = [];
  for (let k = 0; k < count; k++) {
    const t = look.next() * 2 * Math.PI;
    const s = Math.sqrt(look.next()) * 0.85;
    const r = look.range(3.2, 3.9) * um;
    const lx = Math.max(0, la - r * 0.6) * s * Math.cos(t);
    const ly = Math.max(0, lb - r * 0.6) * s * Math.sin(t);
    rbc.push(x + lx * v.cos - ly * v.sin, y + lx * v.sin + ly * v.cos, r);
  }
  v.rbc = Float64Array.from(rbc);
  // One to three flat endothelial nuclei on the wall, lying along it.
  const nn = 1 + Math.floor(look.next() * 3);
  for (let k = 0; k < nn; k++) {
    const t = look.next() * 2 * Math.PI;
    const lx = (la + wall * 0.5) * Math.cos(t);
    const ly = (lb + wall * 0.5) * Math.sin(t);
    const tangent = Math.atan2(lb * Math.cos(t), -la * Math.sin(t)) + angle;
    v.nuclei.push(makeNucleus(Kind.Endothelial, x + lx * v.cos - ly * v.sin, y + lx * v.sin + ly * v.cos, tangent, look, L.mpp));
  }
  return v;
}

export function insideVessel(v: Vessel, x: number, y: number): boolean {
  const dx = x - v.x;
  const dy = y - v.y;
  if (dx * dx + dy * dy > v.reach * v.reach) return false;
  const u = (dx * v.cos + dy * v.sin) / (v.la + v.wall + 1);
  const w = (-dx * v.sin + dy * v.cos) / (v.lb + v.wall + 1);
  return u * u + w * w < 1;
}

export function paintVessel(c: Canvas, v: Vessel): void {
  const [x0, y0, x1, y1] = clipBox(c, v.x, v.y, v.reach);
  const { hOD, eOD, rOD, w } = c;
  const minor = Math.min(v.la, v.lb);
  for (let y = y0; y < y1; y++) {
    const dy = y + 0.5 - v.y;
    let idx = (y - c.y0) * w + (x0 - c.x0);
    for (let x = x0; x < x1; x++, idx++) {
      const dx = x + 0.5 - v.x;
      const u = (dx * v.cos + dy * v.sin) / v.la;
      const q = (-dx * v.sin + dy * v.cos) / v.lb;
      const d = (Math.sqrt(u * u + q * q) - 1) * minor; // px outside the lumen
      if (d > v.wall + 1) continue;
      let hv = 0.02;
      let ev = 0.14; // plasma
      let rv = 0;
      if (d >= 0) {
        hv = 0.1;
        ev = 1.05;
      } else {
        for (let k = 0; k < v.rbc.length; k += 3) {
          const ddx = x + 0.5 - v.rbc[k]!;
          const ddy = y + 0.5 - v.rbc[k + 1]!;
          const r = v.rbc[k + 2]!;
          const dist = Math.sqrt(ddx * ddx + ddy * ddy);
          if (dist >= r + 0.5) continue;
          const edge = Math.min(1, r + 0.5 - dist);
          const pallor = 1 - 0.35 * Math.max(0, 1 - (dist / r) * 1.6);
          rv = Math.max(rv, 1.15 * pallor * edge);
        }
      }
      let alpha = v.wall + 0.5 - d;
      alpha = alpha > 1 ? 1 : alpha;
      const keep = 1 - alpha;
      hOD[idx] = hOD[idx]! * keep + hv * alpha;
      eOD[idx] = eOD[idx]! * keep + ev * alpha;
      rOD[idx] = rOD[idx]! * keep + rv * alpha;
    }
  }
}
