/**
 * Stitches patch maps into one canvas. Overlapping patches are blended with a smooth window
 * (Hann, strictly positive inside the patch), so patch borders leave no seams. The canvas lives in
 * chunks that exist only where patches fell: memory follows the tissue, not the slide.
 */

/** Separable window weights for a side of n pixels: sin^2(pi (i + 0.5) / n), > 0 everywhere. */
export function hannWindow(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin((Math.PI * (i + 0.5)) / n) ** 2);
}

interface Chunk {
  sum: Float32Array;
  weight: Float32Array;
}

export class Stitcher {
  private readonly chunks = new Map<string, Chunk>();
  private readonly windows = new Map<number, Float32Array>();

  constructor(
    readonly width: number,
    readonly height: number,
    readonly chunkSize = 512,
  ) {}

  private window(n: number): Float32Array {
    let w = this.windows.get(n);
    if (!w) this.windows.set(n, (w = hannWindow(n)));
    return w;
  }

  private chunk(cx: number, cy: number, create: boolean): Chunk | undefined {
    const key = `${cx},${cy}`;
    let c = this.chunks.get(key);
    if (!c && create) {
      const n = this.chunkSize * this.chunkSize;
      c = { sum: new Float32Array(n), weight: new Float32Array(n) };
      this.chunks.set(key, c);
    }
    return c;
  }

  /** Visits the canvas cells of a region (clipped to the canvas) with their chunk and offset in it. */
  private forEachCell(x: number, y: number, w: number, h: number, create: boolean, fn: (c: Chunk, k: number, i: number, j: number) => void): void {
    const cs = this.chunkSize;
    for (let j = 0; j < h; j++) {
      const Y = y + j;
      if (Y < 0 || Y >= this.height) continue;
      for (let i = 0; i < w; i++) {
        const X = x + i;
        if (X < 0 || X >= this.width) continue;
        const c = this.chunk(Math.floor(X / cs), Math.floor(Y / cs), create);
        if (c) fn(c, (Y % cs) * cs + (X % cs), i, j);
      }
    }
  }

  /** Adds a patch map (h x w, row-major) with its top-left at canvas (x, y); outside parts are dropped. */
  add(x: number, y: number, values: ArrayLike<number>, w: number, h: number): void {
    const wx = this.window(w);
    const wy = this.window(h);
    this.forEachCell(x, y, w, h, true, (c, k, i, j) => {
      const weight = wx[i]! * wy[j]!;
      c.sum[k]! += weight * values[j * w + i]!;
      c.weight[k]! += weight;
    });
  }

  /** Blended values of a canvas region; NaN where no patch fell. */
  read(x: number, y: number, w: number, h: number): Float32Array {
    const out = new Float32Array(w * h).fill(NaN);
    this.forEachCell(x, y, w, h, false, (c, k, i, j) => {
      if (c.weight[k]! > 0) out[j * w + i] = c.sum[k]! / c.weight[k]!;
    });
    return out;
  }

  /** Chunk coordinates [cx, cy] a region touches (clipped to the canvas). */
  chunksOf(x: number, y: number, w: number, h: number): [number, number][] {
    const cs = this.chunkSize;
    const x0 = Math.max(0, x), y0 = Math.max(0, y);
    const x1 = Math.min(this.width, x + w), y1 = Math.min(this.height, y + h);
    const out: [number, number][] = [];
    for (let cy = Math.floor(y0 / cs); cy * cs < y1; cy++) for (let cx = Math.floor(x0 / cs); cx * cs < x1; cx++) out.push([cx, cy]);
    return out;
  }

  /**
   * Blended values of one chunk (NaN where no patch fell), clipped to the canvas, and forgets it:
   * a streaming caller drains each chunk once no further patch can touch it.
   */
  drainChunk(cx: number, cy: number): { x: number; y: number; w: number; h: number; values: Float32Array } {
    const cs = this.chunkSize;
    const x = cx * cs, y = cy * cs;
    const w = Math.max(0, Math.min(cs, this.width - x)), h = Math.max(0, Math.min(cs, this.height - y));
    const values = this.read(x, y, w, h);
    this.chunks.delete(`${cx},${cy}`);
    return { x, y, w, h, values };
  }

  /** Chunks held in memory. */
  get chunkCount(): number {
    return this.chunks.size;
  }

  /** Bytes held (two float32 planes per chunk). */
  get bytes(): number {
    return this.chunks.size * this.chunkSize * this.chunkSize * 8;
  }
}
