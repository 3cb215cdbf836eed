/**
 * Encoded tiles (JPEG / PNG bytes) in a byte-bounded LRU; concurrent requests for one tile share one
 * render. Renders given to `render()` wait in the server's RenderQueue; one that every waiting
 * client has given up on before it started is dropped.
 */
import { ClientGone } from './http-error.js';
import { Lru } from './lru.js';
import type { RenderQueue } from './render-queue.js';

interface Pending {
  promise: Promise<Buffer>;
  /** Waiting clients with a signal; a waiter without one keeps the render wanted for good. */
  waiters: number;
  forever: boolean;
  started: boolean;
  /** Aborted when no one wants the render any more (before it started). */
  abandon: AbortController;
}

export class EncodedTileCache {
  private readonly lru: Lru<Buffer>;
  private readonly pending = new Map<string, Pending>();
  hits = 0;
  misses = 0;

  constructor(
    capacityBytes: number,
    private readonly queue?: RenderQueue,
  ) {
    this.lru = new Lru<Buffer>({ capacity: capacityBytes, cost: (b) => b.byteLength });
  }

  /** The cached bytes, or `render()` run now (not queued; for work already inside a queued render). */
  async get(key: string, render: () => Promise<Buffer>): Promise<Buffer> {
    return this.fetch(key, render, false);
  }

  /**
   * The cached bytes, or `render()` run through the render queue (when this cache has one). A client
   * whose `signal` aborts stops waiting (ClientGone); the render itself is dropped when it has not
   * started and no other client waits for the same tile.
   */
  async render(key: string, render: () => Promise<Buffer>, signal?: AbortSignal): Promise<Buffer> {
    return this.fetch(key, render, true, signal);
  }

  private fetch(key: string, render: () => Promise<Buffer>, queued: boolean, signal?: AbortSignal): Promise<Buffer> {
    const cached = this.lru.get(key);
    if (cached) {
      this.hits++;
      return Promise.resolve(cached);
    }
    if (signal?.aborted) return Promise.reject(new ClientGone());
    let p = this.pending.get(key);
    if (!p) {
      this.misses++;
      const entry: Pending = { promise: undefined as unknown as Promise<Buffer>, waiters: 0, forever: false, started: false, abandon: new AbortController() };
      const run = () => {
        entry.started = true;
        return render();
      };
      entry.promise = (queued && this.queue ? this.queue.run(run, entry.abandon.signal) : run()).then((buf) => {
        this.lru.set(key, buf);
        return buf;
      });
      entry.promise
        .finally(() => {
          if (this.pending.get(key) === entry) this.pending.delete(key);
        })
        .catch(() => undefined);
      this.pending.set(key, entry);
      p = entry;
    }
    if (!signal) {
      p.forever = true;
      return p.promise;
    }
    const entry = p;
    entry.waiters++;
    return new Promise<Buffer>((resolve, reject) => {
      let waiting = true;
      const leave = () => {
        waiting = false;
        entry.waiters--;
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (!waiting) return;
        leave();
        // nobody waits for a render that has not started: give its slot to someone who does
        if (entry.waiters === 0 && !entry.forever && !entry.started) {
          if (this.pending.get(key) === entry) this.pending.delete(key);
          entry.abandon.abort();
        }
        reject(new ClientGone());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.promise.then(
        (buf) => {
          if (!waiting) return;
          leave();
          resolve(buf);
        },
        (err: unknown) => {
          if (!waiting) return;
          leave();
          reject(err);
        },
      );
    });
  }

  clear(): void {
    this.lru.clear();
  }

  get bytes(): number {
    return this.lru.used;
  }
}
