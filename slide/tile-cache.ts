/**
 * Decoded tiles, least recently used first out, bounded by bytes (tiles differ in size: edge strips,
 * associated strips, virtual levels). Concurrent requests for one tile share one decode.
 */
import type { RgbImage } from './types.js';

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * What an entry costs at least: the Map entry and image record weigh more than a tiny tile's pixels, and a blank
 * tile (no pixels at all) must not be free, or a file of millions of tiny or empty tiles fills memory uncounted.
 */
const MIN_ENTRY_COST = 256;
const cost = (value: RgbImage) => Math.max(value.data.byteLength, MIN_ENTRY_COST);

export class TileCache {
  private readonly entries = new Map<string, RgbImage>();
  private readonly pending = new Map<string, Promise<RgbImage>>();
  private used = 0;

  constructor(readonly maxBytes: number = DEFAULT_CACHE_BYTES) {
    if (!(maxBytes >= 0)) throw new RangeError(`cache size must be >= 0 bytes, got ${maxBytes}`);
  }

  /** Bytes held now (at least 256 an entry); never above maxBytes. */
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
    const bytes = cost(value);
    if (bytes > this.maxBytes) return;
    for (const [oldest, old] of this.entries) {
      if (this.used + bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.used -= cost(old);
    }
    this.entries.set(key, value);
    this.used += bytes;
  }
}
