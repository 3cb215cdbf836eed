/**
 * Binary mask -> polygons, streamed top to bottom in row bands so a whole-slide mask never has
 * to be in memory. Components are 4-connected runs joined with union-find (a component crossing a
 * band border is one component); their boundaries are the pixel edges (the polygon covers exactly
 * the component's pixels), linked into rings once a component can no longer grow, then simplified
 * (collinear points always, Douglas-Peucker at a tolerance).
 *
 * Orientation: positive shoelace area for outer rings, negative for holes, in the coordinates as
 * written (x right, y down). That is RFC 7946's "exterior rings counterclockwise" as validators
 * compute it; on screen, with y pointing down, the same ring looks clockwise.
 */

export type Point = [number, number];
/** Closed ring: the last point repeats the first. */
export type Ring = Point[];

export interface Component {
  outer: Ring;
  holes: Ring[];
  /** pixels in the component (holes smaller than `minHoleArea` are filled in the rings, not counted here) */
  pixels: number;
  /** sum of the values over the component's pixels (0 without values) */
  sum: number;
  /** the value of highest rank, and the pixel it sits in (NaN without values) */
  peak: number;
  peakX: number;
  peakY: number;
}

export interface TraceOptions {
  /** Douglas-Peucker tolerance in pixels (default 0: only collinear points go) */
  tolerance?: number;
  /** components with fewer pixels are dropped (default 1) */
  minPixels?: number;
  /** holes with a smaller area (pixels) are filled (default 0: all kept) */
  minHoleArea?: number;
  /** ranks values for `peak` (default: the value itself) */
  rank?: (v: number) => number;
}

/** Signed shoelace area: > 0 for outer rings as this module writes them. */
export function ringArea(ring: readonly Point[]): number {
  let a = 0;
  for (let i = 0; i + 1 < ring.length; i++) a += ring[i]![0] * ring[i + 1]![1] - ring[i + 1]![0] * ring[i]![1];
  return a / 2;
}

const STAT = 6; // pixels, sum, peakRank, peak, peakX, peakY

export class ContourTracer {
  private parent = new Int32Array(1024);
  private stats = new Float64Array(1024 * STAT);
  private labels = 0;
  /** root -> boundary edges [x0, y0, x1, y1, ...] */
  private readonly edges = new Map<number, number[]>();
  /** runs of the last row: [start, end, label] triples */
  private prev: number[] = [];
  private y = 0;
  private ended = false;
  private readonly rank: (v: number) => number;

  constructor(
    readonly width: number,
    private readonly opts: TraceOptions = {},
  ) {
    if (!Number.isInteger(width) || width <= 0) throw new Error(`ContourTracer: width must be a positive integer, got ${width}`);
    this.rank = opts.rank ?? ((v) => v);
  }

  /** Rows processed so far. */
  get rows(): number {
    return this.y;
  }

  /**
   * The next `rows` rows of the mask (row-major, non-zero = inside) and optionally their values;
   * returns the components that were completed by them.
   */
  push(mask: Uint8Array, rows: number, values?: Float32Array): Component[] {
    if (this.ended) throw new Error('ContourTracer: push after end');
    const W = this.width;
    if (mask.length < rows * W) throw new Error(`ContourTracer: ${mask.length} mask values for ${rows} rows of ${W}`);
    if (values && values.length < rows * W) throw new Error(`ContourTracer: ${values.length} values for ${rows} rows of ${W}`);
    for (let r = 0; r < rows; r++) {
      const cur: number[] = [];
      const o = r * W;
      for (let x = 0; x < W; ) {
        if (!mask[o + x]) {
          x++;
          continue;
        }
        const s = x;
        while (x < W && mask[o + x]) x++;
        cur.push(s, x, -1);
      }
      this.row(cur, values, o);
    }
    return this.collect(false);
  }

  /** No more rows: the last row's bottom edges close every open component. */
  end(): Component[] {
    if (!this.ended) {
      this.boundary(this.prev, []);
      this.prev = [];
      this.ended = true;
    }
    return this.collect(true);
  }

  // ---- labelling -------------------------------------------------------------------------------

  private newLabel(): number {
    if (this.labels === this.parent.length) {
      const p = new Int32Array(this.parent.length * 2);
      p.set(this.parent);
      this.parent = p;
      const s = new Float64Array(this.stats.length * 2);
      s.set(this.stats);
      this.stats = s;
    }
    const l = this.labels++;
    this.parent[l] = l;
    this.stats.fill(0, l * STAT, (l + 1) * STAT);
    this.stats[l * STAT + 2] = -Infinity;
    this.stats[l * STAT + 3] = NaN;
    return l;
  }

