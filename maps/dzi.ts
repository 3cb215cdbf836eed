/**
 * Deep Zoom (DZI) pyramid rendered from a FloatStore: colour-mapped RGBA tiles for the viewer.
 * Each tile is rendered on its own from the store (box average from the nearest not-coarser store
 * level), so memory is a tile's worth of floats however large the slide.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';
import { divergingRgb } from './colormap.js';
import type { FloatStore } from './float-store.js';

export const DZI_COLORMAPS = ['diverging', 'viridis', 'magma', 'gray'] as const;
export type DziColormap = (typeof DZI_COLORMAPS)[number];

export interface DziOptions {
  /** Values at lo / hi map to the ends of the colormap (clipped outside). */
  range: [number, number];
  colormap?: DziColormap;
  tileSize?: number;
  overlap?: number;
  format?: 'png' | 'webp';
  /** Tiles encoded concurrently. */
  concurrency?: number;
}

export interface DziResult {
  dziPath: string;
  filesDir: string;
  /** Deep Zoom level count (levels 0..maxLevel). */
  levels: number;
  tiles: number;
}

/** Deep Zoom level geometry: level L is the full image shrunk by 2^(maxLevel - L), rounded up. */
export function dziLevels(width: number, height: number, tileSize: number): { level: number; width: number; height: number; cols: number; rows: number }[] {
  const maxLevel = Math.ceil(Math.log2(Math.max(width, height, 1)));
  const out = [];
  for (let level = 0; level <= maxLevel; level++) {
    const f = 2 ** (maxLevel - level);
    const w = Math.max(1, Math.ceil(width / f));
    const h = Math.max(1, Math.ceil(height / f));
    out.push({ level, width: w, height: h, cols: Math.ceil(w / tileSize), rows: Math.ceil(h / tileSize) });
  }
  return out;
}

export function dziXml(width: number, height: number, tileSize: number, overlap: number, format: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" TileSize="${tileSize}" Overlap="${overlap}" Format="${format}">\n` +
    `  <Size Width="${width}" Height="${height}"/>\n` +
    '</Image>\n'
  );
}

// Viridis anchors at t = 0, 1/8, ..., 1 (matplotlib values); linear in between is visually faithful.
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
  [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37],
];

// Magma anchors at the same nine points (matplotlib values).
const MAGMA: [number, number, number][] = [
  [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
  [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191],
];

// Gray: black to white.
const GRAY: [number, number, number][] = [[0, 0, 0], [255, 255, 255]];

/** t in [0, 1] (clipped) -> RGB by linear interpolation between evenly spaced anchors. */
function anchoredRgb(anchors: [number, number, number][], t: number, out: Uint8Array, o: number): void {
  const x = Math.max(0, Math.min(1, t)) * (anchors.length - 1);
  const i = Math.min(anchors.length - 2, Math.floor(x));
  const f = x - i;
  const a = anchors[i]!, b = anchors[i + 1]!;
  for (let c = 0; c < 3; c++) out[o + c] = Math.round(a[c]! + (b[c]! - a[c]!) * f);
}

/**
 * The sequential colour maps' anchors: the one table the tiles are coloured from and the viewer's
 * legend draws (served by GET /api/config). Diverging is a formula (blue-white-red), not a table.
 */
export const SEQUENTIAL_ANCHORS: Record<Exclude<DziColormap, 'diverging'>, [number, number, number][]> = { viridis: VIRIDIS, magma: MAGMA, gray: GRAY };

/** Floats -> RGBA bytes; NaN is fully transparent, everything else opaque. */
export function colorize(values: Float32Array, range: [number, number], colormap: DziColormap): Uint8Array {
  const [lo, hi] = range;
  const n = values.length;
  const rgba = new Uint8Array(n * 4);
  if (colormap === 'diverging') {
    // divergingRgb is centred on 0 with half-width `scale`; shift so the range centre is white.
    const centre = (lo + hi) / 2;
    const shifted = centre === 0 ? values : values.map((v) => v - centre);
    const rgb = divergingRgb(shifted, (hi - lo) / 2);
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(values[i]!)) continue;
      rgba[i * 4] = rgb[i * 3]!;
      rgba[i * 4 + 1] = rgb[i * 3 + 1]!;
      rgba[i * 4 + 2] = rgb[i * 3 + 2]!;
      rgba[i * 4 + 3] = 255;
    }
  } else {
    const anchors = SEQUENTIAL_ANCHORS[colormap];
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (Number.isNaN(v)) continue;
      anchoredRgb(anchors, (v - lo) / span, rgba, i * 4);
      rgba[i * 4 + 3] = 255;
    }
  }
  return rgba;
}

