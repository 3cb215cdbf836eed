/**
 * Saliency statistics inside a shape drawn over the slide (the viewer's rectangle / polygon tool):
 * mean, min, max, the share of map pixels at or above a threshold, pixel count and area.
 *
 * A map pixel (x, y) counts when its centre in level-0 pixels, ((x + 0.5) * downsample,
 * (y + 0.5) * downsample), is inside the polygon (even-odd rule over all rings, so holes are
 * left out) and its value is not NaN (NaN: no tissue). Only the store chunks under the polygon's
 * bounding box are read, one chunk-sized block at a time: memory follows the chunk size and the
 * polygon's vertex count, never the slide.
 */
import { SdsError } from '../core/errors.js';
import type { FloatStore } from '../maps/index.js';
import { REGION_TOOL_LIMITS, type RegionStats } from '../contracts/api.js';

/** What a shape may hold (the HTTP contract's bounds, so the CLI-side check and the server agree). */
const LIMITS = REGION_TOOL_LIMITS;

export interface RegionStatsOptions {
  /** level-0 pixels per map pixel */
  downsample: number;
  /** a pixel is "above" when its value is >= threshold */
  threshold: number;
  /** µm per level-0 pixel, for `areaUm2` */
  mpp?: { x: number; y: number } | null;
}

export type { RegionStats } from '../contracts/api.js';

type Ring = readonly (readonly number[])[];

/**
 * Checks a polygon (GeoJSON Polygon coordinates: exterior ring, then holes; level-0 px) and returns
 * its rings without closing points. Refused: no rings, too many rings or vertices, a ring with
 * fewer than 3 distinct vertices, non-finite coordinates, an exterior ring of zero area.
 */
export function checkStatsPolygon(coordinates: unknown): [number, number][][] {
  const bad = (why: string) => new SdsError('BAD_ARGUMENT', `polygon: ${why}`, { suggestion: 'send a GeoJSON Polygon: [[x, y], ...] rings in level-0 pixels, the exterior first' });
  if (!Array.isArray(coordinates) || coordinates.length === 0) throw bad('needs an exterior ring');
  if (coordinates.length > LIMITS.rings) throw bad(`${coordinates.length} rings, at most ${LIMITS.rings}`);
  const rings: [number, number][][] = [];
  let vertices = 0;
  for (const [k, ring] of (coordinates as unknown[]).entries()) {
    if (!Array.isArray(ring)) throw bad(`ring ${k} is not an array of positions`);
    vertices += ring.length;
    if (vertices > LIMITS.vertices) throw bad(`more than ${LIMITS.vertices} vertices`);
    const pts: [number, number][] = [];
    for (const p of ring as unknown[]) {
      if (!Array.isArray(p) || p.length < 2 || !(Math.abs(p[0]) <= LIMITS.coordinate) || !(Math.abs(p[1]) <= LIMITS.coordinate)) throw bad(`ring ${k} has a position that is not [x, y] with finite numbers within ±${LIMITS.coordinate}`);
      const q: [number, number] = [p[0] as number, p[1] as number];
      const last = pts[pts.length - 1];
      if (!last || last[0] !== q[0] || last[1] !== q[1]) pts.push(q);
    }
    // the closing point repeats the first (GeoJSON); it adds no edge
    if (pts.length > 1 && pts[0]![0] === pts[pts.length - 1]![0] && pts[0]![1] === pts[pts.length - 1]![1]) pts.pop();
    if (pts.length < 3) throw bad(`ring ${k} has fewer than 3 distinct vertices`);
    rings.push(pts);
  }
  if (shoelace(rings[0]!) === 0) throw bad('the exterior ring has no area');
  return rings;
}

function shoelace(ring: Ring): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += ring[j]![0]! * ring[i]![1]! - ring[i]![0]! * ring[j]![1]!;
  return a / 2;
}

/** Edges as flat [x0, y0, x1, y1] quadruples over all rings (each ring implicitly closed). */
function edgesOf(rings: Ring[]): Float64Array {
  const n = rings.reduce((s, r) => s + r.length, 0);
  const e = new Float64Array(n * 4);
  let k = 0;
  for (const r of rings) {
    for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
      e[k++] = r[j]![0]!;
      e[k++] = r[j]![1]!;
      e[k++] = r[i]![0]!;
      e[k++] = r[i]![1]!;
    }
  }
  return e;
}

/**
 * x positions where the horizontal line at `py` crosses the polygon's edges, sorted. An edge counts
 * when exactly one of its ends lies above `py` (half-open, so a vertex on the line counts once);
 * a point (px, py) is inside when an odd number of crossings lie right of px.
 */
