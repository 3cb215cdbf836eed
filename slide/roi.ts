/**
 * Regions of interest on the patch grid: reading a QuPath GeoJSON file (contracts/roi.ts, bounded
 * in size), checking that its regions lie on the slide, and choosing the patches inside them.
 *
 * The rule: a patch is inside when its centre lies inside the regions (inside a polygon's
 * exterior ring and outside its holes; overlapping regions count as their union). A pathologist
 * who draws a region means "analyse there": the patches analysed are the ones mostly inside it,
 * and the maps reach at most half a patch past its border. The tissue rule (`minTissue`) still
 * applies to the patches inside. Points exactly on a border count as inside on the left/top edges
 * only (the half-open rule of scanline fill), so two regions sharing an edge never both claim a patch.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { SdsError } from '../core/errors.js';
import { parseRoi, ROI_LIMITS, type Roi } from '../contracts/roi.js';
import type { Patch, PatchSpec } from './grid.js';

export type { Roi, RoiPolygon } from '../contracts/roi.js';

/** The regions of a GeoJSON file; a missing, huge, non-JSON or non-polygon file is an SdsError naming it. */
export async function readRoi(path: string): Promise<Roi> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error('not a file');
    size = s.size;
  } catch (cause) {
    throw new SdsError('FILE_NOT_FOUND', `ROI ${path}: no such file`, { suggestion: 'give the GeoJSON file QuPath exported (File > Export objects as GeoJSON)', cause });
  }
  if (size > ROI_LIMITS.bytes)
    throw new SdsError('BAD_INPUT', `ROI ${path}: ${(size / 2 ** 20).toFixed(1)} MiB, more than the ${ROI_LIMITS.bytes / 2 ** 20} MiB an ROI file may have`, { suggestion: 'export only the annotations that mark the regions to analyse (not detections or cells)' });
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new SdsError('BAD_INPUT', `ROI ${path}: not JSON (${cause instanceof Error ? cause.message.slice(0, 120) : 'unreadable'})`, { suggestion: 'give the GeoJSON file QuPath exported (File > Export objects as GeoJSON)', cause });
  }
  return parseRoi(value, path);
}

/** A short digest of the regions' geometry: the same regions give the same identity, whatever the file's name or layout. */
export function roiIdentity(roi: Roi): string {
  const h = createHash('sha256');
  for (const p of roi.polygons) h.update(JSON.stringify(p.rings)).update('\n');
  return `sha256:${h.digest('hex').slice(0, 16)}`;
}

function bounds(rings: [number, number][][]): [number, number, number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const r of rings)
    for (const [x, y] of r) {
      x0 = Math.min(x0, x); y0 = Math.min(y0, y);
      x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
  return [x0, y0, x1, y1];
}

/**
 * Refuses regions that lie entirely off a `width` x `height` slide (exported from another image,
 * or in microns instead of pixels); a region partly off the slide is fine (only its part on the
 * slide has patches).
 */
export function checkRoiOnSlide(roi: Roi, width: number, height: number, file: string): void {
  const off = roi.polygons.filter((p) => {
    const [x0, y0, x1, y1] = bounds(p.rings.slice(0, 1));
    return x1 <= 0 || y1 <= 0 || x0 >= width || y0 >= height;
  });
  if (!off.length) return;
  const [x0, y0, x1, y1] = bounds(off[0]!.rings.slice(0, 1)).map(Math.round);
  throw new SdsError('BAD_INPUT', `ROI ${file}: ${off.length === roi.polygons.length ? 'every region' : `${off.length} of ${roi.polygons.length} regions, first ${off[0]!.label},`} lies outside the slide (${off[0]!.label} spans x ${x0}..${x1}, y ${y0}..${y1}; the slide is ${width} x ${height} level-0 pixels)`, {
    suggestion: 'export the annotations from this slide in QuPath, in pixel coordinates of the full-resolution image',
    context: { file },
  });
}

/**
 * The patches whose centre lies inside the regions (the module's rule), in their order. A scanline
 * over the patch rows with an active-edge list: each edge is visited once per row it spans, so the
 * cost is rows x edges crossing a row, not patches x vertices.
 */
export function roiPatches(patches: Patch[], spec: Pick<PatchSpec, 'size' | 'downsample'>, roi: Roi): Patch[] {
  const half = (spec.size * spec.downsample) / 2;
  // edges with ya < yb (horizontal ones never cross a scanline), tagged with their polygon
  const ex0: number[] = [], ey0: number[] = [], ex1: number[] = [], ey1: number[] = [], poly: number[] = [];
  roi.polygons.forEach((p, k) => {
    for (const r of p.rings)
      for (let i = 0; i < r.length; i++) {
        const [ax, ay] = r[i]!;
        const [bx, by] = r[(i + 1) % r.length]!;
        if (ay === by) continue;
        const up = ay < by;
        ex0.push(up ? ax : bx); ey0.push(up ? ay : by); ex1.push(up ? bx : ax); ey1.push(up ? by : ay); poly.push(k);
      }
  });
  const order = Array.from(ey0.keys()).sort((a, b) => ey0[a]! - ey0[b]!);
  // rows of patches by centre y, ascending (a grid is row-major already; sorting keeps any input valid)
  const rows = new Map<number, Patch[]>();
  for (const p of patches) {
    const cy = p.y + half;
    let row = rows.get(cy);
    if (!row) rows.set(cy, (row = []));
    row.push(p);
  }
  const inside = new Set<Patch>();
  let next = 0;
  let active: number[] = [];
  for (const cy of [...rows.keys()].sort((a, b) => a - b)) {
    while (next < order.length && ey0[order[next]!]! <= cy) active.push(order[next++]!);
    active = active.filter((e) => ey1[e]! > cy);
    if (!active.length) continue;
    // crossings of the line y = cy, per polygon (even-odd within a polygon: exterior minus holes)
    const xs = new Map<number, number[]>();
    for (const e of active) {
      const x = ex0[e]! + ((cy - ey0[e]!) * (ex1[e]! - ex0[e]!)) / (ey1[e]! - ey0[e]!);
      let l = xs.get(poly[e]!);
      if (!l) xs.set(poly[e]!, (l = []));
      l.push(x);
    }
    for (const l of xs.values()) l.sort((a, b) => a - b);
    for (const p of rows.get(cy)!) {
      const cx = p.x + half;
      for (const l of xs.values()) {
        // crossings at or left of the centre: odd = inside
        let lo = 0, hi = l.length;
        while (lo < hi) {
          const m = (lo + hi) >> 1;
          if (l[m]! <= cx) lo = m + 1;
          else hi = m;
        }
        if (lo % 2 === 1) {
          inside.add(p);
          break;
        }
      }
    }
  }
  return patches.filter((p) => inside.has(p));
}
