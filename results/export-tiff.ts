/**
 * One overlay of a finished analysis as a tiled pyramidal TIFF that OpenSlide and QuPath open as an
 * image of the slide's physical size: coloured with the viewer's colour maps and range rule
 * (maps/dzi.ts `colorize`, the manifest's range unless one is given), each pyramid level rendered
 * tile by tile straight from the float store (memory is a few tiles, whatever the slide).
 *
 * Georeferencing: pixel (i, j) of the full-size level covers level-0 [i*D, (i+1)*D) x [j*D, (j+1)*D)
 * of the slide (D the overlay's downsample; the store's own pixels, not resampled), the image spans
 * ceil(slide size / D) so it covers the whole slide, and its resolution is the slide's MPP x D.
 * With `fullResolution` the full-size level is the slide's level-0 size (store pixels repeated,
 * nearest), so its pixel coordinates are the slide's and it overlays 1:1; its coarser levels are
 * the slide-side powers of two below D, then the same levels as the overlay-resolution file.
 */
import { join } from 'node:path';
import { SdsError } from '../core/errors.js';
import { overlayKey, OUTPUT_VARIANT, type OverlayEntry } from '../contracts/index.js';
import { colorize, DZI_COLORMAPS, FloatStore, renderTileValues, type DziColormap } from '../maps/index.js';
import { checkExportAborted, checkOutputPath, overlayByKey } from './export-common.js';
import { writeTiledTiff, type TiffLevelShape, type UniformTile } from './export-tiff-writer.js';
import { readManifest } from './manifest.js';

export interface OverlayTiffOptions {
  /** `variant/method/layer` (or `model/output/<class>`) */
  overlay: string;
  out: string;
  /** default: as the analysis drew it (diverging for saliency, viridis for the model's outputs) */
  colormap?: DziColormap;
  /** values at lo / hi map to the colour map's ends; default (auto) the manifest's range, the viewer's */
  range?: [number, number];
  /** write the slide's level-0 size (nearest upsampling) instead of the overlay's own resolution */
  fullResolution?: boolean;
  /** deflate (default): lossless RGBA, no data transparent; jpeg: RGB, no data white */
  compression?: 'deflate' | 'jpeg';
  quality?: number;
  tileSize?: number;
  /** write BigTIFF even when classic TIFF would do */
  bigTiff?: boolean;
  /** replace an existing file */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** stops the export before its next tile (ABORTED; the partial file is removed) */
  signal?: AbortSignal;
}

export interface TiffLevelInfo extends TiffLevelShape {
  /** level-0 slide pixels per pixel of this level */
  downsample: number;
}

export interface OverlayTiffResult {
  path: string;
  overlay: OverlayEntry;
  colormap: DziColormap;
  range: [number, number];
  levels: TiffLevelInfo[];
  /** microns per pixel of the full-size level, when the slide states its MPP */
  mpp?: { x: number; y: number };
  description: string;
  bytes: number;
  tiles: number;
  bigTiff: boolean;
}

/** Level downsamples (level-0 px per pixel), largest image first, down to one tile. */
export function tiffLevels(slideW: number, slideH: number, D: number, fullResolution: boolean, tileSize: number): TiffLevelInfo[] {
  const fs: number[] = [];
  if (fullResolution && D > 1) {
    // powers of two of the slide below the overlay's own resolution (skipping one too close to D)
    for (let f = 1; f === 1 || f * 1.5 <= D; f *= 2) fs.push(f);
  }
  for (let k = 0; ; k++) {
    const f = D * 2 ** k;
    fs.push(f);
    if (Math.max(Math.ceil(slideW / f), Math.ceil(slideH / f)) <= tileSize) break;
  }
  const out: TiffLevelInfo[] = [];
  for (const f of fs) {
    const info = { width: Math.max(1, Math.ceil(slideW / f)), height: Math.max(1, Math.ceil(slideH / f)), downsample: f };
    out.push(info);
    if (Math.max(info.width, info.height) <= tileSize) break;
  }
  return out;
}

/**
 * Floats of a level-pixel rectangle (x0, y0, w, h) of a level at downsample f: from the overlay's
 * own pyramid (box averages, as the viewer's tiles) at or above the overlay resolution, else the
 * store pixel under each pixel's centre (nearest). Undefined where there is no data at all.
 */
