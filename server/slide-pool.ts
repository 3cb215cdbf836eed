/**
 * Open slides, kept for reuse (LRU by count). An evicted slide is closed once the last request
 * using it is done, so a read is never cut off by another request's eviction.
 */
import { openSlide, type Slide } from '../slide/index.js';
import { Lru } from './lru.js';

interface Held {
  slide: Promise<Slide>;
  users: number;
  evicted: boolean;
}

export interface SlidePoolOptions {
  /** Slides kept open (default 8). */
  maxOpen?: number;
  /** Decoded-tile cache of each open slide, bytes (default 64 MiB). */
  cacheBytes?: number;
}

export class SlidePool {
  private readonly open: Lru<Held>;
  private readonly cacheBytes: number;

  constructor(options: SlidePoolOptions = {}) {
    this.cacheBytes = options.cacheBytes ?? 64 << 20;
    this.open = new Lru<Held>({
      capacity: options.maxOpen ?? 8,
      onEvict: (_key, held) => {
        held.evicted = true;
        if (held.users === 0) closeHeld(held);
      },
    });
  }

  /** Runs `fn` with the slide at `path` (opened once per `version`), keeping it open meanwhile. */
  async use<T>(path: string, version: string, fn: (slide: Slide) => Promise<T>): Promise<T> {
    const key = `${version}:${path}`;
    let held = this.open.get(key);
    if (!held) {
      held = { slide: openSlide(path, { cacheBytes: this.cacheBytes }), users: 0, evicted: false };
      // A file that fails to open is not kept: the next request tries again.
      held.slide.catch(() => this.open.get(key) === held && this.open.delete(key));
      this.open.set(key, held);
    }
    held.users++;
    try {
      return await fn(await held.slide);
    } finally {
      held.users--;
      if (held.evicted && held.users === 0) closeHeld(held);
    }
  }

  async close(): Promise<void> {
    this.open.clear();
  }
}

function closeHeld(held: Held): void {
  held.slide.then((s) => s.close()).catch(() => undefined);
}
