/** Deep Zoom pyramid geometry: which rectangle of which level a tile (level, col, row) covers. */
import { dziLevels } from '../maps/index.js';

export interface DzLevel {
  level: number;
  width: number;
  height: number;
  cols: number;
  rows: number;
}

export interface DzGeometry {
  width: number;
  height: number;
  tileSize: number;
  overlap: number;
  levels: DzLevel[];
  maxLevel: number;
}

export interface DzTile {
  level: number;
  col: number;
  row: number;
  /** Top-left and size in pixels of the Deep Zoom level (overlap included). */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Level-0 pixels per pixel of this level (a power of two). */
  scale: number;
}

export function dzGeometry(width: number, height: number, tileSize: number, overlap: number): DzGeometry {
  const levels = dziLevels(width, height, tileSize);
  return { width, height, tileSize, overlap, levels, maxLevel: levels.length - 1 };
}

/** The tile's rectangle, or undefined when the pyramid has no such tile. */
export function dzTile(g: DzGeometry, level: number, col: number, row: number): DzTile | undefined {
  const L = g.levels[level];
  if (!L || col >= L.cols || row >= L.rows || col < 0 || row < 0) return undefined;
  // Standard Deep Zoom overlap: a tile reaches `overlap` pixels into each neighbour it has.
  const x = Math.max(0, col * g.tileSize - g.overlap);
  const y = Math.max(0, row * g.tileSize - g.overlap);
  const x1 = Math.min(L.width, (col + 1) * g.tileSize + g.overlap);
  const y1 = Math.min(L.height, (row + 1) * g.tileSize + g.overlap);
  return { level, col, row, x, y, width: x1 - x, height: y1 - y, scale: 2 ** (g.maxLevel - level) };
}
