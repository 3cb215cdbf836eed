/** Encoded tiles (JPEG / PNG bytes) in a byte-bounded LRU; concurrent requests for one tile share one render. */
import { Lru } from './lru.js';

export class EncodedTileCache {
  private readonly lru: Lru<Buffer>;
  private readonly pending = new Map<string, Promise<Buffer>>();
  hits = 0;
  misses = 0;

  constructor(capacityBytes: number) {
    this.lru = new Lru<Buffer>({ capacity: capacityBytes, cost: (b) => b.byteLength });
  }

  async get(key: string, render: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.lru.get(key);
    if (cached) {
      this.hits++;
      return cached;
    }
    const running = this.pending.get(key);
    if (running) return running;
    this.misses++;
    const p = render().then((buf) => {
      this.lru.set(key, buf);
      return buf;
    });
    this.pending.set(key, p);
    try {
      return await p;
    } finally {
      this.pending.delete(key);
    }
  }

  clear(): void {
    this.lru.clear();
  }

  get bytes(): number {
    return this.lru.used;
  }
}
