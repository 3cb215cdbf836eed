/**
 * OpenSlide 3.4.1's level list for Hamamatsu JPEG slides: every stored level, plus the levels libjpeg can make
 * from it by decoding at 1/2, 1/4 and 1/8 (when its tile sides divide), keyed by width: a level made later with
 * the same width replaces an earlier one (a stored level replaces the scaled views of larger levels, the scaled
 * views of a smaller level replace those of larger ones). Largest first.
 */
import type { LevelJpeg } from './level-jpeg.js';

export type Denominator = 1 | 2 | 4 | 8;

export interface NdpiLevelPlan {
  jpeg: LevelJpeg;
  denom: Denominator;
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  /** The stored level's whole tiles (the same count at every scale). */
  tilesAcross: number;
  tilesDown: number;
}

export function openslideLevels(stored: readonly { jpeg: LevelJpeg; width: number; height: number }[]): NdpiLevelPlan[] {
  const byWidth = new Map<number, NdpiLevelPlan>();
  for (const { jpeg, width, height } of stored) {
    const { tileWidth, tileHeight, tilesAcross, tilesDown } = jpeg.grid;
    for (const denom of [1, 2, 4, 8] as const) {
      if (tileWidth % denom || tileHeight % denom) continue;
      const w = Math.floor(width / denom);
      // A Map keeps a replaced key's first position; the order is fixed by the sort below anyway.
      byWidth.set(w, { jpeg, denom, width: w, height: Math.floor(height / denom), tileWidth: tileWidth / denom, tileHeight: tileHeight / denom, tilesAcross, tilesDown });
    }
  }
  return [...byWidth.values()].sort((a, b) => b.width - a.width);
}
