/**
 * A pool of worker threads, one TensorFlow.js WASM instance each (WASM threads do not work in
 * Node), weights loaded once per worker. Tasks queue and go to the first idle worker.
 *
 * A WASM instance can fail as a whole (an abort, most often its 4 GiB heap exhausted; its heap
 * also never shrinks, and large buffers of varying sizes fragment it). The pool then replaces the
 * worker and runs the task once more on the fresh one; a worker whose heap has grown past
 * `recycleAboveBytes` is replaced after its task, before it gets there.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SdsError, type SdsErrorCode } from '../core/errors.js';
import type { AttributeTask, ForwardTask, InitMessage, LayerPayload, WorkerReply } from './protocol.js';

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

interface Job {
  task: AttributeTask | ForwardTask;
  /** A copy of the batch, kept to run the task again if its worker fails (the original is transferred). */
  data: Float32Array;
  attempts: number;
  pending: Pending;
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

  private constructor() {}

  static async create(o: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const size = Math.max(1, o.size ?? os.availableParallelism?.() ?? os.cpus().length);
    pool.init = { type: 'init', model: o.model, variant: o.variant, surrogate: o.surrogate, engine: o.engine };
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

  /** The worker failed as a whole: a new one takes its place, and the task runs once more. */
  private retry(slot: Slot, job: Job, message: string): void {
    if (job.attempts >= 2) {
      job.pending.reject(
        new SdsError('OUT_OF_MEMORY', `the engine failed on this batch twice, each time in a fresh worker (${message}); most often a WASM instance's 4 GiB are exhausted`, {
          suggestion: 'use smaller patches or batches (--patch-size, --batch), or install @tensorflow/tfjs-node (native, no 4 GiB limit)',
        }),
      );
    } else {
      job.attempts++;
      job.task = { ...job.task, data: job.data.slice() };
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
      if (slot.busy || !this.queue.length) continue;
      const job = this.queue.shift()!;
      slot.busy = true;
      slot.job = job;
      slot.worker.postMessage(job.task, [job.task.data.buffer as ArrayBuffer]);
    }
  }

  private submit(task: AttributeTask | ForwardTask): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, data: task.data.slice(), attempts: 1, pending: { resolve, reject } });
      this.pump();
    });
  }

  /** Attribution of one batch (NCHW, normalized); the batch's buffer is transferred. */
  async attribute(t: Omit<AttributeTask, 'type' | 'id'>): Promise<{ layers: LayerPayload[]; targets: number[] }> {
    const r = await this.submit({ ...t, type: 'attribute', id: this.nextId++ });
    if (r.type !== 'attribute') throw new Error(`unexpected reply ${r.type}`);
    return { layers: r.layers, targets: r.targets };
  }

  async forward(t: Omit<ForwardTask, 'type' | 'id'>): Promise<{ logits: Float32Array; shape: number[] }> {
    const r = await this.submit({ ...t, type: 'forward', id: this.nextId++ });
    if (r.type !== 'forward') throw new Error(`unexpected reply ${r.type}`);
    return { logits: r.logits, shape: r.shape };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.pending.reject(new Error('pool closed'));
    for (const s of this.slots) s.job?.pending.reject(new Error('pool closed'));
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }
}
