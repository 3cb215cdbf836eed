/**
 * ONNX ops evaluated on the host, on ConstTensor values in ONNX layout: constant folding at load
 * time (a node whose inputs are all constants becomes a constant: torch.onnx leaves Transposes of
 * weights, Unsqueezes of scalars and the like when exported without folding) and, at run time, the
 * integer shape values (`x.view(x.size(0), -1)`, `F.interpolate(size=skip.shape[2:])`: Shape ->
 * Gather -> Unsqueeze -> Concat -> Reshape). Here the shape and layout ops; the elementwise
 * arithmetic is host-math.ts. Values keep ONNX's layout (NCHW), integers are JS numbers.
 */
import { Attrs, numelOf, type ConstTensor, type OnnxNode } from './graph.js';
import { broadcastDims, elementwise, kindOf, make, MATH_OPS, need, ints, strides, type Fail, type HostContext, type HostOp, type Ins } from './host-math.js';

export { broadcastDims, type CheckDims, type Fail, type HostContext } from './host-math.js';

/** Output-dims and per-axis ranges of an ONNX Slice (opset 10+ inputs, or opset 1-9 attributes). */
export function sliceRanges(dims: readonly number[], starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined, fail: Fail): { start: number; step: number; count: number }[] {
  const r = dims.length;
  const ranges = dims.map((d) => ({ start: 0, step: 1, count: d }));
  const ax = axes && axes.length > 0 ? axes : starts.map((_, i) => i);
  if (starts.length !== ends.length || ax.length !== starts.length || (steps && steps.length > 0 && steps.length !== starts.length)) return fail('starts, ends, axes and steps differ in length');
  ax.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + r : a0;
    if (a < 0 || a >= r) return fail(`axis ${a0} is out of range for rank ${r}`);
    const d = dims[a]!;
    const step = steps && steps.length > 0 ? steps[i]! : 1;
    if (step === 0) return fail('a step of 0');
    let s = starts[i]!;
    let e = ends[i]!;
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    ranges[a] = { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
  });
  return ranges;
}

/** The dims an ONNX Reshape makes (0 copies the input's dim unless allowzero, -1 is inferred). */
export function reshapeDims(inDims: readonly number[], shape: readonly number[], allowzero: boolean, fail: Fail): number[] {
  const out = shape.map((s, i) => (s === 0 && !allowzero ? (inDims[i] ?? fail(`shape entry ${i} is 0 but the input has rank ${inDims.length}`)) : s));
  const total = numelOf(inDims);
  const minus = out.filter((s) => s === -1).length;
  if (minus > 1 || out.some((s) => s < -1)) return fail(`shape [${shape.join(', ')}] is not valid`);
  if (minus === 1) {
    const known = out.filter((s) => s !== -1).reduce((p, q) => p * q, 1);
    if (known === 0 || total % known !== 0) return fail(`cannot reshape [${inDims.join(', ')}] to [${shape.join(', ')}]`);
    out[out.indexOf(-1)] = total / known;
  }
  if (numelOf(out) !== total) return fail(`cannot reshape [${inDims.join(', ')}] (${total} values) to [${out.join(', ')}]`);
  return out;
}

/** Axes of Squeeze/Unsqueeze/Reduce*: the attribute (older opsets) or the second input (opset 13+/18+). */
export function axesOf(n: OnnxNode, axesInput: ConstTensor | undefined): number[] | undefined {
  if (axesInput) return ints(axesInput);
  const a = new Attrs(n);
  return a.has('axes') ? a.ints('axes', []) : undefined;
}

/** Dims after Unsqueeze. */
export function unsqueezeDims(dims: readonly number[], axes: readonly number[], fail: Fail): number[] {
  const r = dims.length + axes.length;
  const norm = axes.map((a) => (a < 0 ? a + r : a)).sort((p, q) => p - q);
  if (norm.some((a, i) => a < 0 || a >= r || norm[i - 1] === a)) return fail(`axes [${axes.join(', ')}] are not valid for an output of rank ${r}`);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(norm.includes(i) ? 1 : dims[k++]!);
  return out;
}

/** Dims after Squeeze (all size-1 axes when `axes` is undefined or empty). */
export function squeezeDims(dims: readonly number[], axes: readonly number[] | undefined, fail: Fail): number[] {
  const r = dims.length;
  if (!axes || axes.length === 0) return dims.filter((d) => d !== 1);
  const norm = axes.map((a) => (a < 0 ? a + r : a));
  for (const a of norm) if (a < 0 || a >= r || dims[a] !== 1) fail(`axis ${a} of dims [${dims.join(', ')}] is not of size 1`);
  return dims.filter((_, i) => !norm.includes(i));
}

