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

const NO_PIXELS = new Uint8Array(0);

/**
 * A tile the file stores no data for (byte count 0; writers leave them where there is only glass): white, as
 * OpenSlide shows it, and nothing allocated, however large the file says its tiles are.
 */
export function blankTile(width: number, height: number): RgbImage {
  return { width, height, data: NO_PIXELS };
}

export function isBlank(tile: RgbImage): boolean {
  return tile.data.length === 0 && tile.width > 0 && tile.height > 0;
}

export interface ComposeOptions {
  signal?: AbortSignal;
  concurrency?: number;
}

/** x, y, width, height in this level's pixels; x and y may be negative or past the edge. */
export async function composeRegion(grid: TileGrid, x: number, y: number, width: number, height: number, fetchTile: TileFetcher, options: ComposeOptions = {}): Promise<Uint8Array> {
  return (await composeTiles(grid, x, y, width, height, fetchTile, options)) ?? new Uint8Array(width * height * 3).fill(WHITE);
}

/**
 * As composeRegion, but undefined when every tile it covers is blank (or it covers none): the region is only
 * allocated once a tile with pixels arrives, so blank areas of any size cost nothing.
 */
export async function composeTiles(
  grid: TileGrid,
  x: number,
  y: number,
  width: number,
  height: number,
  fetchTile: TileFetcher,
  options: ComposeOptions = {},
): Promise<Uint8Array | undefined> {
  let out: Uint8Array | undefined;
  const x0 = Math.max(x, 0);
  const y0 = Math.max(y, 0);
  const x1 = Math.min(x + width, grid.width);
  const y1 = Math.min(y + height, grid.height);
  if (x0 >= x1 || y0 >= y1) return undefined;
  // The covered tiles, row-major, by index (no list: a region may cover many small tiles).
  const col0 = Math.floor(x0 / grid.tileWidth);
  const row0 = Math.floor(y0 / grid.tileHeight);
  const cols = Math.ceil(x1 / grid.tileWidth) - col0;
  const count = cols * (Math.ceil(y1 / grid.tileHeight) - row0);
  const copy = (col: number, row: number, tile: RgbImage) => {
    if (isBlank(tile)) return; // white, which the region is filled with
    const dst = (out ??= new Uint8Array(width * height * 3).fill(WHITE));
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
      dst.set(tile.data.subarray(src, src + rowBytes), ((iy - y) * width + (ix0 - x)) * 3);
    }
  };
  // A few tiles in flight keep sharp's threads busy without decoding a whole huge region at once.
  let next = 0;
  let failed = false;
  const worker = async () => {
    try {
      while (next < count && !failed) {
        options.signal?.throwIfAborted();
        const i = next++;
        const col = col0 + (i % cols);
        const row = row0 + Math.floor(i / cols);
        copy(col, row, await fetchTile(col, row));
      }
    } catch (err) {
      failed = true; // the other workers stop at their next tile
      throw err;
    }
  };
  const n = Math.max(1, Math.min(options.concurrency ?? 8, count));
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}