  private find(l: number): number {
    let r = l;
    while (this.parent[r] !== r) r = this.parent[r]!;
    while (this.parent[l] !== r) {
      const n = this.parent[l]!;
      this.parent[l] = r;
      l = n;
    }
    return r;
  }

  private union(a: number, b: number): number {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return ra;
    const ea = this.edges.get(ra);
    const eb = this.edges.get(rb);
    // keep the longer edge list in place
    if ((eb?.length ?? 0) > (ea?.length ?? 0)) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    const S = this.stats;
    const A = ra * STAT, B = rb * STAT;
    S[A] = S[A]! + S[B]!;
    S[A + 1] = S[A + 1]! + S[B + 1]!;
    if (S[B + 2]! > S[A + 2]!) for (let k = 2; k < STAT; k++) S[A + k] = S[B + k]!;
    const from = this.edges.get(rb);
    if (from) {
      const to = this.edges.get(ra);
      if (to) for (const v of from) to.push(v);
      else this.edges.set(ra, from);
      this.edges.delete(rb);
    }
    return ra;
  }

  private row(cur: number[], values: Float32Array | undefined, offset: number): void {
    const prev = this.prev;
    // 4-connectivity: a run joins every run of the row above that it overlaps in x
    let j = 0;
    for (let i = 0; i < cur.length; i += 3) {
      const s = cur[i]!, e = cur[i + 1]!;
      while (j < prev.length && prev[j + 1]! <= s) j += 3;
      let label = -1;
      for (let k = j; k < prev.length && prev[k]! < e; k += 3) label = label < 0 ? this.find(prev[k + 2]!) : this.union(label, prev[k + 2]!);
      cur[i + 2] = label < 0 ? this.newLabel() : label;
    }
    for (let i = 0; i < cur.length; i += 3) {
      const r = this.find(cur[i + 2]!);
      const S = this.stats, A = r * STAT;
      const s = cur[i]!, e = cur[i + 1]!;
      S[A] = S[A]! + e - s;
      if (values) {
        for (let x = s; x < e; x++) {
          const v = values[offset + x]!;
          S[A + 1] = S[A + 1]! + v;
          const rk = this.rank(v);
          if (rk > S[A + 2]!) {
            S[A + 2] = rk;
            S[A + 3] = v;
            S[A + 4] = x;
            S[A + 5] = this.y;
          }
        }
      }
    }
    this.boundary(prev, cur);
    const y = this.y;
    for (let i = 0; i < cur.length; i += 3) {
      // left side goes up, right side goes down (outer rings: positive area)
      this.edge(cur[i + 2]!, cur[i]!, y + 1, cur[i]!, y);
      this.edge(cur[i + 2]!, cur[i + 1]!, y, cur[i + 1]!, y + 1);
    }
    this.prev = cur;
    this.y++;
  }

  /** Horizontal edges on the line between `above` and `below` (the current row, y). */
  private boundary(above: number[], below: number[]): void {
    const y = this.y;
    // tops of the pixels below not under pixels above: left to right
    subtract(below, above, (s, e, l) => this.edge(l, s, y, e, y));
    // bottoms of the pixels above not over pixels below: right to left
    subtract(above, below, (s, e, l) => this.edge(l, e, y, s, y));
  }

  private edge(label: number, x0: number, y0: number, x1: number, y1: number): void {
    const r = this.find(label);
    let list = this.edges.get(r);
    if (!list) this.edges.set(r, (list = []));
    list.push(x0, y0, x1, y1);
  }

  // ---- rings -------------------------------------------------------------------------------------

  /** Components with no pixel in the last row are complete. */
  private collect(all: boolean): Component[] {
    const open = new Set<number>();
    if (!all) for (let i = 0; i < this.prev.length; i += 3) open.add(this.find(this.prev[i + 2]!));
    const out: Component[] = [];
    for (const [root, list] of this.edges) {
      if (open.has(root)) continue;
      this.edges.delete(root);
      const S = this.stats, A = root * STAT;
      if (S[A]! < (this.opts.minPixels ?? 1)) continue;
      const c = this.rings(list);
      out.push({ ...c, pixels: S[A]!, sum: S[A + 1]!, peak: S[A + 3]!, peakX: S[A + 4]!, peakY: S[A + 5]! });
    }
    return out;
  }

