/**
 * Live overlay tiles: Deep Zoom tiles rendered on request from an analysis's float store (any
 * colormap and range, no pre-rendered pyramid needed), PNG with NaN (no tissue) transparent.
 */
import sharp from 'sharp';
import { colorize, renderTileValues, type DziColormap, type FloatStore } from '../maps/index.js';
import type { DzTile } from './deep-zoom.js';

export const OVERLAY_TILE_SIZE = 256;
export const OVERLAY_TILE_OVERLAP = 0;

/** RGBA of one tile: the store's values over the tile's area at its resolution, colour-mapped. */
export async function overlayTileRgba(store: FloatStore, t: DzTile, range: [number, number], colormap: DziColormap): Promise<{ rgba: Uint8Array; empty: boolean }> {
  const values = await renderTileValues(store, t.scale, t.x, t.y, t.width, t.height);
  return { rgba: colorize(values, range, colormap), empty: values.every(Number.isNaN) };
}

export function encodePng(rgba: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}
