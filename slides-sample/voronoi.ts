/**
 * Voronoi cells of one jittered seed per grid cell: adipocytes and tumour cells. The seed of cell (i, j) is a
 * pure function of (i, j, seed), so the cell a pixel belongs to never depends on the region rendered.
 */
import { hash2, U32 } from './noise.js';

/** Seeds keep this far (fraction of a cell) from their cell's edges, so cells stay roughly even. */
const JITTER_MARGIN = 0.15;

export function seedX(i: number, j: number, cell: number, seed: number): number {
  return (i + JITTER_MARGIN + (1 - 2 * JITTER_MARGIN) * hash2(i, j, seed) * U32) * cell;
}

export function seedY(i: number, j: number, cell: number, seed: number): number {
  return (j + JITTER_MARGIN + (1 - 2 * JITTER_MARGIN) * hash2(i, j, seed + 1) * U32) * cell;
}

/** The result of the last nearestCell() call (module scratch: no allocation per pixel). */
export const voronoiHit = { border: 0, x: 0, y: 0, i: 0, j: 0 };

/** Nearest seed to (x, y) and the distance (px) to the border with the second nearest; result in voronoiHit. */
export function nearestCell(x: number, y: number, cell: number, seed: number): void {
  const ci = Math.floor(x / cell);
  const cj = Math.floor(y / cell);
  let d1 = Infinity;
  let d2 = Infinity;
  let p1x = 0;
  let p1y = 0;
  let p2x = 0;
  let p2y = 0;
  let bi = 0;
  let bj = 0;
  for (let j = cj - 1; j <= cj + 1; j++)
    for (let i = ci - 1; i <= ci + 1; i++) {
      const px = seedX(i, j, cell, seed);
      const py = seedY(i, j, cell, seed);
      const d = (px - x) * (px - x) + (py - y) * (py - y);
      if (d < d1) {
        d2 = d1;
        p2x = p1x;
        p2y = p1y;
        d1 = d;
        p1x = px;
        p1y = py;
        bi = i;
        bj = j;
      } else if (d < d2) {
        d2 = d;
        p2x = px;
        p2y = py;
      }
    }
  voronoiHit.x = p1x;
  voronoiHit.y = p1y;
  voronoiHit.i = bi;
  voronoiHit.j = bj;
  // Distance to the bisector of the two nearest seeds.
  voronoiHit.border = (d2 - d1) / (2 * Math.sqrt((p2x - p1x) * (p2x - p1x) + (p2y - p1y) * (p2y - p1y)));
}