async function levelValues(store: FloatStore, D: number, f: number, x0: number, y0: number, w: number, h: number): Promise<Float32Array | undefined> {
  const k = Math.log2(f / D);
  if (Math.abs(k - Math.round(k)) < 1e-9 && k > -0.5) {
    const v = await renderTileValues(store, 2 ** Math.round(k), x0, y0, w, h);
    return v.every(Number.isNaN) ? undefined : v;
  }
  const map = (i: number) => Math.floor(((i + 0.5) * f) / D);
  const sx0 = map(x0), sy0 = map(y0);
  const sw = map(x0 + w - 1) - sx0 + 1, sh = map(y0 + h - 1) - sy0 + 1;
  const src = await store.readRegion(0, sx0, sy0, sw, sh);
  // glass: known from the few store pixels under the tile, before upsampling them
  if (src.every(Number.isNaN)) return undefined;
  const out = new Float32Array(w * h);
  const cols = Int32Array.from({ length: w }, (_, i) => map(x0 + i) - sx0);
  for (let j = 0; j < h; j++) {
    const row = (map(y0 + j) - sy0) * sw;
    for (let i = 0; i < w; i++) out[j * w + i] = src[row + cols[i]!]!;
  }
  return out;
}

const fmt = (v: number) => Number(v.toPrecision(6)).toString();

export async function exportOverlayTiff(analysisDir: string, o: OverlayTiffOptions): Promise<OverlayTiffResult> {
  const m = await readManifest(analysisDir);
  const ov = overlayByKey(m, o.overlay);
  const colormap = o.colormap ?? (ov.variant === OUTPUT_VARIANT ? 'viridis' : 'diverging');
  if (!DZI_COLORMAPS.includes(colormap)) throw new SdsError('BAD_ARGUMENT', `unknown colour map "${colormap}"`, { suggestion: `choose one of ${DZI_COLORMAPS.join(', ')}` });
  const range = o.range ?? ov.range;
  if (!(Number.isFinite(range[0]) && Number.isFinite(range[1]) && range[1] > range[0])) {
    throw new SdsError('BAD_ARGUMENT', `the range must be two finite numbers lo < hi, got ${range.join(',')}`, { suggestion: 'give --range lo,hi, or --range auto for the analysis\' own' });
  }
  const compression = o.compression ?? 'deflate';
  const tileSize = o.tileSize ?? 256;
  await checkOutputPath(o.out, o.force ?? false);
  checkExportAborted(o.signal);
  const store = await FloatStore.open(join(analysisDir, ov.store), { cacheChunks: 8 });
  const D = ov.downsample;
  const levels = tiffLevels(m.slide.width, m.slide.height, D, o.fullResolution ?? false, tileSize);
  const top = levels[0]!;
  const mpp = m.slide.mpp ? { x: m.slide.mpp.x * top.downsample, y: m.slide.mpp.y * top.downsample } : undefined;
  const description = [
    `sds overlay ${overlayKey(ov)} of ${m.slide.name} (${m.slide.width}x${m.slide.height} px at level 0)`,
    `model ${m.model.weights}; analysed ${m.created}`,
    `colour map ${colormap}, range [${fmt(range[0])}, ${fmt(range[1])}] (values outside clipped); no data ${compression === 'jpeg' ? 'white' : 'transparent'}`,
    `${fmt(top.downsample)} slide level-0 px per pixel${top.downsample === D ? ' (the overlay resolution)' : `, upsampled (nearest) from the overlay at ${fmt(D)}`}`,
    mpp ? `${fmt(mpp.x)} x ${fmt(mpp.y)} um per pixel (slide ${fmt(m.slide.mpp!.x)} x ${fmt(m.slide.mpp!.y)})` : 'the slide states no microns per pixel',
  ].join('; ');

  const channels = compression === 'jpeg' ? 3 : 4;
  const noData = new Uint8Array(channels).fill(channels === 3 ? 255 : 0);
  const tile = async (l: number, col: number, row: number): Promise<Uint8Array | UniformTile> => {
    checkExportAborted(o.signal);
    const L = levels[l]!;
    const x0 = col * tileSize, y0 = row * tileSize;
    const w = Math.min(tileSize, L.width - x0), h = Math.min(tileSize, L.height - y0);
    const values = await levelValues(store, D, L.downsample, x0, y0, w, h);
    // most tiles of a slide are glass: one stored tile serves them all
    if (!values) return { pixel: noData };
    const rgba = colorize(values, range, colormap);
    // padding beyond the level's edge: no data
    const out = new Uint8Array(tileSize * tileSize * channels).fill(noData[0]!);
    for (let j = 0; j < h; j++)
      for (let i = 0; i < w; i++) {
        const s = (j * w + i) * 4, d = (j * tileSize + i) * channels;
        if (channels === 4) out.set(rgba.subarray(s, s + 4), d);
        else if (rgba[s + 3]) out.set(rgba.subarray(s, s + 3), d);
      }
    return out;
  };
  const r = await writeTiledTiff(o.out, levels, tile, {
    tileSize,
    compression,
    quality: o.quality,
    description,
    software: 'sds export',
    bigTiff: o.bigTiff,
    ...(mpp ? { pixelsPerCm: { x: 1e4 / mpp.x, y: 1e4 / mpp.y } } : {}),
  }, o.onProgress);
  return { path: o.out, overlay: ov, colormap, range, levels, ...(mpp ? { mpp } : {}), description, bytes: r.bytes, tiles: r.tiles, bigTiff: r.bigTiff };
}
