/**
 * The render queue (server/render-queue.ts) and the tile cache in front of it: at most
 * `concurrency` renders at once, newest first, waiting renders of clients that went away dropped
 * before they start; and, through the server, tile requests that wait in it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type SdsServer } from '../../server/index.js';
import { ClientGone } from '../../server/http-error.js';
import { RenderQueue } from '../../server/render-queue.js';
import { EncodedTileCache } from '../../server/tile-cache.js';
import { testPattern, writeTiff } from '../support/server-helpers.js';

/** A promise with its resolve outside. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Polls `cond` (bounded: 500 tries, 10 ms apart). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('RenderQueue', () => {
  it('runs at most `concurrency` renders at once, the newest waiting one first', async () => {
    const q = new RenderQueue(2);
    const order: number[] = [];
    let running = 0, most = 0;
    const gates = Array.from({ length: 6 }, () => gate());
    const done = gates.map((g, i) =>
      q.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(i);
        await g.promise;
        running--;
        return i;
      }),
    );
    await tick();
    expect(order).toEqual([0, 1]); // the first two start at once
    expect([q.running, q.waiting]).toEqual([2, 4]);
    gates[0]!.open();
    await tick();
    expect(order).toEqual([0, 1, 5]); // then the newest waiting one
    for (const g of gates) g.open();
    expect(await Promise.all(done)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(order).toEqual([0, 1, 5, 4, 3, 2]);
    expect(most).toBe(2);
    expect([q.running, q.waiting, q.started, q.dropped]).toEqual([0, 0, 6, 0]);
  });

  it('drops a waiting render whose signal aborts (ClientGone); a started one runs to its end', async () => {
    const q = new RenderQueue(1);
    const g = gate();
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    let ran2 = false;
    const first = q.run(async () => {
      await g.promise;
      return 'first';
    }, ac1.signal);
    const second = q.run(async () => {
      ran2 = true;
      return 'second';
    }, ac2.signal);
    await tick();
    ac1.abort(); // already running: not stopped
    ac2.abort(); // waiting: dropped at once
    await expect(second).rejects.toBeInstanceOf(ClientGone);
    expect(q.waiting).toBe(0);
    g.open();
    expect(await first).toBe('first');
    expect(ran2).toBe(false);
    expect([q.started, q.dropped]).toEqual([1, 1]);
    // an already aborted signal never queues
    await expect(q.run(async () => 'x', ac2.signal)).rejects.toBeInstanceOf(ClientGone);
  });

  it('a failing render rejects its caller and frees its slot', async () => {
    const q = new RenderQueue(1);
    await expect(q.run(async () => Promise.reject(new Error('broken tile')))).rejects.toThrow('broken tile');
    await expect(q.run(() => { throw new Error('sync throw'); })).rejects.toThrow('sync throw');
    expect(await q.run(async () => 7)).toBe(7);
    expect(() => new RenderQueue(0)).toThrow(RangeError);
  });
});

describe('EncodedTileCache with a render queue', () => {
  it('clients asking for one tile share one render; it is dropped only when all of them went away before it started', async () => {
    const q = new RenderQueue(1);
    const cache = new EncodedTileCache(1 << 20, q);
    const block = gate<Buffer>();
    const blocker = cache.render('blocker', () => block.promise);
    let renders = 0;
    const render = async () => {
      renders++;
      return Buffer.from('tile');
    };
    const [a, b, c] = [new AbortController(), new AbortController(), new AbortController()];
    const pa = cache.render('t', render, a.signal);
    const pb = cache.render('t', render, b.signal);
    await tick();
    a.abort(); // b still waits: the render stays queued
    await expect(pa).rejects.toBeInstanceOf(ClientGone);
    expect(q.waiting).toBe(1);
    b.abort(); // nobody waits any more: dropped from the queue
    await expect(pb).rejects.toBeInstanceOf(ClientGone);
    expect(q.waiting).toBe(0);
    // a client asking again later gets a fresh render
    const pc = cache.render('t', render, c.signal);
    block.open(Buffer.from('b'));
    await blocker;
    expect((await pc).toString()).toBe('tile');
    expect(renders).toBe(1);
    expect(q.dropped).toBe(1);
    // cached now: no render, no queue
    expect((await cache.render('t', render, new AbortController().signal)).toString()).toBe('tile');
    expect([renders, cache.hits]).toEqual([1, 1]);
  });

  it('a waiter without a signal keeps the render wanted; get() bypasses the queue', async () => {
    const q = new RenderQueue(1);
    const cache = new EncodedTileCache(1 << 20, q);
    const block = gate<Buffer>();
    void cache.render('blocker', () => block.promise);
    const a = new AbortController();
    const pa = cache.render('t', async () => Buffer.from('x'), a.signal);
    const pb = cache.render('t', async () => Buffer.from('never'));
    a.abort();
    await expect(pa).rejects.toBeInstanceOf(ClientGone);
    expect(q.waiting).toBe(1);
    // get() runs at once even though the only slot is taken (work inside a queued render uses it)
    expect((await cache.get('inner', async () => Buffer.from('inner'))).toString()).toBe('inner');
    block.open(Buffer.from('b'));
    expect((await pb).toString()).toBe('x');
  });
});

describe('tile requests through the server queue', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-render-queue-'));
  let server: SdsServer;
  let port: number;

  beforeAll(async () => {
    mkdirSync(join(root, 'slides'));
    await writeTiff(join(root, 'slides', 'big.tif'), testPattern(2048, 1024), 2048, 1024);
    server = createServer({ slides: [join(root, 'slides')], port: 0, rescanMs: 60_000, renderConcurrency: 1 }, () => undefined);
    port = (await server.listen()).port;
  });

  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Sends a GET; resolves with the status when it ends, `req` to abort it. */
  function send(path: string): { req: ClientRequest; done: Promise<number> } {
    let req!: ClientRequest;
    const done = new Promise<number>((resolve, reject) => {
      req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(-1) : reject(err)));
      req.end();
    });
    return { req, done };
  }

  it('tiles wait while the render slot is taken, are answered newest first, and renders of disconnected clients never start', async () => {
    const q = server.context.renderQueue;
    expect(q.concurrency).toBe(1);
    const block = gate();
    const blocker = q.run(() => block.promise);
    const started0 = q.started;
    // level 11 = full resolution: 9 x 5 tiles of 254 px
    const tiles = Array.from({ length: 6 }, (_, i) => `/slides/big_files/11/${i}_0.jpeg`);
    const finished: number[] = [];
    const live: Promise<number>[] = [];
    for (const [i, path] of tiles.entries()) {
      const waiting = q.waiting;
      const r = send(path);
      live.push(r.done.then((status) => (finished.push(i), status)));
      await until(() => q.waiting === waiting + 1, `tile ${i} to queue`);
    }
    // three more clients who give up while waiting (queued + dropped only grows as they arrive)
    const gone = [];
    const dropped0 = q.dropped;
    for (let i = 0; i < 3; i++) {
      const r = send(`/slides/big_files/11/${i}_1.jpeg`);
      await until(() => q.waiting + q.dropped - dropped0 === tiles.length + i + 1, 'a doomed tile to queue');
      r.req.destroy();
      gone.push(r.done);
    }
    await until(() => q.waiting === tiles.length, 'the abandoned renders to leave the queue');
    expect(q.dropped - dropped0).toBe(3);
    block.open();
    await blocker;
    expect(await Promise.all(live)).toEqual(tiles.map(() => 200));
    expect(finished).toEqual([5, 4, 3, 2, 1, 0]);
    expect(q.started - started0).toBe(tiles.length); // the abandoned ones were never rendered
    await Promise.all(gone);
    // the same tiles asked for again are rendered normally
    const again = await Promise.all([0, 1, 2].map((i) => send(`/slides/big_files/11/${i}_1.jpeg`).done));
    expect(again).toEqual([200, 200, 200]);
  });
});
