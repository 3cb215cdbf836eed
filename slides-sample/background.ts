/**
 * Everything under the cells, pixel by pixel: glass, the frayed tissue edge, collagen (wavy fibres along
 * the level sets of a warped phase, with white clefts between bundles), tumour-nest cytoplasm and fat
 * (adipocytes: empty polygons with thin pink membranes). Also the tissue and tumour masks.
 */
import type { Canvas } from './canvas.js';
import { F, FIELD_COUNT, LATTICE, type FieldGrid } from './fields.js';
import type { SlideLayout } from './layout.js';
import { gradientNoise, hash2, U32, valueNoise } from './noise.js';
import { nearestCell, voronoiHit } from './voronoi.js';

/** Adipocyte size (µm): cells of this grid each hold one jittered seed of a Voronoi tessellation. */
export const FAT_CELL_UM = 55;
/** Where the fat field at an adipocyte's seed exceeds this, the cell is fat (empty). */
export const FAT_CELL_THRESHOLD = 0.3;
/** Tumour cell size (µm); nuclei.ts puts one nucleus near each seed. */
export const TUMOUR_CELL_UM = 14;

export function paintBackground(c: Canvas, grid: FieldGrid, L: SlideLayout, tissueMask: Uint8Array, tumourMask: Uint8Array): void {
  const um = 1 / L.mpp;
  const s = L.seeds;
  const vals = grid.values;
  const gw = grid.gw;
  const FC = FIELD_COUNT;
  const row = gw * FC;
  const c0 = Math.cos(L.fibreAngle);
  const s0 = Math.sin(L.fibreAngle);
  const iWave = 1 / (35 * um);
  const wave = 5 * um;
  const iAcross = 1 / (1.6 * um);
  const iAlong = 1 / (14 * um);
  const iBundleA = 1 / (9 * um);
  const iBundleL = 1 / (70 * um);
  const iCleftA = 1 / (16 * um);
  const iCleftL = 1 / (110 * um);
  const iGrain = 1 / (1.4 * um);
  const iFray = 1 / (3 * um);
  const fray = 2.5 * um;
  const iSeg = 1 / (30 * um);
  const nestEdge = 1 / (1.5 * um);
  const fatCell = FAT_CELL_UM * um;
  const tumourCell = TUMOUR_CELL_UM * um;
  const { hOD, eOD, rOD } = c;
  for (let j = 0; j < c.h; j++) {
    const y = c.y0 + j;
    const gyAbs = Math.floor(y / LATTICE);
    const fy = (y - gyAbs * LATTICE) / LATTICE;
    const rowBase = (gyAbs - grid.gy0) * row;
    for (let i = 0, idx = j * c.w; i < c.w; i++, idx++) {
      const x = c.x0 + i;
      const gxAbs = Math.floor(x / LATTICE);
      const fx = (x - gxAbs * LATTICE) / LATTICE;
      const o = rowBase + (gxAbs - grid.gx0) * FC;
      let t = lerp2(vals, o, FC, row, F.tissue, fx, fy);
      if (t < -fray - 1) continue;
      t += fray * (2 * valueNoise(x * iFray, y * iFray, s.tissue) - 1);
      let cov = t / 1.5 + 0.5;
      if (cov <= 0) continue;
      if (cov > 1) cov = 1;
      if (t >= 0) tissueMask[idx] = 1;
      const tumourField = lerp2(vals, o, FC, row, F.tumour, fx, fy);
      const tumour = tumourField >= 0;
      if (tumour && t >= 0) tumourMask[idx] = 1;

      // Collagen: noise stretched along the level sets of a warped, wavy phase psi: fine fibres, bundles, clefts.
      const psi = x * c0 + y * s0 + lerp2(vals, o, FC, row, F.warp, fx, fy) + wave * gradientNoise(x * iWave, y * iWave, s.fibre);
      const phi = y * c0 - x * s0;
      const streak = valueNoise(psi * iAcross, phi * iAlong, s.fibre + 1);
      const bundle = valueNoise(psi * iBundleA, phi * iBundleL, s.fibre + 2);
      const crack = Math.abs(valueNoise(psi * iCleftA, phi * iCleftL, s.fibre + 3) - 0.5);
      const grain = valueNoise(x * iGrain, y * iGrain, s.fibre + 4);
      let cleft = 0;
      if (crack < 0.04) {
        const seg = valueNoise(x * iSeg, y * iSeg, s.fibre + 5);
        if (seg > 0.4) cleft = 0.85 * Math.min(1, (0.04 - crack) * 50) * Math.min(1, (seg - 0.4) * 5);
      }
      const density = lerp2(vals, o, FC, row, F.density, fx, fy) * (tumour ? 0.8 : 1);
      let e = 0.72 * density * (0.62 + 0.38 * streak) * (0.75 + 0.5 * bundle) * (1 + 0.25 * (grain - 0.5)) * (1 - 0.9 * cleft);
      let h = 0.1 * (0.8 + 0.4 * grain) * (1 - 0.9 * cleft);

      if (tumour) {
        // Nests: sheets of tumour cells, amphophilic cytoplasm; between them desmoplastic stroma.
        let n = lerp2(vals, o, FC, row, F.nest, fx, fy) * nestEdge + 0.5;
        if (n > 0) {
          if (n > 1) n = 1;
          // One cell per Voronoi cell of the tumour-cell seeds: its own shade, a faint membrane between cells.
          nearestCell(x, y, tumourCell, s.tumourCells);
          const shade = hash2(voronoiHit.i, voronoiHit.j, s.nest) * U32;
          const edge = voronoiHit.border < 0.35 * um ? 1 : voronoiHit.border < 0.8 * um ? (0.8 * um - voronoiHit.border) / (0.45 * um) : 0;
          const g2 = valueNoise(x * iGrain * 0.7, y * iGrain * 0.7, s.nest + 1);
          const ch = (0.18 + 0.1 * shade + 0.08 * g2) * (1 + 0.15 * edge);
          const ce = (0.5 + 0.22 * shade + 0.15 * g2) * (1 + 0.2 * edge);
          h = h * (1 - n) + ch * n;
          e = e * (1 - n) + ce * n;
        }
      } else {
        const fat = lerp2(vals, o, FC, row, F.fat, fx, fy);
        if (fat > 0.1) {
          nearestCell(x, y, fatCell, s.fat);
          const m = voronoiHit.border / (0.7 * um);
          // Whole adipocytes: the fat field at the cell's own seed decides, so no cell is cut in half.
          if (grid.at(voronoiHit.x, voronoiHit.y, F.fat) > FAT_CELL_THRESHOLD) {
            // Membranes stay pink, the cell bodies are empty (lipid is dissolved in processing).
            const keepOD = m < 1 ? 1 : m > 2 ? 0 : 2 - m;
            h = 0.1 * keepOD;
            e = 0.75 * keepOD;
          }
        }
      }
      hOD[idx] = h * cov;
      eOD[idx] = e * cov;
      rOD[idx] = 0;
    }
  }
}

function lerp2(vals: Float64Array, o: number, FC: number, row: number, f: number, fx: number, fy: number): number {
  const a = vals[o + f]!;
  const top = a + (vals[o + FC + f]! - a) * fx;
  const b = vals[o + row + f]!;
  return top + (b + (vals[o + row + FC + f]! - b) * fx - top) * fy;
}
