/**
 * Localisation score of an analysis against ground truth: for each overlay, the AUROC of its
 * saliency over tissue pixels against a binary mask (nuclei, tumour) brought to the overlay's
 * resolution. It says at which layer, and with which variant, saliency lights up the structure.
 * Overlays are read band by band; the mask is held once at its own resolution.
 */
import { join } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { SdsError } from '../core/errors.js';
import { AurocAccumulator } from '../saliency/index.js';
import { FloatStore } from '../maps/index.js';
import type { OverlayEntry } from '../contracts/index.js';
import { bandRows } from './geojson.js';
import { readManifest } from './manifest.js';

export interface GroundTruthMask {
  name: string;
  /** PNG (or any 8-bit image sharp reads); first-channel values of at least half the image's maximum are inside */
  png: string;
  /** level-0 pixels per mask pixel (default: slide width / mask width) */
  downsample?: number;
}

export interface LocalisationOptions {
  /**
   * what `auroc` ranks by: |saliency| (default), the value (positive on the mask) or its negative.
   * Rows carry the |v| and signed AUROCs as well: a map can separate a structure by sign alone.
   */
  score?: LocalisationScore;
  /** also score the model's own outputs (class probabilities) when the analysis has them (default true) */
  outputs?: boolean;
  onProgress?: (done: number, total: number, what: string) => void;
}

export type LocalisationScore = 'abs' | 'positive' | 'negative';

export interface LocalisationRow {
  variant: string;
  method: string;
  layer: string;
  mask: string;
  /** AUROC by the chosen score */
  auroc: number;
  /** AUROC of |value| */
  aurocAbs: number;
  /** AUROC of the value itself; the AUROC of -value is 1 - this */
  aurocSigned: number;
  /** overlay pixels (over tissue) inside the mask, and all overlay pixels over tissue */
  positives: number;
  n: number;
  /** false past the exact limit (2^24 pixels per overlay): binned, within maxError */
  exact: boolean;
  maxError: number;
}

/** A binary mask in memory: 1 inside. */
export interface BinaryMask {
  width: number;
  height: number;
  /** level-0 pixels per mask pixel */
  downsample: number;
  data: Uint8Array;
}

export async function readBinaryMask(path: string, slide: { width: number; height: number }, downsample?: number): Promise<BinaryMask> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(path, { limitInputPixels: false }).removeAlpha().extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new SdsError('BAD_INPUT', `cannot read the mask image ${path}`, { cause, suggestion: 'give a PNG (white = inside)' });
  }
  const { width, height } = raw.info;
  if (raw.data.length !== width * height) throw new SdsError('BAD_INPUT', `mask ${path} does not have 8-bit samples`, { suggestion: 'give an 8-bit or 1-bit PNG (white = inside)' });
  const d = downsample ?? slide.width / width;
  // the mask must cover the slide: within one mask pixel of its size
  if (Math.abs(width * d - slide.width) > d + 1 || Math.abs(height * d - slide.height) > d + 1) {
    throw new SdsError('BAD_INPUT', `mask ${path} is ${width}x${height} px at downsample ${d} (${Math.round(width * d)}x${Math.round(height * d)} level-0 px), but the slide is ${slide.width}x${slide.height}`, {
      suggestion: 'give the mask of this slide, and its downsample as name=PATH@DOWNSAMPLE',
    });
  }
  // inside: at least half the brightest value (0/255 masks, 1-bit PNGs as sharp expands them, 0/1 label images)
  let max = 0;
  for (let i = 0; i < width * height; i++) if (raw.data[i]! > max) max = raw.data[i]!;
  const data = new Uint8Array(width * height);
  if (max > 0) for (let i = 0; i < data.length; i++) data[i] = raw.data[i]! * 2 >= max ? 1 : 0;
  return { width, height, downsample: d, data };
}