function crossings(edges: Float64Array, py: number, out: number[]): number[] {
  out.length = 0;
  for (let k = 0; k < edges.length; k += 4) {
    const x0 = edges[k]!, y0 = edges[k + 1]!, x1 = edges[k + 2]!, y1 = edges[k + 3]!;
    if (y0 > py !== y1 > py) out.push(x0 + ((py - y0) * (x1 - x0)) / (y1 - y0));
  }
  return out.sort((a, b) => a - b);
}

/** Statistics of `store`'s level-0 map inside the polygon (see the module comment). */
export async function regionStats(store: FloatStore, coordinates: unknown, o: RegionStatsOptions): Promise<RegionStats> {
  if (!(o.downsample > 0) || !Number.isFinite(o.downsample)) throw new SdsError('BAD_ARGUMENT', `downsample must be positive, got ${o.downsample}`);
  if (!Number.isFinite(o.threshold)) throw new SdsError('BAD_ARGUMENT', `threshold must be a finite number, got ${o.threshold}`);
  const rings = checkStatsPolygon(coordinates);
  const ds = o.downsample;
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const r of rings)
    for (const [x, y] of r) {
      minX = Math.min(minX, x);
      minY = Math.min(minY, y);
      maxX = Math.max(maxX, x);
      maxY = Math.max(maxY, y);
    }
  // map pixels whose centre can lie inside, (x + 0.5) * ds in [minX, maxX], with a pixel of margin
  // against rounding (the crossings decide; the margin only costs a row and a column)
  const x0 = Math.max(0, Math.ceil(minX / ds - 0.5) - 1);
  const y0 = Math.max(0, Math.ceil(minY / ds - 0.5) - 1);
  const x1 = Math.min(store.width, Math.floor(maxX / ds - 0.5) + 2);
  const y1 = Math.min(store.height, Math.floor(maxY / ds - 0.5) + 2);
  const edges = edgesOf(rings);
  let pixels = 0, noTissue = 0, above = 0, sum = 0, min = Infinity, max = -Infinity;
  const C = store.chunk;
  const scratch: number[] = [];
  // one band of chunk rows at a time: the crossings of its rows are computed once and shared by its chunks
  for (let by = y0; by < y1; by = (Math.floor(by / C) + 1) * C) {
    const bh = Math.min(y1, (Math.floor(by / C) + 1) * C) - by;
    const spans: Float64Array[] = [];
    for (let r = 0; r < bh; r++) spans.push(Float64Array.from(crossings(edges, (by + r + 0.5) * ds, scratch)));
    if (spans.every((s) => s.length === 0)) continue;
    for (let bx = x0; bx < x1; bx = (Math.floor(bx / C) + 1) * C) {
      const bw = Math.min(x1, (Math.floor(bx / C) + 1) * C) - bx;
      let values: Float32Array | undefined;
      for (let r = 0; r < bh; r++) {
        const xs = spans[r]!;
        // crossings pair up (even-odd): inside between xs[2k] and xs[2k+1]
        for (let k = 0; k + 1 < xs.length; k += 2) {
          // pixel centres cx = (x + 0.5) * ds with xs[k] < cx < xs[k+1] (strict: the ray test's
          // "crossing right of the point" decides a centre on an edge); the estimate is refined
          // with the very comparison so rounding cannot move a pixel in or out
          let from = Math.max(bx, Math.floor(xs[k]! / ds - 0.5) - 1);
          while (from < bx + bw && (from + 0.5) * ds <= xs[k]!) from++;
          let to = Math.max(from, Math.min(bx + bw, Math.ceil(xs[k + 1]! / ds - 0.5) + 1));
          while (to > from && (to - 0.5) * ds >= xs[k + 1]!) to--;
          if (from >= to) continue;
          values ??= await store.readRegion(0, bx, by, bw, bh);
          const row = r * bw - bx;
          for (let x = from; x < to; x++) {
            const v = values[row + x]!;
            if (Number.isNaN(v)) {
              noTissue++;
              continue;
            }
            pixels++;
            sum += v;
            if (v < min) min = v;
            if (v > max) max = v;
            if (v >= o.threshold) above++;
          }
        }
      }
    }
  }
  const areaPx = pixels * ds * ds;
  return {
    pixels,
    noTissue,
    mean: pixels ? sum / pixels : null,
    min: pixels ? min : null,
    max: pixels ? max : null,
    threshold: o.threshold,
    above,
    aboveShare: pixels ? above / pixels : null,
    areaPx,
    areaUm2: o.mpp ? areaPx * o.mpp.x * o.mpp.y : null,
    mapBox: [x0, y0, Math.max(x0, x1), Math.max(y0, y1)],
  };
}
