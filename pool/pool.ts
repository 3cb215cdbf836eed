/**
 * A pool of worker threads, one TensorFlow.js WASM instance each (WASM threads do not work in
 * Node), weights loaded once per worker. Tasks queue and go to the first idle worker.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SdsError, type SdsErrorCode } from '../core/errors.js';
import type { AttributeTask, ForwardTask, InitMessage, LayerPayload, WorkerReply } from './protocol.js';

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

interface Slot {
  worker: Worker;
  busy: boolean;
  pending?: Pending;
}

export interface PoolOptions extends Omit<InitMessage, 'type'> {
  /** Workers; default the number of cores. */
  size?: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: { task: AttributeTask | ForwardTask; transfer: ArrayBuffer[]; pending: Pending }[] = [];
  private nextId = 1;
  private closed = false;
  engine = '';

  private constructor() {}

  static async create(o: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const size = Math.max(1, o.size ?? os.availableParallelism?.() ?? os.cpus().length);
    const boot = new URL('./worker-boot.mjs', import.meta.url);
    const init: InitMessage = { type: 'init', model: o.model, variant: o.variant, surrogate: o.surrogate, engine: o.engine };
    try {
      await Promise.all(
        Array.from({ length: size }, async () => {
          const slot: Slot = { worker: new Worker(boot), busy: true };
          pool.slots.push(slot);
          slot.worker.on('message', (m: WorkerReply) => pool.onMessage(slot, m));
          slot.worker.on('error', (e) => pool.onCrash(slot, e));
          const ready = await new Promise<WorkerReply>((resolve, reject) => {
            slot.pending = { resolve, reject };
            slot.worker.postMessage(init);
          });
          if (ready.type === 'ready') pool.engine = ready.engine;
          slot.busy = false;
        }),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private onMessage(slot: Slot, m: WorkerReply): void {
    const p = slot.pending;
    slot.pending = undefined;
    slot.busy = false;
    if (p) {
      if (m.type === 'error') p.reject(new SdsError((m.code as SdsErrorCode | undefined) ?? 'BAD_INPUT', m.message, { suggestion: m.suggestion }));
      else p.resolve(m);
    }
    this.pump();
  }

  private onCrash(slot: Slot, e: Error): void {
    slot.pending?.reject(e);
    slot.pending = undefined;
    slot.busy = false;
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy || !this.queue.length) continue;
      const job = this.queue.shift()!;
      slot.busy = true;
      slot.pending = job.pending;
      slot.worker.postMessage(job.task, job.transfer);
    }
  }

  private submit(task: AttributeTask | ForwardTask): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, transfer: [task.data.buffer as ArrayBuffer], pending: { resolve, reject } });
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
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