  private rings(list: number[]): { outer: Ring; holes: Ring[] } {
    const n = list.length / 4;
    const K = this.width + 1;
    const key = (x: number, y: number) => y * K + x;
    const first = new Map<number, number>();
    const second = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const k = key(list[4 * i]!, list[4 * i + 1]!);
      if (first.has(k)) second.set(k, i);
      else first.set(k, i);
    }
    const used = new Uint8Array(n);
    const rings: Ring[] = [];
    for (let start = 0; start < n; start++) {
      if (used[start]) continue;
      const ring: Ring = [[list[4 * start]!, list[4 * start + 1]!]];
      let cur = start;
      for (;;) {
        used[cur] = 1;
        const ex = list[4 * cur + 2]!, ey = list[4 * cur + 3]!;
        ring.push([ex, ey]);
        const k = key(ex, ey);
        const a = first.get(k)!;
        const b = second.get(k);
        let next = a;
        if (b !== undefined) {
          // a saddle (two diagonal pixels of this component meet at the corner): take the turn
          // that joins them, so each ring passes the corner once and stays simple
          const dx = Math.sign(ex - list[4 * cur]!), dy = Math.sign(ey - list[4 * cur + 1]!);
          const cross = (i: number) => dx * Math.sign(list[4 * i + 3]! - ey) - dy * Math.sign(list[4 * i + 2]! - ex);
          next = cross(a) < 0 ? a : b;
        }
        if (next === start) break;
        if (next === undefined || used[next]) throw new Error('ContourTracer: broken boundary (internal error)');
        cur = next;
      }
      rings.push(ring);
    }
    const tol = this.opts.tolerance ?? 0;
    const minHole = this.opts.minHoleArea ?? 0;
    let outer: Ring | undefined;
    const holes: Ring[] = [];
    for (const r of rings) {
      const area = ringArea(r);
      if (area > 0) {
        if (outer) throw new Error('ContourTracer: two outer rings in one component (internal error)');
        outer = simplifyRing(r, tol);
      } else if (-area >= minHole) holes.push(simplifyRing(r, tol));
    }
    if (!outer) throw new Error('ContourTracer: component without an outer ring (internal error)');
    return { outer, holes };
  }
}

/** Calls `emit(start, end, label)` for each part of runs `a` not covered by runs `b` (both sorted). */
function subtract(a: number[], b: number[], emit: (s: number, e: number, label: number) => void): void {
  let j = 0;
  for (let i = 0; i < a.length; i += 3) {
    let s = a[i]!;
    const e = a[i + 1]!, l = a[i + 2]!;
    while (j < b.length && b[j + 1]! <= s) j += 3;
    for (let k = j; k < b.length && b[k]! < e; k += 3) {
      if (b[k]! > s) emit(s, b[k]!, l);
      s = Math.max(s, b[k + 1]!);
    }
    if (s < e) emit(s, e, l);
  }
}

/** All components of a whole mask in memory (width x height, row-major). */
export function traceContours(mask: Uint8Array, width: number, height: number, opts: TraceOptions = {}, values?: Float32Array): Component[] {
  const t = new ContourTracer(width, opts);
  return [...t.push(mask, height, values), ...t.end()];
}

// ---- simplification ------------------------------------------------------------------------------

function cross(o: Point, a: Point, b: Point): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/** Distance from p to the segment a-b. */
function segmentDistance(p: Point, a: Point, b: Point): number {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

/** Douglas-Peucker on the open chain pts[i0..i1], marking kept points. */
function douglasPeucker(pts: Point[], i0: number, i1: number, tol: number, keep: Uint8Array): void {
  const stack: [number, number][] = [[i0, i1]];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    let far = -1, dmax = tol;
    for (let i = a + 1; i < b; i++) {
      const d = segmentDistance(pts[i]!, pts[a]!, pts[b]!);
      if (d > dmax) {
        dmax = d;
        far = i;
      }
    }
    if (far >= 0) {
      keep[far] = 1;
      stack.push([a, far], [far, b]);
    }
  }
}

/**
 * A closed ring without collinear points, then Douglas-Peucker at `tolerance` (kept points are a
 * subset of the original vertices). A ring that would fall below 3 corners keeps its own shape.
 */
export function simplifyRing(ring: Ring, tolerance: number): Ring {
  let pts = ring.slice(0, -1);
  const n0 = pts.length;
  pts = pts.filter((p, i) => cross(pts[(i + n0 - 1) % n0]!, p, pts[(i + 1) % n0]!) !== 0);
  if (tolerance > 0 && pts.length > 4) {
    const n = pts.length;
    // anchors: the first point and the point farthest from it
    let far = 0, dmax = -1;
    for (let i = 1; i < n; i++) {
      const d = Math.hypot(pts[i]![0] - pts[0]![0], pts[i]![1] - pts[0]![1]);
      if (d > dmax) {
        dmax = d;
        far = i;
      }
    }
    const loop = [...pts, pts[0]!];
    const keep = new Uint8Array(n + 1);
    keep[0] = keep[far] = keep[n] = 1;
    douglasPeucker(loop, 0, far, tolerance, keep);
    douglasPeucker(loop, far, n, tolerance, keep);
    const kept = pts.filter((_, i) => keep[i]);
    if (kept.length >= 3) pts = kept;
  }
  return [...pts, pts[0]!];
}
