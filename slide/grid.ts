/** Patch coordinates: pure functions, separate from pixel reads (as TIAToolbox does). */
import type { TissueMask } from './tissue.js';

export interface PatchSpec {
  /** Patch side in pixels of `level`. */
  size: number;
  /** Pixels shared by neighbouring patches (in level pixels). */
  overlap: number;
  level: number;
  /** level-0 pixels per level pixel */
  downsample: number;
}

export interface Patch {
  /** top-left in level-0 pixels (OpenSlide convention) */
  x: number;
  y: number;
  col: number;
  row: number;
  /** fraction of the patch covered by tissue (1 without a mask) */
  tissue: number;
}

/** Every patch of a level-0 `width` x `height` slide, stride size-overlap, covering the slide. */
export function patchGrid(width: number, height: number, spec: PatchSpec): Patch[] {
  const stride = spec.size - spec.overlap;
  if (stride <= 0) throw new Error(`overlap ${spec.overlap} must be smaller than the patch size ${spec.size}`);
  const lw = Math.ceil(width / spec.downsample);
  const lh = Math.ceil(height / spec.downsample);
  const cols = Math.max(1, Math.ceil((lw - spec.overlap) / stride));
  const rows = Math.max(1, Math.ceil((lh - spec.overlap) / stride));
  const out: Patch[] = [];
  for (let row = 0; row < rows; row++)
    for (let col = 0; col < cols; col++) out.push({ x: Math.round(col * stride * spec.downsample), y: Math.round(row * stride * spec.downsample), col, row, tissue: 1 });
  return out;
}

/** Tissue fraction of each patch from the mask; keeps those with at least `minTissue`. */
export function tissuePatches(patches: Patch[], spec: PatchSpec, mask: TissueMask, minTissue = 0.5): Patch[] {
  const side = (spec.size * spec.downsample) / mask.downsample;
  const kept: Patch[] = [];
  for (const p of patches) {
    const x0 = Math.floor(p.x / mask.downsample);
    const y0 = Math.floor(p.y / mask.downsample);
    const x1 = Math.min(mask.width, Math.ceil(x0 + side));
    const y1 = Math.min(mask.height, Math.ceil(y0 + side));
    let n = 0;
    let t = 0;
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        n++;
        t += mask.data[y * mask.width + x]!;
      }
    // area outside the slide counts as glass
    const area = Math.max(1, Math.ceil(side) ** 2);
    const tissue = n ? t / area : 0;
    if (tissue >= minTissue) kept.push({ ...p, tissue });
  }
  return kept;
}
