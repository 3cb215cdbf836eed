/**
 * A pool of worker threads, one TensorFlow.js WASM instance each (WASM threads do not work in
 * Node), weights loaded once per worker. Tasks queue and go to the first idle worker.
 *
 * A WASM instance can fail as a whole (an abort, most often its 4 GiB heap exhausted; its heap
 * also never shrinks, and large buffers of varying sizes fragment it). The pool then replaces the
 * worker, and a batch of several images is split in halves that run on their own (recursively,
 * down to one image): a batch that does not fit is never an error, and results are the same as
 * an unsplit run (images are independent). The size that failed is remembered per kind of task
 * (attribution or forward pass, patch size, layers), so later batches of that kind go in pieces at once. A single image that fails is tried once more on
 * a fresh worker (a fragmented heap) before it fails with OUT_OF_MEMORY. A worker whose heap has
 * grown past `recycleAboveBytes` is replaced after its task, before it gets there.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SdsError, type SdsErrorCode } from '../core/errors.js';
import { concatFloat32 } from '../core/concat.js';
import type { AttributeTask, ForwardTask, InitMessage, LayerPayload, SharedPayload, SharedTask, WorkerReply } from './protocol.js';

/** The engine instance failed as a whole on this batch (not a bad argument): a smaller batch may fit. */
class EngineFailure extends Error {}

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

interface Job {
  task: AttributeTask | ForwardTask | SharedTask;
  /** The batch, kept to run the task again (or split it) if its worker fails; each send transfers a copy. */
  data: Float32Array;
  attempts: number;
  pending: Pending;
  /** its kind, for the sizes known to fail (`failedAt`) */
  kind: string;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  /** the init reply, or the running job */
  waiting?: Pending;
  job?: Job;
}

export interface PoolOptions extends Omit<InitMessage, 'type'> {
  /** Workers; default the number of cores. */
  size?: number;
  /** Replace a worker after a task once its engine heap exceeds this (default 3 GiB of WASM's 4). */
  recycleAboveBytes?: number;
}

/** What a shared task gives back (see `WorkerPool.shared`). */
export interface SharedReply {
  results: SharedPayload[];
  targets: number[];
  logits?: Float32Array;
  logitsShape?: number[];
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private init!: InitMessage;
  private recycleAbove = 3 * 2 ** 30;
  engine = '';
  /** Workers replaced so far (failed or recycled). */
  replaced = 0;
  /** Batches split in halves so far because the engine failed on them. */
  splits = 0;
  /** The largest engine heap a worker reported after a task (bytes; 0 where the engine does not say). */
  peakHeapBytes = 0;
  /** Per kind of task (attribution or forward, patch size, layers), the smallest batch (images) the engine failed on. */
  private readonly failedAt = new Map<string, number>();

  private constructor() {}

