/**
 * Host arithmetic for host.ts (constant folding and integer shape values): numpy-broadcast
 * elementwise ops on ConstTensor values (Add ... Pow, comparisons, logic, Where, Min/Max, the unary
 * float ops, Clip). Float results are rounded to float32 after every op, as the engine would
 * compute them; integers are int64 values held as JS numbers (integer Div truncates, as ONNX).
 */
import { Attrs, numelOf, type ConstTensor, type OnnxNode } from './graph.js';

/** Throws the node's error (an SdsError) with `what`. */
export type Fail = (what: string) => never;
/** Refuses a result of these dims before it is allocated. */
export type CheckDims = (dims: readonly number[]) => void;

export interface HostContext {
  opset: number;
  fail: Fail;
  check: CheckDims;
}

export type Ins = (ConstTensor | undefined)[];
export type HostOp = (n: OnnxNode, ins: Ins, hc: HostContext) => ConstTensor;

export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let k = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = k;
    k *= dims[i]!;
  }
  return s;
}

export function make(kind: ConstTensor['kind'], dims: number[], values: ArrayLike<number>): ConstTensor {
  return kind === 'float' ? { kind, dims, data: Float32Array.from(values) } : { kind, dims, data: Array.from(values) };
}

export function need(ins: Ins, i: number, hc: HostContext, what: string): ConstTensor {
  const v = ins[i];
  if (!v) return hc.fail(`the ${what} input is missing`);
  return v;
}

export const ints = (c: ConstTensor | undefined): number[] => (c ? Array.from(c.data, (v) => Math.trunc(v)) : []);

/** numpy broadcasting of several shapes. */
export function broadcastDims(shapes: readonly (readonly number[])[], fail: Fail): number[] {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - r + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) return fail(`shapes [${shapes.map((x) => x.join('x')).join('], [')}] do not broadcast`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

/** f over broadcast inputs, element by element. */
export function elementwise(ins: ConstTensor[], kind: ConstTensor['kind'], hc: HostContext, f: (...v: number[]) => number): ConstTensor {
  const dims = broadcastDims(ins.map((c) => c.dims), hc.fail);
  hc.check(dims);
  const r = dims.length;
  const bstr = ins.map((c) => {
    const s = strides(c.dims);
    // stride 0 where the input broadcasts
    return dims.map((d, i) => {
      const j = i - (r - c.dims.length);
      return j < 0 || c.dims[j] === 1 ? 0 : s[j]!;
    });
  });
  const total = numelOf(dims);
  const out = new Array<number>(total);
  const args = new Array<number>(ins.length);
  for (let o = 0; o < total; o++) {
    let rem = o;
    const offs = ins.map(() => 0);
    for (let ax = r - 1; ax >= 0; ax--) {
      const coord = rem % dims[ax]!;
      rem = Math.floor(rem / dims[ax]!);
      for (let k = 0; k < ins.length; k++) offs[k]! += coord * bstr[k]![ax]!;
    }
    for (let k = 0; k < ins.length; k++) args[k] = ins[k]!.data[offs[k]!]!;
    const v = f(...args);
    out[o] = kind === 'float' ? Math.fround(v) : v;
  }
  return make(kind, dims, out);
}

export const kindOf = (ins: ConstTensor[]): ConstTensor['kind'] => (ins.some((c) => c.kind === 'float') ? 'float' : 'int');

function arithmetic(f: (a: number, b: number, int: boolean) => number): HostOp {
  return (n, ins, hc) => {
    const a = need(ins, 0, hc, 'first');
    const b = need(ins, 1, hc, 'second');
    const kind = kindOf([a, b]);
    return elementwise([a, b], kind, hc, (x, y) => f(x!, y!, kind === 'int'));
  };
}

function compare(f: (a: number, b: number) => boolean): HostOp {
  return (n, ins, hc) => elementwise([need(ins, 0, hc, 'first'), need(ins, 1, hc, 'second')], 'int', hc, (x, y) => (f(x!, y!) ? 1 : 0));
}

function unaryOp(f: (x: number) => number): HostOp {
  return (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    return elementwise([x], x.kind, hc, (v) => f(v!));
  };
}

function variadic(f: (a: number, b: number) => number): HostOp {
  return (n, ins, hc) => {
    const xs = ins.filter((c): c is ConstTensor => c !== undefined);
    if (xs.length === 0) return hc.fail('no inputs');
    return elementwise(xs, kindOf(xs), hc, (...v) => v.reduce(f));
  };
}

export const MATH_OPS: Record<string, HostOp> = {
  Add: arithmetic((a, b) => a + b),
  Sub: arithmetic((a, b) => a - b),
  Mul: arithmetic((a, b) => a * b),
  Div: arithmetic((a, b, int) => (int ? (b === 0 ? 0 : Math.trunc(a / b)) : a / b)),
  Pow: arithmetic((a, b) => a ** b),
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  Greater: compare((a, b) => a > b),
  LessOrEqual: compare((a, b) => a <= b),
  GreaterOrEqual: compare((a, b) => a >= b),
  And: compare((a, b) => a !== 0 && b !== 0),
  Or: compare((a, b) => a !== 0 || b !== 0),
  Not: (n, ins, hc) => elementwise([need(ins, 0, hc, 'data')], 'int', hc, (x) => (x === 0 ? 1 : 0)),
  Min: variadic(Math.min),
  Max: variadic(Math.max),
  Neg: unaryOp((x) => -x),
  Abs: unaryOp(Math.abs),
  Relu: unaryOp((x) => Math.max(x, 0)),
  Floor: unaryOp(Math.floor),
  Ceil: unaryOp(Math.ceil),
  Sqrt: unaryOp(Math.sqrt),
  Reciprocal: unaryOp((x) => 1 / x),
  Exp: unaryOp(Math.exp),
  Log: unaryOp(Math.log),
  Sigmoid: unaryOp((x) => 0.5 * (1 + Math.tanh(x / 2))), // = the logistic function, without overflow
  Tanh: unaryOp(Math.tanh),
  Where: (n, ins, hc) => {
    const [c, x, y] = [need(ins, 0, hc, 'condition'), need(ins, 1, hc, 'X'), need(ins, 2, hc, 'Y')];
    return elementwise([c, x, y], kindOf([x, y]), hc, (cv, xv, yv) => (cv !== 0 ? xv! : yv!));
  },
  Clip: (n, ins, hc) => {
    const a = new Attrs(n);
    const lo = ins[1] ? ins[1].data[0]! : a.float('min', -Infinity);
    const hi = ins[2] ? ins[2].data[0]! : a.float('max', Infinity);
    return unaryOp((x) => Math.min(Math.max(x, lo), hi))(n, ins, hc);
  },
};
