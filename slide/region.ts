/**
 * A rectangle of one level assembled from its tiles; pure geometry over a tile fetcher, so it serves stored
 * and virtual levels alike. Pixels outside the level stay white, as OpenSlide's transparent pixels do on white.
 */
import { SdsError } from '../core/errors.js';
import type { RgbImage } from './types.js';

export interface TileGrid {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
}

/** A tile covering at least the part of [col, row] that lies inside the level. */
export type TileFetcher = (col: number, row: number) => Promise<RgbImage>;

export const WHITE = 255;

/** x, y, width, height in this level's pixels; x and y may be negative or past the edge. */
export async function composeRegion(
  grid: TileGrid,
  x: number,
  y: number,
  width: number,
  height: number,
  fetchTile: TileFetcher,
  options: { signal?: AbortSignal; concurrency?: number } = {},
): Promise<Uint8Array> {
  const out = new Uint8Array(width * height * 3).fill(WHITE);
  const x0 = Math.max(x, 0);
  const y0 = Math.max(y, 0);
  const x1 = Math.min(x + width, grid.width);
  const y1 = Math.min(y + height, grid.height);
  if (x0 >= x1 || y0 >= y1) return out;
  const tiles: [number, number][] = [];
  for (let row = Math.floor(y0 / grid.tileHeight); row * grid.tileHeight < y1; row++) {
    for (let col = Math.floor(x0 / grid.tileWidth); col * grid.tileWidth < x1; col++) tiles.push([col, row]);
  }
  const copy = (col: number, row: number, tile: RgbImage) => {
    const tx = col * grid.tileWidth;
    const ty = row * grid.tileHeight;
    const ix0 = Math.max(x0, tx);
    const ix1 = Math.min(x1, tx + grid.tileWidth);
    const iy0 = Math.max(y0, ty);
    const iy1 = Math.min(y1, ty + grid.tileHeight);
    if (tile.width < ix1 - tx || tile.height < iy1 - ty) {
      throw new SdsError('SLIDE_UNREADABLE', `tile (${col}, ${row}) decoded to ${tile.width}x${tile.height}, smaller than the ${ix1 - tx}x${iy1 - ty} it must cover`, {
        suggestion: 'the tile data is corrupt',
      });
    }
    const rowBytes = (ix1 - ix0) * 3;
    for (let iy = iy0; iy < iy1; iy++) {
      const src = ((iy - ty) * tile.width + (ix0 - tx)) * 3;
      out.set(tile.data.subarray(src, src + rowBytes), ((iy - y) * width + (ix0 - x)) * 3);
    }
  };
  // A few tiles in flight keep sharp's threads busy without decoding a whole huge region at once.
  let next = 0;
  let failed = false;
  const worker = async () => {
    try {
      while (next < tiles.length && !failed) {
        options.signal?.throwIfAborted();
        const [col, row] = tiles[next++]!;
        copy(col, row, await fetchTile(col, row));
      }
    } catch (err) {
      failed = true; // the other workers stop at their next tile
      throw err;
    }
  };
  const n = Math.max(1, Math.min(options.concurrency ?? 8, tiles.length));
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}
