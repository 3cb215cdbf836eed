/**
 * The one queue every tile render waits in (slide tiles, overlay tiles, thumbnails, associated
 * images): at most `concurrency` renders at once, the newest waiting one first (LIFO: the tiles of
 * the view the user is looking at now beat those of views already panned away from), and a waiting
 * render nobody wants any more (its client disconnected) is dropped before it starts.
 *
 * Without a bound, 1000 cold tiles all start at once and share the cores: every one of them finishes
 * near the end of the burst (p50 ~ p95 ~ the whole burst). With it, tiles finish one after the
 * other at the same throughput, and the newest requests are answered first.
 */
import { ClientGone } from './http-error.js';

interface Waiting {
  run: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class RenderQueue {
  private readonly stack: Waiting[] = [];
  private active = 0;
  /** Renders started / dropped before starting (for tests and the bench). */
  started = 0;
  dropped = 0;

  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`render concurrency must be a whole number >= 1, got ${concurrency}`);
  }

  /** Renders running now. */
  get running(): number {
    return this.active;
  }

  /** Renders waiting for a slot. */
  get waiting(): number {
    return this.stack.length;
  }

  /**
   * Runs `render` once a slot is free, newest first. When `signal` aborts before it starts, it is
   * taken out of the queue and the promise rejects with ClientGone; once started it runs to its end.
   */
  run<T>(render: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) {
      this.dropped++;
      return Promise.reject(new ClientGone());
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiting = { run: render, resolve: resolve as (v: unknown) => void, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.stack.lastIndexOf(w);
          if (i < 0) return; // already started
          this.stack.splice(i, 1);
          this.dropped++;
          reject(new ClientGone());
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.stack.push(w);
      this.drain();
    });
  }

  private drain(): void {
    while (this.active < this.concurrency && this.stack.length) {
      const w = this.stack.pop()!;
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      this.active++;
      this.started++;
      let p: Promise<unknown>;
      try {
        p = w.run();
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(w.resolve, w.reject).finally(() => {
        this.active--;
        this.drain();
      });
    }
  }
}

/**
 * An AbortSignal that aborts when the client of `res` goes away before the response is complete
 * (the browser cancelled the tile, or panned and closed the connection).
 */
export function clientGoneSignal(res: { on(event: 'close', f: () => void): unknown; writableFinished: boolean }): AbortSignal {
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}
