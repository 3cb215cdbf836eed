/**
 * The strongest saliency regions of one overlay as GeoJSON polygons that QuPath imports (File >
 * Import objects): the map is thresholded (a quantile of |value| over tissue, or a given value),
 * streamed band by band through the contour tracer, and every region becomes an annotation in
 * level-0 pixel coordinates with its peak, mean and area as measurements.
 *
 * QuPath's reader (qupath-core PathObjectTypeAdapters): `properties.objectType`, `name`,
 * `classification: {name, color: [r, g, b]}`, `measurements` as a name -> number map (numbers
 * only), `metadata` as a name -> string map. Strings therefore go to metadata, and are repeated
 * as plain properties for other GeoJSON readers.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SdsError } from '../core/errors.js';
import { FloatStore, symmetricRange } from '../maps/index.js';
import { ContourTracer, type Component, type Ring } from './contours.js';
import type { OverlayEntry } from '../contracts/index.js';
import { findOverlay, readManifest } from './manifest.js';

export type RegionSign = 'positive' | 'negative' | 'abs';

export interface RegionOptions {
  layer: string;
  /** default backward-hook */
  variant?: string;
  /** default grad */
  method?: string;
  /** quantile of |value| over tissue used as threshold (default 0.99); ignored with `threshold` */
  quantile?: number;
  /** a fixed threshold on the value's magnitude in the chosen direction */
  threshold?: number;
  /** which values count: v >= t (positive, default), v <= -t (negative), |v| >= t (abs) */
  sign?: RegionSign;
  /** regions smaller than this (level-0 px²) are dropped, holes smaller than it filled (default: 4 map pixels) */
  minArea?: number;
  /** Douglas-Peucker tolerance in map pixels (default 0.7, about half a pixel diagonal: a pixel staircase along a straight edge becomes one segment) */
  tolerance?: number;
  /** output file (default `<analysis>/regions/<variant>/<method>/<layer>.geojson`) */
  out?: string;
}

export interface PolygonGeometry {
  type: 'Polygon';
  /** outer ring first, then holes; rings closed, outer counter-clockwise (positive shoelace area) */
  coordinates: number[][][];
}

export interface RegionMeasurements {
  /** the most extreme value in the chosen direction (for `negative`, the most negative) */
  max: number;
  mean: number;
  /** level-0 px² above threshold */
  area_px: number;
  area_um2?: number;
  /** level-0 position of the peak's map pixel centre */
  peak_x: number;
  peak_y: number;
}

export interface RegionFeature {
  type: 'Feature';
  geometry: PolygonGeometry;
  properties: {
    objectType: 'annotation';
    name: string;
    classification: { name: string; color: [number, number, number] };
    measurements: RegionMeasurements;
    metadata: Record<string, string>;
    layer: string;
    variant: string;
    method: string;
  };
}

export interface RegionCollection {
  type: 'FeatureCollection';
  features: RegionFeature[];
}

export interface RegionExport {
  path: string;
  overlay: OverlayEntry;
  /** magnitude threshold applied */
  threshold: number;
  collection: RegionCollection;
  /** level-0 px² over all regions */
  totalArea: number;
  /** most extreme region peak (NaN when there are no regions) */
  max: number;
}

const COLORS: Record<RegionSign, [number, number, number]> = { positive: [220, 40, 40], negative: [40, 90, 220], abs: [150, 60, 200] };

const round2 = (v: number) => Math.round(v * 100) / 100;

function scaleRing(r: Ring, ds: number): number[][] {
  return r.map(([x, y]) => [round2(x * ds), round2(y * ds)]);
}

/** Rows per band: whole store chunks, fewer for very wide maps (about 16 M values per band). */
export function bandRows(width: number, chunk: number): number {
  return Math.max(1, Math.min(chunk, Math.floor((1 << 24) / width)));
}

/** The traced regions of one overlay's store, before anything is written (`sds regions` writes them, the server sends them). */
export interface SaliencyRegions {
  /** magnitude threshold applied */
  threshold: number;
  collection: RegionCollection;
  /** level-0 px² over all regions */
  totalArea: number;
  /** most extreme region peak (NaN when there are no regions) */
  max: number;
}

/**
 * Thresholds `store` (the float store of overlay `ov`) and traces its regions, strongest peak
 * first: what `sds regions` writes, computed without writing (the server's on-demand regions).
 * Memory: one band of rows (`bandRows`) and the open components' outlines.
 */
