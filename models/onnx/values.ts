/**
 * The executor's runtime values and their layout, shared by the operator files. A float tensor of
 * rank 4 is NHWC (the engine's convolution layout); every other value keeps ONNX's layout.
 * Integer tensors (int32) are shape values (Shape, Gather on a shape, ...): they keep ONNX's layout
 * at every rank, are small, and ops read them on the host. Constants (ConstTensor) are ONNX layout.
 */
import { SdsError } from '../../core/errors.js';
import { ONNX_LIMITS } from '../weights/limits.js';
import { tf, type Tensor } from '../tf.js';
import { numelOf, type ConstTensor, type OnnxGraph, type OnnxNode } from './graph.js';
import { unsupported } from './proto.js';

/**
 * What compiling a node may use, and what a plain operator compiles to (ops.ts adds convs, ReLUs
 * and max-pools, which hooks see): stated here so that the operator files do not import ops.ts,
 * which imports them.
 */
export interface OpContext {
  graph: OnnxGraph;
  /** A constant input by tensor name (initializer, Constant node or folded node). */
  constant(name: string): ConstTensor | undefined;
  /** Registers a tensor the model owns (disposed with it). */
  own<T extends Tensor>(t: T): T;
}

export type OpNode =
  | { kind: 'op'; run(xs: Tensor[]): Tensor }
  /** A node whose outputs are constants (Constant, or an op on constants only): no runtime step. */
  | { kind: 'const'; value: ConstTensor };

/** NHWC axis of each NCHW axis. */
export const NCHW_TO_NHWC_AXIS = [0, 3, 1, 2] as const;

/** A node input at run time: a tensor, a constant, or undefined for an omitted optional input. */
export type Value = Tensor | ConstTensor | undefined;

export function isTensor(v: Value): v is Tensor {
  return v instanceof tf.Tensor;
}

/** Rank-4 float tensors are NHWC inside. */
export function isNhwc(t: Tensor): boolean {
  return t.rank === 4 && t.dtype !== 'int32';
}

/** The ONNX dims of a runtime tensor (NCHW for an NHWC tensor). */
export function onnxDims(t: Tensor): number[] {
  if (!isNhwc(t)) return [...t.shape];
  const [n, h, w, c] = t.shape as [number, number, number, number];
  return [n, c, h, w];
}

/** A transpose; one that only moves size-1 axes is a reshape (no copy, a lighter backward). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const dims = perm.map((p) => x.shape[p]!);
  const moved = perm.filter((p) => x.shape[p] !== 1);
  if (moved.every((p, i) => i === 0 || moved[i - 1]! < p)) return tf.reshape(x, dims);
  return tf.transpose(x, [...perm]);
}

/** A runtime tensor in ONNX layout (rank-4 float: NHWC -> NCHW); others as they are. */
export function toOnnx(x: Tensor): Tensor {
  return isNhwc(x) ? permute(x, [0, 3, 1, 2]) : x;
}

/** An ONNX-layout result as a runtime value (rank-4 float: NCHW -> NHWC). */
export function fromOnnx(y: Tensor): Tensor {
  return isNhwc(y) ? permute(y, [0, 2, 3, 1]) : y;
}

/** Normalizes a possibly negative axis against `rank`; undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
}

/** Maps runtime inputs (constants left out, as the executor passes them) back to the node's input slots. */
export function bindInputs(n: OnnxNode, ctx: OpContext): (xs: Tensor[]) => Value[] {
  const consts = n.inputs.map((i) => (i === '' ? undefined : ctx.constant(i)));
  return (xs) => {
    let k = 0;
    return n.inputs.map((name, i) => (name === '' ? undefined : (consts[i] ?? xs[k++])));
  };
}

/** A value read to the host in ONNX layout (tensors: a copy of their data). */
export function hostOf(v: Tensor | ConstTensor): ConstTensor {
  if (!isTensor(v)) return v;
  const t = toOnnxHost(v);
  const dims = [...t.shape];
  if (v.dtype === 'int32' || v.dtype === 'bool') return { kind: 'int', dims, data: Array.from(t.dataSync() as ArrayLike<number>) };
  return { kind: 'float', dims, data: Float32Array.from(t.dataSync() as Float32Array) };
}

function toOnnxHost(v: Tensor): Tensor {
  if (!isNhwc(v)) return v;
  return tf.tidy(() => toOnnx(v));
}

/** The numbers of a value (shape entries, axes, scales); a tensor is read from the engine. */
export function numbersOf(v: Tensor | ConstTensor): number[] {
  if (!isTensor(v)) return Array.from(v.data);
  if (isNhwc(v)) return Array.from(hostOf(v).data);
  return Array.from(v.dataSync());
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * A host value as a runtime tensor: ints as int32 (clamped: only INT64_MAX-style "to the end"
 * markers exceed it, and the ops that read them clamp to the dims anyway), floats as float32,
 * rank-4 floats as NHWC.
 */
export function tensorOf(c: ConstTensor): Tensor {
  if (c.kind === 'int') return tf.tensor(Int32Array.from(c.data, (v) => Math.max(-INT32_MAX - 1, Math.min(INT32_MAX, v))), c.dims, 'int32');
  return tf.tidy(() => fromOnnx(tf.tensor(c.data, c.dims, 'float32')));
}

/** The node's error: WEIGHTS_UNSUPPORTED naming the file, the node and its op type. */
export function nodeError(file: string, n: OnnxNode, what: string): SdsError {
  return unsupported(file, `node ${n.name} (${n.opType}): ${what}`, 'sds imports CNNs exported by torch.onnx (opset 11-17); simplify or re-export the model');
}

/** Refuses a value of more than `limit` elements before it is allocated. */
export function checkElements(file: string, n: OnnxNode, dims: readonly number[], limit: 'hostElements' | 'valueElements'): void {
  if (dims.length > ONNX_LIMITS.rank) throw nodeError(file, n, `a value of rank ${dims.length} is past sds's limit of ${ONNX_LIMITS.rank} (ONNX_LIMITS.rank)`);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw nodeError(file, n, `a value would have dims [${dims.join(', ')}]`);
  const count = numelOf(dims);
  if (count > ONNX_LIMITS[limit]) {
    throw new SdsError('WEIGHTS_TOO_LARGE', `${file}: node ${n.name} (${n.opType}) would make a value of ${count} elements ([${dims.join(', ')}]), past sds's limit of ${ONNX_LIMITS[limit]} (ONNX_LIMITS.${limit})`, {
      suggestion: 'the file asks for more than any CNN sds runs needs; check the model or re-export it',
      context: { file },
    });
  }
}