  static async create(o: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const size = Math.max(1, o.size ?? os.availableParallelism?.() ?? os.cpus().length);
    pool.init = { type: 'init', model: o.model, variant: o.variant, surrogate: o.surrogate, engine: o.engine, heapBudgetBytes: o.heapBudgetBytes };
    pool.recycleAbove = o.recycleAboveBytes ?? pool.recycleAbove;
    try {
      await Promise.all(Array.from({ length: size }, () => pool.start()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** A new worker in `slot` (or a new slot), ready when the promise resolves. */
  private async start(slot?: Slot): Promise<void> {
    const s: Slot = slot ?? { worker: undefined as unknown as Worker, busy: true };
    if (!slot) this.slots.push(s);
    s.busy = true;
    s.job = undefined;
    const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url));
    s.worker = worker;
    worker.on('message', (m: WorkerReply) => {
      if (s.worker === worker) this.onMessage(s, m);
    });
    worker.on('error', (e) => {
      if (s.worker === worker) this.onWorkerFailure(s, e);
    });
    const ready = await new Promise<WorkerReply>((resolve, reject) => {
      s.waiting = { resolve, reject };
      worker.postMessage(this.init);
    });
    if (ready.type === 'error') throw new SdsError((ready.code as SdsErrorCode | undefined) ?? 'BAD_INPUT', ready.message, { suggestion: ready.suggestion });
    if (ready.type === 'ready') this.engine = ready.engine;
    s.busy = false;
    this.pump();
  }

  /** What the slot's worker was doing: starting (`waiting`) or running a job; both cleared. */
  private take(slot: Slot): { waiting?: Pending; job?: Job } {
    const { waiting, job } = slot;
    slot.waiting = undefined;
    slot.job = undefined;
    return { waiting, job };
  }

  private onMessage(slot: Slot, m: WorkerReply): void {
    const { waiting, job } = this.take(slot);
    if (waiting) return waiting.resolve(m);
    if (!job) return;
    if (m.type === 'error' && m.fatal) {
      this.retry(slot, job, m.message);
      return;
    }
    if ('heapBytes' in m) this.peakHeapBytes = Math.max(this.peakHeapBytes, m.heapBytes);
    if (m.type === 'error') job.pending.reject(new SdsError((m.code as SdsErrorCode | undefined) ?? 'BAD_INPUT', m.message, { suggestion: m.suggestion }));
    else job.pending.resolve(m);
    if ('heapBytes' in m && m.heapBytes > this.recycleAbove && !this.closed) this.replace(slot);
    else {
      slot.busy = false;
      this.pump();
    }
  }

  private onWorkerFailure(slot: Slot, e: Error): void {
    const { waiting, job } = this.take(slot);
    if (waiting) return waiting.reject(e);
    if (job) this.retry(slot, job, e.message);
    else if (!this.closed) this.replace(slot);
  }

  /**
   * The worker failed as a whole: a new one takes its place. A batch of several images goes back
   * to its caller to be split; one image runs once more on the fresh worker, then fails.
   */
  private retry(slot: Slot, job: Job, message: string): void {
    if (job.task.shape[0] > 1) {
      job.pending.reject(new EngineFailure(message));
    } else if (job.attempts >= 2) {
      job.pending.reject(
        new SdsError('OUT_OF_MEMORY', `the engine failed on a single ${job.task.shape[2]} x ${job.task.shape[3]} px image twice, each time in a fresh worker (${message}); most often a WASM instance's 4 GiB are exhausted`, {
          suggestion: 'use smaller patches (--patch), fewer layers in one run (--layers), or the native engine where it installs (--backend node: no 4 GiB limit)',
        }),
      );
    } else {
      job.attempts++;
      this.queue.unshift(job);
    }
    if (!this.closed) this.replace(slot);
  }

  private replace(slot: Slot): void {
    this.replaced++;
    const old = slot.worker;
    slot.busy = true;
    void old.terminate();
    this.start(slot).catch((err: unknown) => {
      // the model loaded before, so this is unexpected: fail what waits rather than hang
      for (const q of this.queue.splice(0)) q.pending.reject(err as Error);
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      let job: Job | undefined;
      while (!slot.busy && (job = this.queue.shift())) {
        // queued before a batch of its kind and size failed: split now instead of failing once more
        const known = this.failedAt.get(job.kind);
        if (job.task.shape[0] > 1 && known !== undefined && job.task.shape[0] >= known) job.pending.reject(new EngineFailure('a batch of this size failed before'));
        else break;
      }
      if (slot.busy || !job) continue;
      slot.busy = true;
      slot.job = job;
      const data = job.data.slice();
      slot.worker.postMessage({ ...job.task, data }, [data.buffer as ArrayBuffer]);
    }
  }

  private submit(task: AttributeTask | ForwardTask | SharedTask, kind: string): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, data: task.data, attempts: 1, pending: { resolve, reject }, kind });
      this.pump();
    });
  }

  /**
   * Runs `t`, or its halves when the engine failed on a batch of this kind and size before (or
   * fails on this one now); `one` runs one piece, `merge` joins the pieces' results in order.
   */
  private async fitted<T extends { data: Float32Array; shape: [number, number, number, number] }, R>(t: T, kind: string, one: (t: T) => Promise<R>, merge: (parts: R[]) => R, maxImages = Infinity): Promise<R> {
    const n = t.shape[0];
    const known = this.failedAt.get(kind);
    if (n > 1 && ((known !== undefined && n >= known) || n > maxImages)) return this.halves(t, kind, one, merge, maxImages);
    try {
      return await one(t);
    } catch (err) {
      if (!(err instanceof EngineFailure)) throw err;
      this.failedAt.set(kind, Math.min(n, known ?? n));
      return this.halves(t, kind, one, merge, maxImages);
    }
  }

  private async halves<T extends { data: Float32Array; shape: [number, number, number, number] }, R>(t: T, kind: string, one: (t: T) => Promise<R>, merge: (parts: R[]) => R, maxImages: number): Promise<R> {
    this.splits++;
    const [n, c, h, w] = t.shape;
    const per = c * h * w;
    const a = Math.ceil(n / 2);
    const piece = (from: number, to: number): T => ({ ...t, data: t.data.slice(from * per, to * per), shape: [to - from, c, h, w] });
    const parts = await Promise.all([this.fitted(piece(0, a), kind, one, merge, maxImages), this.fitted(piece(a, n), kind, one, merge, maxImages)]);
    return merge(parts);
  }

  /**
   * Attribution of one batch (NCHW, normalized); split to fit the engine when it must be.
   * `maxImages`: the most images one task is estimated to fit (models/engine-memory.ts); larger
   * batches go in pieces at once on the WASM engine (native engines have no 4 GiB heap).
   */
  async attribute(t: Omit<AttributeTask, 'type' | 'id'>, { maxImages = Infinity }: { maxImages?: number } = {}): Promise<{ layers: LayerPayload[]; targets: number[] }> {
    // one limit for every method and variant at this patch size and these layers: each engine failure
    // costs a worker (an abort at 4 GiB, a restart, the weights loaded again), so a size that failed
    // for one is not tried for the others (they differ in memory by less than a factor of two)
    const kind = JSON.stringify(['attribute', t.shape.slice(1), t.layers]);
    return this.fitted(t, kind, async (p) => {
      const r = await this.submit({ ...p, type: 'attribute', id: this.nextId++ }, kind);
      if (r.type !== 'attribute') throw new Error(`unexpected reply ${r.type}`);
      return { layers: r.layers, targets: r.targets };
    }, (parts) => ({
      targets: parts.flatMap((p) => p.targets),
      layers: parts[0]!.layers.map((l, i) => {
        const all = parts.map((p) => p.layers[i]!);
        return { layer: l.layer, attr: concatFloat32(all.map((x) => x.attr)), map: concatFloat32(all.map((x) => x.map)), shape: [all.reduce((s, x) => s + x.shape[0], 0), l.shape[1], l.shape[2], l.shape[3]] };
      }),
    }), this.engine === 'wasm' ? maxImages : Infinity);
  }

  /**
   * Every (variant, method) of one forward group for one batch, from one forward pass per chunk
   * (saliency/shared.ts); channel-mean maps only, and the logits when asked. Split to fit like
   * `attribute`.
   */
  async shared(t: Omit<SharedTask, 'type' | 'id'>, { maxImages = Infinity }: { maxImages?: number } = {}): Promise<SharedReply> {
    const kind = JSON.stringify(['shared', t.variants, t.methods, t.shape.slice(1), t.layers]);
    return this.fitted(t, kind, async (p): Promise<SharedReply> => {
      const r = await this.submit({ ...p, type: 'shared', id: this.nextId++ }, kind);
      if (r.type !== 'shared') throw new Error(`unexpected reply ${r.type}`);
      return { results: r.results, targets: r.targets, ...(r.logits ? { logits: r.logits, logitsShape: r.logitsShape } : {}) };
    }, (parts): SharedReply => ({
      targets: parts.flatMap((p) => p.targets),
      results: parts[0]!.results.map((res, i) => ({
        variant: res.variant,
        method: res.method,
        layers: res.layers.map((l, j) => {
          const all = parts.map((p) => p.results[i]!.layers[j]!);
          return { layer: l.layer, attr: new Float32Array(0), map: concatFloat32(all.map((x) => x.map)), shape: [all.reduce((s, x) => s + x.shape[0], 0), l.shape[1], l.shape[2], l.shape[3]] as [number, number, number, number] };
        }),
      })),
      ...(parts[0]!.logits ? { logits: concatFloat32(parts.map((p) => p.logits!)), logitsShape: [parts.reduce((s, p) => s + p.logitsShape![0]!, 0), ...parts[0]!.logitsShape!.slice(1)] } : {}),
    }), this.engine === 'wasm' ? maxImages : Infinity);
  }

  async forward(t: Omit<ForwardTask, 'type' | 'id'>): Promise<{ logits: Float32Array; shape: number[] }> {
    const kind = JSON.stringify(['forward', t.variant ?? null, t.shape.slice(1)]);
    return this.fitted(t, kind, async (p) => {
      const r = await this.submit({ ...p, type: 'forward', id: this.nextId++ }, kind);
      if (r.type !== 'forward') throw new Error(`unexpected reply ${r.type}`);
      return { logits: r.logits, shape: r.shape };
    }, (parts) => ({ logits: concatFloat32(parts.map((p) => p.logits)), shape: [parts.reduce((s, p) => s + p.shape[0]!, 0), ...parts[0]!.shape.slice(1)] }));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.pending.reject(new Error('pool closed'));
    for (const s of this.slots) s.job?.pending.reject(new Error('pool closed'));
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }
}
