/** A pool worker: its own TensorFlow.js WASM instance and its own copy of the model. */
import { parentPort } from 'node:worker_threads';
import { SdsError } from '../core/errors.js';
import { initEngine, openModel, predictBatch, tf, type Model } from '../models/index.js';
import { attributeBatch, attributeSharedBatch, explainedModel } from '../saliency/index.js';
import type { InitMessage, SharedPayload, SharedTask, Task, WorkerReply } from './protocol.js';
import type { Variant } from '../saliency/index.js';

const port = parentPort!;
let base: Model | undefined; // owns the weights until the worker ends
let init0: InitMessage | undefined;
const explained = new Map<Variant, Promise<Model>>();

/** The model seen through `variant`, built once per worker. */
function modelFor(variant: Variant | undefined): Promise<Model> {
  if (!base || !init0) throw new Error('worker used before init');
  const v = variant ?? init0.variant;
  let m = explained.get(v);
  if (!m) {
    m = explainedModel(base, v, init0.surrogate).then((e) => e.model);
    explained.set(v, m);
  }
  return m;
}

function reply(msg: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Bytes of the WASM engine's heap (it only grows; 4 GiB at most); 0 on other engines. */
function heapBytes(): number {
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return wasm?.HEAPU8?.length ?? 0;
}

function fail(err: unknown, id?: number): void {
  const e = err as Error;
  // an aborted WASM instance answers every later call with the same abort
  const fatal = e?.name === 'RuntimeError' || /^Aborted\(/.test(e.message ?? '');
  reply({ type: 'error', id, message: e.message ?? String(err), code: err instanceof SdsError ? err.code : undefined, suggestion: err instanceof SdsError ? err.suggestion : undefined, fatal, heapBytes: fatal ? 0 : heapBytes() });
}

async function init(m: InitMessage): Promise<void> {
  const engine = await initEngine({ engine: m.engine, announce: false });
  base = await openModel(m.model);
  init0 = m;
  await modelFor(m.variant);
  reply({ type: 'ready', engine });
}

/** A task that left the heap past the budget failed as if the engine had run out (the pool splits its batch). */
function checkBudget(): void {
  const budget = init0?.heapBudgetBytes;
  const heap = heapBytes();
  if (budget && heap > budget) throw Object.assign(new Error(`the engine heap grew to ${(heap / 2 ** 20).toFixed(0)} MiB, past its budget of ${(budget / 2 ** 20).toFixed(0)} MiB`), { name: 'RuntimeError' });
}

async function run(t: Task): Promise<void> {
  if (t.type === 'shared') return runShared(t);
  const model = await modelFor(t.variant);
  if (t.type === 'forward') {
    const p = await predictBatch(model, t.data, t.shape, t.shape[0]);
    checkBudget();
    reply({ type: 'forward', id: t.id, logits: p.logits, shape: p.shape, heapBytes: heapBytes() }, [p.logits.buffer as ArrayBuffer]);
    return;
  }
  const res = await attributeBatch(model, t.method, t.data, t.shape, { layers: t.layers, targets: t.targets, steps: t.steps, internalBatchSize: t.internalBatchSize, batch: t.shape[0], mapsOnly: t.mapsOnly });
  const layers = [...res.layers].map(([layer, r]) => ({ layer, attr: r.attr, map: r.map, shape: r.shape }));
  checkBudget();
  reply({ type: 'attribute', id: t.id, layers, targets: res.targets, heapBytes: heapBytes() }, layers.flatMap((l) => [l.attr.buffer as ArrayBuffer, l.map.buffer as ArrayBuffer]));
}

/** A forward group's every (variant, method) from one forward pass per chunk. */
async function runShared(t: SharedTask): Promise<void> {
  // the group's forward model: the plain one for original/backward-hook (the hook switches per walk)
  const model = await modelFor(t.variants.includes('original') || t.variants.includes('backward-hook') ? 'original' : t.variants[0]);
  const res = await attributeSharedBatch(model, t.variants, t.methods, t.data, t.shape, { layers: t.layers, targets: t.targets, logits: t.logits, batch: t.shape[0] });
  const results: SharedPayload[] = [];
  for (const [variant, byMethod] of res.maps)
    for (const [method, byLayer] of byMethod) results.push({ variant, method, layers: [...byLayer].map(([layer, r]) => ({ layer, attr: new Float32Array(0), map: r.map, shape: r.shape })) });
  checkBudget();
  const transfer = results.flatMap((r) => r.layers.map((l) => l.map.buffer as ArrayBuffer));
  if (res.logits) transfer.push(res.logits.buffer as ArrayBuffer);
  reply({ type: 'shared', id: t.id, results, targets: res.targets, logits: res.logits, logitsShape: res.logitsShape, heapBytes: heapBytes() }, transfer);
}

// one message at a time, in order: the pool never sends a second task before the first replies
port.on('message', (msg: InitMessage | Task) => {
  const p = msg.type === 'init' ? init(msg) : run(msg);
  p.catch((err: unknown) => fail(err, msg.type === 'init' ? undefined : msg.id));
});
