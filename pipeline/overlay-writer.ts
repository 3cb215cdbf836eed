/**
 * Streams one overlay to disk: patch maps are blended in a Stitcher, and each canvas chunk is moved
 * to the float store as soon as the last patch that touches it has been added. Patches arrive in
 * row-major order, so memory holds about one row of chunks whatever the slide's size.
 */
import { FloatStore, Stitcher, symmetricRange, writeDzi, type DziColormap } from '../maps/index.js';
import type { OverlaySpec } from './plan.js';

export class OverlayWriter {
  private readonly stitcher: Stitcher;
  /** patches still to come, per chunk key */
  private readonly pending = new Map<string, number>();
  /** peak chunks held at once (for the memory benchmark and tests) */
  peakChunks = 0;

  private constructor(
    readonly spec: OverlaySpec,
    readonly store: FloatStore,
    readonly path: string,
  ) {
    this.stitcher = new Stitcher(spec.width, spec.height, store.chunk);
  }

  static async create(spec: OverlaySpec, path: string): Promise<OverlayWriter> {
    const store = await FloatStore.create(path, { width: spec.width, height: spec.height, name: spec.key.replaceAll('/', ' ') });
    return new OverlayWriter(spec, store, path);
  }

  /** Announces a patch map's footprint (map pixels), before any `add`. */
  expect(x: number, y: number): void {
    for (const [cx, cy] of this.stitcher.chunksOf(x, y, this.spec.mapWidth, this.spec.mapHeight)) {
      const k = `${cx},${cy}`;
      this.pending.set(k, (this.pending.get(k) ?? 0) + 1);
    }
  }

  async add(x: number, y: number, values: Float32Array): Promise<void> {
    const { mapWidth: w, mapHeight: h } = this.spec;
    this.stitcher.add(x, y, values, w, h);
    this.peakChunks = Math.max(this.peakChunks, this.stitcher.chunkCount);
    for (const [cx, cy] of this.stitcher.chunksOf(x, y, w, h)) {
      const k = `${cx},${cy}`;
      const left = (this.pending.get(k) ?? 1) - 1;
      if (left > 0) {
        this.pending.set(k, left);
        continue;
      }
      this.pending.delete(k);
      const c = this.stitcher.drainChunk(cx, cy);
      await this.store.writeRegion(c.x, c.y, c.w, c.h, c.values);
      // on disk now, not at the cache's eviction or at finish: the server draws a running analysis from
      // the chunks finished so far (server/running-analyses.ts). Each chunk is still written once.
      await this.store.flush();
    }
  }

  /** Pyramid, display range and Deep Zoom tiles; returns the range. */
  async finish(o: { colormap: DziColormap; range?: [number, number] }): Promise<[number, number]> {
    if (this.pending.size) throw new Error(`${this.spec.key}: ${this.pending.size} chunks still wait for patches`);
    await this.store.finalize();
    let range = o.range ?? (await symmetricRange(this.store));
    // an all-zero (or empty) map still gets a valid scale
    if (!(range[1] > range[0])) range = [range[0] - 1, range[0] + 1];
    await writeDzi(this.store, this.path.replace(/\.zarr$/, ''), { range, colormap: o.colormap });
    return range;
  }
}