export async function saliencyRegions(store: FloatStore, ov: OverlayEntry, mpp: { x: number; y: number } | undefined | null, o: Omit<RegionOptions, 'out'>): Promise<SaliencyRegions> {
  const variant = o.variant ?? 'backward-hook';
  const method = o.method ?? 'grad';
  const sign = o.sign ?? 'positive';
  const ds = ov.downsample;

  let threshold: number;
  if (o.threshold !== undefined) {
    if (!(o.threshold >= 0)) throw new SdsError('BAD_ARGUMENT', `--threshold must be a magnitude >= 0, got ${o.threshold}`, { suggestion: 'use --sign negative for negative values' });
    threshold = o.threshold;
  } else {
    const q = o.quantile ?? 0.99;
    if (!(q > 0 && q < 1)) throw new SdsError('BAD_ARGUMENT', `--quantile must be in (0, 1), got ${q}`);
    // streamed over the store's chunks (a histogram of |v|), never the whole map at once
    threshold = (await symmetricRange(store, { percentile: q * 100 }))[1];
  }
  const rank = sign === 'positive' ? (v: number) => v : sign === 'negative' ? (v: number) => -v : Math.abs;
  const minPixels = Math.max(1, o.minArea !== undefined ? o.minArea / (ds * ds) : 4);
  const tracer = new ContourTracer(store.width, { tolerance: o.tolerance ?? 0.7, minPixels, minHoleArea: minPixels, rank });

  const found: Component[] = [];
  const rows = bandRows(store.width, store.chunk);
  const W = store.width;
  for (let y = 0; y < store.height; y += rows) {
    const h = Math.min(rows, store.height - y);
    const values = await store.readRegion(0, 0, y, W, h);
    const mask = new Uint8Array(W * h);
    for (let i = 0; i < mask.length; i++) {
      const r = rank(values[i]!);
      // NaN (no tissue) compares false; a region needs saliency in the chosen direction, not just 0
      mask[i] = r >= threshold && r > 0 ? 1 : 0;
    }
    found.push(...tracer.push(mask, h, values));
  }
  found.push(...tracer.end());
  found.sort((a, b) => rank(b.peak) - rank(a.peak));

  const className = `Saliency ${o.layer}`;
  const features: RegionFeature[] = found.map((c, i) => {
    const area = c.pixels * ds * ds;
    const measurements: RegionMeasurements = { max: c.peak, mean: c.sum / c.pixels, area_px: area, peak_x: round2((c.peakX + 0.5) * ds), peak_y: round2((c.peakY + 0.5) * ds) };
    if (mpp) measurements.area_um2 = area * mpp.x * mpp.y;
    return {
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [scaleRing(c.outer, ds), ...c.holes.map((h) => scaleRing(h, ds))] },
      properties: {
        objectType: 'annotation',
        name: `${variant} ${method} ${o.layer} #${i + 1}`,
        classification: { name: className, color: COLORS[sign] },
        measurements,
        metadata: { layer: o.layer, variant, method, sign, threshold: String(threshold) },
        layer: o.layer,
        variant,
        method,
      },
    };
  });
  return {
    threshold,
    collection: { type: 'FeatureCollection', features },
    totalArea: features.reduce((s, f) => s + f.properties.measurements.area_px, 0),
    max: found.length ? found[0]!.peak : NaN,
  };
}

export async function exportSaliencyGeoJson(analysisDir: string, o: RegionOptions): Promise<RegionExport> {
  const variant = o.variant ?? 'backward-hook';
  const method = o.method ?? 'grad';
  const m = await readManifest(analysisDir);
  const ov = findOverlay(m, variant, method, o.layer);
  const store = await FloatStore.open(join(analysisDir, ov.store), { cacheChunks: 4 });
  const r = await saliencyRegions(store, ov, m.slide.mpp, o);
  const features = r.collection.features;
  const path = o.out ?? join(analysisDir, 'regions', variant, method, `${o.layer}.geojson`);
  await mkdir(dirname(path), { recursive: true });
  // one feature per line: diffable, and streamable by line-oriented tools
  await writeFile(path, `{"type":"FeatureCollection","features":[\n${features.map((f) => JSON.stringify(f)).join(',\n')}\n]}\n`);
  return { path, overlay: ov, ...r };
}