/**
 * Floats of the level-0 rectangle covered by a Deep Zoom tile, at that tile's resolution:
 * picks the store level whose scale is the largest power of two not above the DZ downsample f,
 * then NaN-aware box-averages r x r store pixels (r = f / 2^s) per output pixel.
 */
export async function renderTileValues(store: FloatStore, f: number, x0: number, y0: number, w: number, h: number): Promise<Float32Array> {
  const s = Math.min(store.levels.length - 1, Math.floor(Math.log2(f)));
  const r = f / 2 ** s;
  const src = await store.readRegion(s, x0 * r, y0 * r, w * r, h * r);
  if (r === 1) return src;
  const sw = w * r;
  const out = new Float32Array(w * h);
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      let sum = 0, n = 0;
      for (let dy = 0; dy < r; dy++) {
        const row = (j * r + dy) * sw + i * r;
        for (let dx = 0; dx < r; dx++) {
          const v = src[row + dx]!;
          if (!Number.isNaN(v)) {
            sum += v;
            n++;
          }
        }
      }
      out[j * w + i] = n ? sum / n : NaN;
    }
  }
  return out;
}

/** Writes `outBase.dzi` and `outBase_files/<level>/<col>_<row>.<format>` from the store. */
export async function writeDzi(store: FloatStore, outBase: string, options: DziOptions): Promise<DziResult> {
  const { range, colormap = 'diverging', tileSize = 254, overlap = 1, format = 'png', concurrency = 4 } = options;
  if (!(Number.isFinite(range[0]) && Number.isFinite(range[1]) && range[1] >= range[0])) {
    throw new SdsError('BAD_ARGUMENT', `DZI range must be finite with lo <= hi, got [${range.join(', ')}]`, {
      suggestion: 'compute it with valueRange/symmetricRange; an all-NaN store has no range',
    });
  }
  if (!Number.isInteger(tileSize) || tileSize <= 0 || !Number.isInteger(overlap) || overlap < 0) {
    throw new SdsError('BAD_ARGUMENT', `bad DZI tiling: tileSize ${tileSize}, overlap ${overlap}`);
  }
  const { width, height } = store;
  const levels = dziLevels(width, height, tileSize);
  const maxLevel = levels.length - 1;
  const filesDir = `${outBase}_files`;
  await mkdir(dirname(outBase), { recursive: true });

  const inFlight = new Set<Promise<void>>();
  const emptyCache = new Map<string, Promise<Buffer>>();
  const encode = (rgba: Uint8Array, w: number, h: number): Promise<Buffer> => {
    const img = sharp(rgba, { raw: { width: w, height: h, channels: 4 } });
    return format === 'png' ? img.png().toBuffer() : img.webp({ lossless: true }).toBuffer();
  };
  let tiles = 0;
  for (const L of levels) {
    const dir = join(filesDir, String(L.level));
    await mkdir(dir, { recursive: true });
    const f = 2 ** (maxLevel - L.level);
    for (let row = 0; row < L.rows; row++) {
      for (let col = 0; col < L.cols; col++) {
        // Standard Deep Zoom overlap: tiles extend `overlap` pixels into each interior neighbour.
        const x0 = Math.max(0, col * tileSize - overlap);
        const y0 = Math.max(0, row * tileSize - overlap);
        const x1 = Math.min(L.width, (col + 1) * tileSize + overlap);
        const y1 = Math.min(L.height, (row + 1) * tileSize + overlap);
        const w = x1 - x0, h = y1 - y0;
        const values = await renderTileValues(store, f, x0, y0, w, h);
        let buf: Promise<Buffer>;
        if (values.every(Number.isNaN)) {
          // Empty tiles are the bulk of a slide: encode one transparent tile per size and reuse it.
          const key = `${w}x${h}`;
          buf = emptyCache.get(key) ?? encode(new Uint8Array(w * h * 4), w, h);
          emptyCache.set(key, buf);
        } else {
          buf = encode(colorize(values, range, colormap), w, h);
        }
        const job = buf.then((b) => writeFile(join(dir, `${col}_${row}.${format}`), b));
        inFlight.add(job);
        void job.finally(() => inFlight.delete(job)).catch(() => undefined);
        if (inFlight.size >= concurrency) await Promise.race(inFlight);
        tiles++;
      }
    }
  }
  await Promise.all(inFlight);
  const dziPath = `${outBase}.dzi`;
  await writeFile(dziPath, dziXml(width, height, tileSize, overlap, format));
  return { dziPath, filesDir, levels: levels.length, tiles };
}
