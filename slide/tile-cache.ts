/**
 * Decoded tiles, least recently used first out, bounded by bytes (tiles differ in size: edge strips,
 * associated strips, virtual levels). Concurrent requests for one tile share one decode.
 */
import type { RgbImage } from './types.js';

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

export class TileCache {
  private readonly entries = new Map<string, RgbImage>();
  private readonly pending = new Map<string, Promise<RgbImage>>();
  private used = 0;

  constructor(readonly maxBytes: number = DEFAULT_CACHE_BYTES) {
    if (!(maxBytes >= 0)) throw new RangeError(`cache size must be >= 0 bytes, got ${maxBytes}`);
  }

  /** Bytes held now; never above maxBytes. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached value, or the one `load` makes (shared with concurrent callers, cached if it fits). */
  async get(key: string, load: () => Promise<RgbImage>): Promise<RgbImage> {
    const hit = this.entries.get(key);
    if (hit) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const promise = load().then(
      (value) => {
        this.pending.delete(key);
        this.put(key, value);
        return value;
      },
      (err: unknown) => {
        this.pending.delete(key);
        throw err;
      },
    );
    this.pending.set(key, promise);
    return promise;
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }

  private put(key: string, value: RgbImage): void {
    // A value larger than the whole budget is returned to its caller but not kept.
    if (value.data.byteLength > this.maxBytes) return;
    for (const [oldest, old] of this.entries) {
      if (this.used + value.data.byteLength <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.used -= old.data.byteLength;
    }
    this.entries.set(key, value);
    this.used += value.data.byteLength;
  }
}
