/** Messages between the pool and its workers (structured-clone friendly; arrays are transferred). */
import type { MethodName, ModelSpec, Variant } from '../contracts/index.js';
import type { SharedMethod } from '../saliency/shared.js';

export interface InitMessage {
  type: 'init';
  model: ModelSpec;
  /** The variant tasks use when they name none. */
  variant: Variant;
  surrogate?: string;
  engine?: string;
  /**
   * Engine heap a task may leave behind (bytes): a task that grows the heap past it is answered
   * as an engine failure (fatal), as a WASM abort at its 4 GiB would be. Lets the pool's batch
   * splitting be exercised with a small budget; default none (the engine's own limit).
   */
  heapBudgetBytes?: number;
}

export interface AttributeTask {
  type: 'attribute';
  id: number;
  method: MethodName;
  variant?: Variant;
  /** NCHW, normalized */
  data: Float32Array;
  shape: [number, number, number, number];
  layers: string[];
  targets?: number[];
  steps?: number;
  internalBatchSize?: number;
  /** Reply with the channel-summed maps only (attr left empty): what whole-slide stitching needs. */
  mapsOnly?: boolean;
}

export interface ForwardTask {
  type: 'forward';
  id: number;
  variant?: Variant;
  data: Float32Array;
  shape: [number, number, number, number];
}

/**
 * Every (variant, method) of one forward group from one forward pass (saliency/shared.ts): the
 * variants share their forward values (`forwardGroups`), the methods are grad/DeepLift/GradCAM.
 * Replies with channel-mean maps only, and the model's logits when `logits` is set.
 */
export interface SharedTask {
  type: 'shared';
  id: number;
  variants: Variant[];
  methods: SharedMethod[];
  /** NCHW, normalized */
  data: Float32Array;
  shape: [number, number, number, number];
  layers: string[];
  targets?: number[];
  logits?: boolean;
}

export type Task = AttributeTask | ForwardTask | SharedTask;

export interface SharedPayload {
  variant: Variant;
  method: SharedMethod;
  /** (N,h,w) channel means per layer; `attr` empty */
  layers: LayerPayload[];
}

export interface LayerPayload {
  layer: string;
  attr: Float32Array;
  map: Float32Array;
  shape: [number, number, number, number];
}

/** Every reply to a task says how large the worker's engine heap has grown (0 where unknown). */
export type WorkerReply =
  | { type: 'ready'; engine: string }
  | { type: 'attribute'; id: number; layers: LayerPayload[]; targets: number[]; heapBytes: number }
  | { type: 'forward'; id: number; logits: Float32Array; shape: number[]; heapBytes: number }
  | { type: 'shared'; id: number; results: SharedPayload[]; targets: number[]; logits?: Float32Array; logitsShape?: number[]; heapBytes: number }
  /** `fatal`: the engine instance itself failed (a WASM abort, e.g. its 4 GiB were exhausted): only a new worker can go on. */
  | { type: 'error'; id?: number; message: string; code?: string; suggestion?: string; fatal?: boolean; heapBytes: number };