/** For each of `count` target pixels of size `ratio` source pixels: the sources it overlaps and by how much (weights sum to 1). */
function axisWeights(count: number, ratio: number, sourceSize: number): { start: Int32Array; end: Int32Array; w: Float64Array; offset: Int32Array } {
  const start = new Int32Array(count), end = new Int32Array(count), offset = new Int32Array(count + 1);
  const ws: number[] = [];
  for (let i = 0; i < count; i++) {
    const a = i * ratio, b = (i + 1) * ratio;
    start[i] = Math.floor(a);
    end[i] = Math.min(sourceSize, Math.ceil(b));
    offset[i] = ws.length;
    // the part outside the source counts as outside the mask
    for (let u = start[i]!; u < end[i]!; u++) ws.push((Math.min(b, u + 1) - Math.max(a, u)) / ratio);
  }
  offset[count] = ws.length;
  return { start, end, w: Float64Array.from(ws), offset };
}

/**
 * Fraction of mask area under each pixel of rows [y0, y0 + rows) of a `width`-wide map with
 * `downsample` level-0 px per pixel (area-weighted, so any ratio of resolutions works).
 */
export function maskCoverage(mask: BinaryMask, width: number, downsample: number, y0: number, rows: number): Float32Array {
  const r = downsample / mask.downsample;
  const wx = axisWeights(width, r, mask.width);
  const out = new Float32Array(width * rows);
  const line = new Float64Array(width);
  for (let j = 0; j < rows; j++) {
    const a = (y0 + j) * r, b = (y0 + j + 1) * r;
    line.fill(0);
    for (let v = Math.floor(a); v < Math.min(mask.height, Math.ceil(b)); v++) {
      const wy = (Math.min(b, v + 1) - Math.max(a, v)) / r;
      const row = v * mask.width;
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let u = wx.start[x]!, k = wx.offset[x]!; u < wx.end[x]!; u++, k++) if (mask.data[row + u]) s += wx.w[k]!;
        line[x]! += wy * s;
      }
    }
    for (let x = 0; x < width; x++) out[j * width + x] = line[x]!;
  }
  return out;
}

export async function localisation(analysisDir: string, masks: GroundTruthMask[], opts: LocalisationOptions = {}): Promise<LocalisationRow[]> {
  if (!masks.length) throw new SdsError('BAD_ARGUMENT', 'localisation needs at least one ground-truth mask');
  const m = await readManifest(analysisDir);
  const loaded: { name: string; mask: BinaryMask }[] = [];
  for (const g of masks) loaded.push({ name: g.name, mask: await readBinaryMask(g.png, m.slide, g.downsample) });
  const entries: { e: OverlayEntry; output: boolean }[] = [...m.overlays.map((e) => ({ e, output: false })), ...(opts.outputs === false ? [] : (m.outputs ?? []).map((e) => ({ e, output: true })))];
  const rows: LocalisationRow[] = [];
  for (const [k, { e, output }] of entries.entries()) {
    opts.onProgress?.(k, entries.length, `${e.variant} ${e.method} ${e.layer}`);
    const store = await FloatStore.open(join(analysisDir, e.store), { cacheChunks: 4 });
    const acc = loaded.map(() => ({ abs: new AurocAccumulator({ score: 'abs' }), signed: new AurocAccumulator({ score: 'raw' }) }));
    const W = store.width;
    const band = bandRows(W, store.chunk);
    for (let y = 0; y < store.height; y += band) {
      const h = Math.min(band, store.height - y);
      const values = await store.readRegion(0, 0, y, W, h);
      loaded.forEach(({ mask }, i) => {
        const cover = maskCoverage(mask, W, e.downsample, y, h);
        const labels = new Uint8Array(cover.length);
        for (let p = 0; p < cover.length; p++) labels[p] = cover[p]! >= 0.5 ? 1 : 0;
        acc[i]!.abs.add(values, labels);
        acc[i]!.signed.add(values, labels);
      });
    }
    loaded.forEach(({ name }, i) => {
      const a = acc[i]!.abs.result();
      const s = acc[i]!.signed.result();
      // probabilities rank as they are, whatever the score asked for saliency
      const auroc = output || opts.score === 'positive' ? s.auroc : opts.score === 'negative' ? 1 - s.auroc : a.auroc;
      rows.push({ variant: e.variant, method: e.method, layer: e.layer, mask: name, auroc, aurocAbs: a.auroc, aurocSigned: s.auroc, positives: s.positives, n: s.positives + s.negatives, exact: a.exact && s.exact, maxError: Math.max(a.maxError, s.maxError) });
    });
  }
  opts.onProgress?.(entries.length, entries.length, 'done');
  return rows;
}
