/**
 * The patches a finished analysis explained, recovered from what it left on disk: the manifest
 * states the grid (patch side, overlap, level-0 px per analysis px) and the slide size, so the
 * grid is laid again with the pipeline's own `patchGrid`; a grid patch was analysed exactly when
 * the finest overlay has a value at the patch's centre. Neighbours reach at most `overlap` into a
 * patch, so for overlap < patch/2 (minus one map pixel) the centre is covered by the patch alone:
 * the test cannot be fooled by neighbours, and it needs neither the slide nor its tissue mask (nor
 * whatever limited the analysis to some regions). The count is checked against the manifest's.
 */
import { join } from 'node:path';
import { SdsError } from '../core/errors.js';
import type { Manifest, OverlayEntry } from '../contracts/index.js';
import { FloatStore } from '../maps/index.js';
import { patchGrid } from '../slide/index.js';

export interface AnalysedPatch {
  col: number;
  row: number;
  /** top-left in level-0 pixels (as the pipeline read it) */
  x: number;
  y: number;
  /** side in level-0 pixels */
  side: number;
}

/** level-0 px per analysis px; older manifests state it only through the level (0: 1). */
export function analysisDownsample(m: Manifest): number {
  const d = m.patches.downsample ?? (m.patches.level === 0 ? 1 : undefined);
  if (d === undefined) throw new SdsError('BAD_INPUT', 'the manifest does not state the analysis downsample (patches.downsample)', { suggestion: 'run the analysis again with this version of sds' });
  return d;
}

/** Every overlay of the analysis, saliency first, then the model's outputs. */
export function allOverlays(m: Manifest): OverlayEntry[] {
  return [...m.overlays, ...(m.outputs ?? [])];
}

export async function analysedPatches(analysisDir: string, m: Manifest): Promise<AnalysedPatch[]> {
  const d = analysisDownsample(m);
  const { size, overlap } = m.patches;
  const overlays = allOverlays(m);
  if (!overlays.length) throw new SdsError('BAD_INPUT', `${analysisDir}: the analysis has no overlays`, { suggestion: 'run the analysis again' });
  // the finest map: its pixels are the smallest, so the centre test has the widest margin
  const ref = overlays.reduce((a, b) => (b.downsample < a.downsample ? b : a));
  const margin = size / 2 - overlap - ref.downsample / d;
  if (margin < 0) {
    throw new SdsError('BAD_INPUT', `patches overlap by ${overlap} of ${size} px: a patch's centre is covered by its neighbours, so the analysed patches cannot be told from the maps`, {
      suggestion: 'export detections from an analysis with overlap below half the patch size',
    });
  }
  const store = await FloatStore.open(join(analysisDir, ref.store), { cacheChunks: 8 });
  // the grid's columns and rows from the pipeline's own patchGrid, laid on a one-patch-high strip
  // and a one-patch-wide one: the same positions without holding every grid patch of the slide
  const spec = { size, overlap, level: m.patches.level, downsample: d };
  const cols = patchGrid(m.slide.width, 1, spec);
  const rows = patchGrid(1, m.slide.height, spec);
  const stride = size - overlap;
  const side = size * d;
  const scale = ref.downsample / d;
  const out: AnalysedPatch[] = [];
  for (const r of rows) {
    // the centres in the map's pixels, from the grid position the stitcher used (col * stride); their map row read once
    const cy = Math.floor((r.row * stride + size / 2) / scale);
    const centres = await store.readRegion(0, 0, cy, store.width, 1);
    for (const c of cols) {
      const cx = Math.floor((c.col * stride + size / 2) / scale);
      if (cx < store.width && !Number.isNaN(centres[cx]!)) out.push({ col: c.col, row: r.row, x: c.x, y: r.y, side });
    }
  }
  if (out.length !== m.patches.count) {
    throw new SdsError('BAD_INPUT', `found ${out.length} analysed patches in ${ref.store}, but the manifest says ${m.patches.count}`, { suggestion: 'the overlay stores do not match the manifest: run the analysis again' });
  }
  return out;
}