/** Generic gather of a multi-index box (Slice, Transpose): out[idx] = data[src(idx)]. */
function remap(c: ConstTensor, dims: number[], srcOffset: (coords: number[]) => number, hc: HostContext): ConstTensor {
  hc.check(dims);
  const total = numelOf(dims);
  const out = new Array<number>(total);
  const coords = dims.map(() => 0);
  for (let o = 0; o < total; o++) {
    let rem = o;
    for (let ax = dims.length - 1; ax >= 0; ax--) {
      coords[ax] = rem % dims[ax]!;
      rem = Math.floor(rem / dims[ax]!);
    }
    out[o] = c.data[srcOffset(coords)]!;
  }
  return make(c.kind, dims, out);
}

const HOST_OPS: Record<string, HostOp> = {
  ...MATH_OPS,
  Identity: (n, ins, hc) => need(ins, 0, hc, 'data'),
  Dropout: (n, ins, hc) => need(ins, 0, hc, 'data'),
  Cast: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const to = new Attrs(n).int('to', 0);
    if (to === 1 || to === 10 || to === 11 || to === 16) return make('float', [...x.dims], Array.from(x.data, (v) => Math.fround(v)));
    if (to === 9) return make('int', [...x.dims], Array.from(x.data, (v) => (v !== 0 ? 1 : 0)));
    if ([2, 3, 4, 5, 6, 7, 12, 13].includes(to)) return make('int', [...x.dims], Array.from(x.data, (v) => Math.trunc(v)));
    return hc.fail(`cast to ONNX data type ${to} is not supported`);
  },
  Shape: (n, ins, hc) => shapeOf(need(ins, 0, hc, 'data').dims, n),
  Size: (n, ins, hc) => ({ kind: 'int', dims: [], data: [numelOf(need(ins, 0, hc, 'data').dims)] }),
  Gather: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const idx = need(ins, 1, hc, 'indices');
    const r = x.dims.length;
    const a0 = new Attrs(n).int('axis', 0);
    const axis = a0 < 0 ? a0 + r : a0;
    if (axis < 0 || axis >= r) return hc.fail(`axis ${a0} is out of range for rank ${r}`);
    const d = x.dims[axis]!;
    const outer = numelOf(x.dims.slice(0, axis));
    const inner = numelOf(x.dims.slice(axis + 1));
    const dims = [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)];
    hc.check(dims);
    const out: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const i0 of idx.data) {
        const i = i0 < 0 ? i0 + d : i0;
        if (i < 0 || i >= d) return hc.fail(`index ${i0} is out of range for a dim of ${d}`);
        for (let k = 0; k < inner; k++) out.push(x.data[(o * d + i) * inner + k]!);
      }
    }
    return make(x.kind, dims, out);
  },
  Unsqueeze: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const axes = axesOf(n, ins[1]);
    if (!axes) return hc.fail('no axes');
    return { ...x, dims: unsqueezeDims(x.dims, axes, hc.fail) } as ConstTensor;
  },
  Squeeze: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    return { ...x, dims: squeezeDims(x.dims, axesOf(n, ins[1]), hc.fail) } as ConstTensor;
  },
  Reshape: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const dims = reshapeDims(x.dims, ints(need(ins, 1, hc, 'shape')), new Attrs(n).int('allowzero', 0) === 1, hc.fail);
    return { ...x, dims } as ConstTensor;
  },
  Flatten: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const a0 = new Attrs(n).int('axis', 1);
    const axis = a0 < 0 ? a0 + x.dims.length : a0;
    const lead = numelOf(x.dims.slice(0, axis));
    return { ...x, dims: [lead, numelOf(x.dims.slice(axis))] } as ConstTensor;
  },
  Concat: (n, ins, hc) => {
    const xs = ins.filter((c): c is ConstTensor => c !== undefined);
    if (xs.length === 0) return hc.fail('no inputs');
    const r = xs[0]!.dims.length;
    const a0 = new Attrs(n).int('axis', 0);
    const axis = a0 < 0 ? a0 + r : a0;
    if (axis < 0 || axis >= r) return hc.fail(`axis ${a0} is out of range for rank ${r}`);
    for (const x of xs) if (x.dims.length !== r || x.dims.some((d, i) => i !== axis && d !== xs[0]!.dims[i])) hc.fail(`inputs of dims [${xs.map((c) => c.dims.join('x')).join('], [')}] do not concatenate on axis ${axis}`);
    const dims = [...xs[0]!.dims];
    dims[axis] = xs.reduce((s, x) => s + x.dims[axis]!, 0);
    hc.check(dims);
    const outer = numelOf(dims.slice(0, axis));
    const out: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const x of xs) {
        const block = numelOf(x.dims.slice(axis));
        for (let k = 0; k < block; k++) out.push(x.data[o * block + k]!);
      }
    }
    return make(kindOf(xs), dims, out);
  },
  Slice: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const a = new Attrs(n);
    const old = hc.opset < 10;
    const ranges = old
      ? sliceRanges(x.dims, a.ints('starts', []), a.ints('ends', []), a.has('axes') ? a.ints('axes', []) : undefined, undefined, hc.fail)
      : sliceRanges(x.dims, ints(need(ins, 1, hc, 'starts')), ints(need(ins, 2, hc, 'ends')), ins[3] ? ints(ins[3]) : undefined, ins[4] ? ints(ins[4]) : undefined, hc.fail);
    const s = strides(x.dims);
    return remap(x, ranges.map((q) => q.count), (c) => c.reduce((off, v, ax) => off + (ranges[ax]!.start + v * ranges[ax]!.step) * s[ax]!, 0), hc);
  },
  Transpose: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const r = x.dims.length;
    const perm = new Attrs(n).ints('perm', x.dims.map((_, i) => r - 1 - i));
    if (perm.length !== r || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) return hc.fail(`perm [${perm.join(', ')}] is not a permutation of ${r} axes`);
    const s = strides(x.dims);
    return remap(x, perm.map((p) => x.dims[p]!), (c) => c.reduce((off, v, i) => off + v * s[perm[i]!]!, 0), hc);
  },
  ConstantOfShape: (n, ins, hc) => {
    const dims = ints(need(ins, 0, hc, 'shape'));
    hc.check(dims);
    const v = new Attrs(n).tensor('value') ?? { kind: 'float', dims: [1], data: Float32Array.of(0) };
    return make(v.kind, dims, new Array<number>(numelOf(dims)).fill(v.data[0] ?? 0));
  },
  Expand: (n, ins, hc) => {
    const x = need(ins, 0, hc, 'data');
    const dims = broadcastDims([x.dims, ints(need(ins, 1, hc, 'shape'))], hc.fail);
    return elementwise([x, zeros(dims, hc)], x.kind, hc, (v) => v!);
  },
  Range: (n, ins, hc) => {
    const [s, l, d] = [need(ins, 0, hc, 'start'), need(ins, 1, hc, 'limit'), need(ins, 2, hc, 'delta')].map((c) => c.data[0]!) as [number, number, number];
    if (d === 0) return hc.fail('a delta of 0');
    const count = Math.max(Math.ceil((l - s) / d), 0);
    hc.check([count]);
    const kind = kindOf([ins[0]!, ins[1]!, ins[2]!]);
    return make(kind, [count], Array.from({ length: count }, (_, i) => (kind === 'float' ? Math.fround(s + i * d) : s + i * d)));
  },
};

function zeros(dims: number[], hc: HostContext): ConstTensor {
  hc.check(dims);
  return { kind: 'int', dims, data: new Array<number>(numelOf(dims)).fill(0) };
}

/** Shape (with opset 15's start and end). */
export function shapeOf(dims: readonly number[], n: OnnxNode): ConstTensor {
  const a = new Attrs(n);
  const r = dims.length;
  const clampAxis = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clampAxis(a.int('start', 0));
  const end = clampAxis(a.int('end', r));
  const out = dims.slice(start, Math.max(start, end));
  return { kind: 'int', dims: [out.length], data: out };
}

/** Ops the host can evaluate (what constant folding covers). */
export function hostCan(opType: string): boolean {
  return Object.hasOwn(HOST_OPS, opType);
}

/** Evaluates one node on host values; only its first output. */
export function evalHost(n: OnnxNode, ins: Ins, hc: HostContext): ConstTensor {
  const op = HOST_OPS[n.opType];
  if (!op) return hc.fail('sds cannot compute this op on constants');
  return op(n, ins, hc);
}
