/**
 * How visible the patch grid is in a stitched overlay: the mean absolute difference between
 * neighbouring overlay pixels across a patch border, against the same between neighbours inside
 * patches. A map without seams has ratio 1.0 (borders look like any other place); each patch
 * explained on its own, with zero padding at its edges, gives more. Patch borders are where any
 * patch's edge lies (its start, and with overlap its end too). Measured on the map pooled 2x2:
 * the stride-2 checkerboard of an unsmoothed gradient (period 2) would otherwise make the inside
 * of every patch rough and hide the seams. Read in bands of rows: memory does not grow with the
 * slide.
 */
import { join } from 'node:path';
import { overlayKey, type Manifest, type OverlayEntry } from '../contracts/index.js';
import { FloatStore } from '../maps/index.js';

export interface SeamMeasure {
  /** overlay key variant/method/layer */
  key: string;
  /** mean |difference| of neighbours across a patch border */
  seam: number;
  /** mean |difference| of neighbours inside patches */
  inside: number;
  /** seam / inside: 1.0 = no seam */
  ratio: number;
  /** neighbour pairs counted across borders and inside */
  pairs: { seam: number; inside: number };
}

const BAND = 256;

/** Seam measure of one overlay of a finished analysis. */
export async function measureSeams(analysisDir: string, manifest: Manifest, overlay: OverlayEntry): Promise<SeamMeasure> {
  const p = manifest.patches;
  const patchDownsample = p.downsample ?? 1;
  // patch edges in overlay pixels: patch i starts at i * stride and ends at i * stride + size
  const stride = ((p.size - p.overlap) * patchDownsample) / overlay.downsample;
  const size = (p.size * patchDownsample) / overlay.downsample;
  const isBorder = (c: number) => {
    const r = ((c % stride) + stride) % stride;
    const e = (((c - size) % stride) + stride) % stride;
    return Math.abs(r) < 1e-6 || Math.abs(r - stride) < 1e-6 || (p.overlap > 0 && (Math.abs(e) < 1e-6 || Math.abs(e - stride) < 1e-6));
  };
  const store = await FloatStore.open(join(analysisDir, overlay.store));
  // the 2x2-pooled map: column x of it covers overlay columns 2x, 2x + 1
  const width = Math.floor(overlay.width / 2);
  const height = Math.floor(overlay.height / 2);
  const acc = { seam: 0, inside: 0, ns: 0, ni: 0 };
  const add = (a: number, b: number, border: boolean) => {
    if (!Number.isFinite(a) || !Number.isFinite(b)) return;
    const d = Math.abs(a - b);
    if (border) {
      acc.seam += d;
      acc.ns++;
    } else {
      acc.inside += d;
      acc.ni++;
    }
  };
  const pooled = (band: Float32Array, j: number) => {
    const w = overlay.width;
    const out = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      const k = 2 * j * w + 2 * x;
      // a pixel no patch reached (NaN) leaves the pooled one undefined
      out[x] = (band[k]! + band[k + 1]! + band[k + w]! + band[k + w + 1]!) / 4;
    }
    return out;
  };
  let previous: Float32Array | undefined;
  for (let y0 = 0; y0 < height; y0 += BAND) {
    const h = Math.min(BAND, height - y0);
    const band = await store.readRegion(0, 0, 2 * y0, overlay.width, 2 * h);
    for (let j = 0; j < h; j++) {
      const row = pooled(band, j);
      // between pooled columns x-1 and x: a border when overlay column 2x is a patch edge
      for (let x = 1; x < width; x++) add(row[x - 1]!, row[x]!, isBorder(2 * x));
      if (previous) {
        const border = isBorder(2 * (y0 + j));
        for (let x = 0; x < width; x++) add(previous[x]!, row[x]!, border);
      }
      previous = row;
    }
  }
  const seam = acc.ns ? acc.seam / acc.ns : 0;
  const inside = acc.ni ? acc.inside / acc.ni : 0;
  return { key: overlayKey(overlay), seam, inside, ratio: inside > 0 ? seam / inside : Number.NaN, pairs: { seam: acc.ns, inside: acc.ni } };
}
