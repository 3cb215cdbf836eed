/**
 * The ONNX graph as plain data, decoupled from the protobuf classes: what `proto.ts` reads from a
 * `ModelProto` and what the executor, the scope map and the hook-point finder work on.
 * Shapes and attributes are PyTorch/ONNX layout (NCHW, OIHW); only the executor goes to NHWC.
 */

/** A constant (initializer or `Constant` node value): floats widened to float32, integers as numbers. */
export type ConstTensor =
  | { kind: 'float'; dims: number[]; data: Float32Array }
  | { kind: 'int'; dims: number[]; data: number[] };

/** One attribute value, by ONNX's AttributeType (graphs and sparse tensors are not read). */
export type AttrValue = number | string | number[] | string[] | ConstTensor;

export interface OnnxNode {
  /** Position in the graph (node order = topological order in a valid ONNX file). */
  index: number;
  name: string;
  opType: string;
  domain: string;
  /** Tensor names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: ReadonlyMap<string, AttrValue>;
}

/** A graph input or output: its name and declared dims (a symbolic dim as its name, unknown as undefined). */
export interface OnnxValueInfo {
  name: string;
  dims: (number | string | undefined)[];
}

export interface OnnxGraph {
  /** File name, for messages. */
  file: string;
  opset: number;
  nodes: OnnxNode[];
  initializers: ReadonlyMap<string, ConstTensor>;
  /** Graph inputs that are not initializers. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** Typed attribute access with ONNX defaults. */
export class Attrs {
  constructor(private readonly node: OnnxNode) {}

  int(name: string, fallback: number): number {
    const v = this.node.attrs.get(name);
    return typeof v === 'number' ? v : fallback;
  }

  float(name: string, fallback: number): number {
    return this.int(name, fallback);
  }

  ints(name: string, fallback: number[]): number[] {
    const v = this.node.attrs.get(name);
    return Array.isArray(v) && v.every((x): x is number => typeof x === 'number') ? v : fallback;
  }

  string(name: string, fallback: string): string {
    const v = this.node.attrs.get(name);
    return typeof v === 'string' ? v : fallback;
  }

  tensor(name: string): ConstTensor | undefined {
    const v = this.node.attrs.get(name);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
  }

  has(name: string): boolean {
    return this.node.attrs.has(name);
  }
}

export function numelOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
