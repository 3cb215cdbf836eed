/**
 * Training checkpoints: the network's state_dict, the AdamW moments and step, in one
 * safetensors file, so an interrupted `train-demo` resumes where it stopped.
 */
import { existsSync } from 'node:fs';
import { readSafetensors, tf, writeSafetensors, type Tensor, type WritableTensor } from '../models/index.js';
import type { StateDict } from '../models/weights/types.js';
import type { AdamW } from './adam.js';
import type { ParamStore } from './params.js';

export interface Checkpoint {
  /** The network's state_dict (PyTorch layout): build the network from it to resume. */
  weights: StateDict;
  step: number;
  batchesTracked: number;
  /** Seconds of training so far (summed over resumed runs). */
  seconds: number;
  m: Map<string, Tensor>;
  v: Map<string, Tensor>;
}

export async function saveCheckpoint(path: string, store: ParamStore, optimiser: AdamW, meta: { seconds: number; arch: string }): Promise<void> {
  const out = new Map<string, WritableTensor>(await store.toStateDict());
  const { m, v } = optimiser.moments();
  for (const [prefix, moments] of [['adam.m/', m], ['adam.v/', v]] as const) {
    for (const [k, t] of moments) out.set(`${prefix}${k}`, { shape: t.shape, data: (await t.data()) as Float32Array });
  }
  await writeSafetensors(path, out, {
    format: 'sds-train-checkpoint',
    arch: meta.arch,
    step: String(optimiser.step),
    batches_tracked: String(store.batchesTracked),
    seconds: meta.seconds.toFixed(1),
  });
}

/** The checkpoint at `path`, or undefined when there is none. Moments are engine tensors (caller owns). */
export async function loadCheckpoint(path: string): Promise<Checkpoint | undefined> {
  if (!existsSync(path)) return undefined;
  const { tensors, metadata } = await readSafetensors(path);
  const weights: StateDict = new Map();
  const m = new Map<string, Tensor>();
  const v = new Map<string, Tensor>();
  for (const [k, t] of tensors) {
    if (k.startsWith('adam.m/')) m.set(k.slice(7), tf.tensor(t.data as Float32Array, t.shape));
    else if (k.startsWith('adam.v/')) v.set(k.slice(7), tf.tensor(t.data as Float32Array, t.shape));
    else weights.set(k, t);
  }
  return { weights, step: Number(metadata.step), batchesTracked: Number(metadata.batches_tracked), seconds: Number(metadata.seconds ?? 0), m, v };
}
