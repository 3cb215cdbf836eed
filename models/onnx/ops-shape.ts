/**
 * Shape and layout ops (Shape, Gather, Slice, Reshape, Transpose, Squeeze, Unsqueeze, Cast,
 * ConstantOfShape, Expand) and the two ways integer values are computed: constant folding at load
 * time (`foldNode`) and host evaluation of int32 shape values at run time (`withHost`), so
 * `x.view(x.size(0), -1)` and `F.interpolate(size=skip.shape[2:])` follow a dynamic batch axis.
 * Float data runs on the engine (gradients flow); rank-4 float data is NHWC, so Shape reports
 * NCHW dims and Reshape/Transpose/Squeeze/Gather go through ONNX (NCHW) order, as PyTorch's memory
 * order is what the file's shapes describe.
 */
import { tf, type Tensor } from '../tf.js';
import { Attrs, type ConstTensor, type OnnxNode } from './graph.js';
import { axesOf, broadcastDims, evalHost, reshapeDims, shapeOf, sliceRanges, squeezeDims, unsqueezeDims, type HostContext } from './host.js';
import { bindInputs, checkElements, fromOnnx, hostOf, isNhwc, isTensor, NCHW_TO_NHWC_AXIS, nodeError, normAxis, numbersOf, onnxDims, permute, tensorOf, toOnnx, type OpContext, type OpNode, type Value } from './values.js';

type Run = (xs: Tensor[]) => Tensor;

export function hostContext(ctx: OpContext, n: OnnxNode): HostContext {
  const fail = (what: string): never => {
    throw nodeError(ctx.graph.file, n, what);
  };
  return { opset: ctx.graph.opset, fail, check: (dims) => checkElements(ctx.graph.file, n, dims, 'hostElements') };
}

/** A node whose inputs are all constants, evaluated now. */
export function foldNode(n: OnnxNode, ctx: OpContext): OpNode {
  const ins = n.inputs.map((i) => (i === '' ? undefined : ctx.constant(i)));
  return { kind: 'const', value: evalHost(n, ins, hostContext(ctx, n)) };
}

/**
 * A node that computes on the host when its runtime inputs are integer shape values, and runs
 * `float` (an engine op) otherwise; without `float` the op exists for shape values only.
 */
export function withHost(n: OnnxNode, ctx: OpContext, float?: Run): OpNode {
  const bind = bindInputs(n, ctx);
  const hc = hostContext(ctx, n);
  return {
    kind: 'op',
    run: (xs) => {
      if (xs.every((x) => x.dtype === 'int32' || x.dtype === 'bool')) {
        const ins = bind(xs).map((v) => (v === undefined ? undefined : hostOf(v)));
        return tensorOf(evalHost(n, ins, hc));
      }
      if (!float) return hc.fail('sds computes this op on integer shape values only, and this node gets a float tensor');
      return float(xs);
    },
  };
}

/**
 * Add/Sub/Mul/Div between two runtime tensors where one has rank 4 and the other less
 * (`x * w[:, None, None]`): the lower-rank one is broadcast to ONNX rank 4, then NHWC.
 */
export function liftRanks(run: Run): Run {
  const lift = (x: Tensor) => (x.rank === 4 ? x : fromOnnx(tf.reshape(x, [...Array<number>(4 - x.rank).fill(1), ...x.shape])));
  return (xs) => {
    if (xs.length !== 2 || xs[0]!.rank === xs[1]!.rank || Math.max(xs[0]!.rank, xs[1]!.rank) !== 4) return run(xs);
    return tf.tidy(() => run(xs.map(lift)));
  };
}

function floatRun(n: OnnxNode, ctx: OpContext, f: (vs: Value[], fail: (what: string) => never) => Tensor): Run {
  const bind = bindInputs(n, ctx);
  const { fail } = hostContext(ctx, n);
  return (xs) => tf.tidy(() => f(bind(xs), fail));
}

function tensorIn(v: Value, fail: (what: string) => never, what = 'data'): Tensor {
  if (!isTensor(v)) return fail(`the ${what} input must be a runtime tensor`);
  return v;
}

export function compileShape(n: OnnxNode, ctx: OpContext): OpNode {
  return { kind: 'op', run: (xs) => tensorOf(shapeOf(onnxDims(xs[0]!), n)) };
}

export function compileCast(n: OnnxNode, ctx: OpContext): OpNode {
  const to = new Attrs(n).int('to', 0);
  return withHost(n, ctx, floatRun(n, ctx, ([v], fail) => {
    const x = tensorIn(v, fail);
    if (to === 1 || to === 10 || to === 11 || to === 16) return tf.clone(x); // float16/64: computed in float32
    if (to === 9) return tf.cast(tf.notEqual(toOnnx(x), 0), 'int32');
    if ([2, 3, 4, 5, 6, 7, 12, 13].includes(to)) return tf.cast(toOnnx(x), 'int32'); // truncates, as ONNX
    return fail(`cast to ONNX data type ${to} is not supported`);
  }));
}

export function compileReshape(n: OnnxNode, ctx: OpContext): OpNode {
  const allowzero = new Attrs(n).int('allowzero', 0) === 1;
  return withHost(n, ctx, floatRun(n, ctx, ([v, shape], fail) => {
    // PyTorch's memory order is NCHW: reshape that, then back to NHWC if the result has rank 4
    const x = toOnnx(tensorIn(v, fail));
    if (!shape) return fail('the shape input is missing');
    return fromOnnx(tf.reshape(x, reshapeDims(x.shape, numbersOf(shape), allowzero, fail)));
  }));
}

export function compileTranspose(n: OnnxNode, ctx: OpContext): OpNode {
  const a = new Attrs(n);
  return withHost(n, ctx, floatRun(n, ctx, ([v], fail) => {
    const x = tensorIn(v, fail);
    const r = x.rank;
    const perm = a.ints('perm', x.shape.map((_, i) => r - 1 - i));
    if (perm.length !== r || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) return fail(`perm [${perm.join(', ')}] is not a permutation of ${r} axes`);
    if (!isNhwc(x)) return permute(x, perm);
    // output NHWC axis j is ONNX axis [0, 2, 3, 1][j], which is input ONNX axis perm[...], at NHWC NCHW_TO_NHWC_AXIS[...]
    return permute(x, [0, 2, 3, 1].map((j) => NCHW_TO_NHWC_AXIS[perm[j]!]!));
  }));
}

export function compileSqueeze(n: OnnxNode, ctx: OpContext, unsqueeze: boolean): OpNode {
  return withHost(n, ctx, floatRun(n, ctx, ([v, axesIn], fail) => {
    const x = toOnnx(tensorIn(v, fail));
    const axes = axesOf(n, axesIn === undefined ? undefined : hostOf(axesIn));
    if (unsqueeze && !axes) return fail('no axes');
    const dims = unsqueeze ? unsqueezeDims(x.shape, axes!, fail) : squeezeDims(x.shape, axes, fail);
    return fromOnnx(tf.reshape(x, dims));
  }));
}

export function compileGather(n: OnnxNode, ctx: OpContext): OpNode {
  const a0 = new Attrs(n).int('axis', 0);
  return withHost(n, ctx, floatRun(n, ctx, ([v, indices], fail) => {
    const x = toOnnx(tensorIn(v, fail));
    if (!indices) return fail('the indices input is missing');
    const axis = normAxis(a0, x.rank) ?? fail(`axis ${a0} is out of range for rank ${x.rank}`);
    const d = x.shape[axis]!;
    const idx = numbersOf(indices).map((i) => (i < 0 ? i + d : i));
    if (idx.some((i) => i < 0 || i >= d)) return fail(`an index is out of range for a dim of ${d}`);
    if (idx.length > 1024) return fail(`${idx.length} indices on a float tensor: sds gathers at most 1024`);
    // slices and a concat: the engine has no gather gradient kernel
    const size = [...x.shape];
    size[axis] = 1;
    const pieces = idx.map((i) => tf.slice(x, x.shape.map((_, k) => (k === axis ? i : 0)), size));
    const joined = pieces.length === 1 ? pieces[0]! : tf.concat(pieces, axis);
    const idxDims = isTensor(indices) ? indices.shape : indices.dims;
    return fromOnnx(tf.reshape(joined, [...x.shape.slice(0, axis), ...idxDims, ...x.shape.slice(axis + 1)]));
  }));
}

export function compileSlice(n: OnnxNode, ctx: OpContext): OpNode {
  const a = new Attrs(n);
  const old = ctx.graph.opset < 10;
  return withHost(n, ctx, floatRun(n, ctx, (vs, fail) => {
    const x = tensorIn(vs[0], fail);
    const nums = (i: number) => (vs[i] === undefined ? undefined : numbersOf(vs[i]!));
    const ranges = old
      ? sliceRanges(onnxDims(x), a.ints('starts', []), a.ints('ends', []), a.has('axes') ? a.ints('axes', []) : undefined, undefined, fail)
      : sliceRanges(onnxDims(x), nums(1) ?? fail('no starts'), nums(2) ?? fail('no ends'), nums(3), nums(4), fail);
    // per engine axis (ONNX axis a of an NHWC tensor is at NCHW_TO_NHWC_AXIS[a])
    const at = (ax: number) => (isNhwc(x) ? NCHW_TO_NHWC_AXIS[ax]! : ax);
    const begin = new Array<number>(x.rank).fill(0);
    const size = [...x.shape];
    let y = x;
    const strided: { axis: number; count: number; step: number }[] = [];
    ranges.forEach((q, ax) => {
      const t = at(ax);
      let { start, step } = q;
      if (step < 0) {
        y = tf.reverse(y, t);
        start = x.shape[t]! - 1 - start;
        step = -step;
      }
      begin[t] = start;
      size[t] = q.count === 0 ? 0 : (q.count - 1) * step + 1;
      if (step > 1 && q.count > 1) strided.push({ axis: t, count: q.count, step });
    });
    y = tf.slice(y, begin, size);
    // every step-th element: pad to count * step, split the axis as (count, step), keep index 0
    for (const { axis, count, step } of strided) {
      const pads = y.shape.map((_, k): [number, number] => [0, k === axis ? step - 1 : 0]);
      const split = [...y.shape.slice(0, axis), count, step, ...y.shape.slice(axis + 1)];
      const picked = tf.slice(tf.reshape(tf.pad(y, pads), split), split.map(() => 0), split.map((s, k) => (k === axis + 1 ? 1 : s)));
      y = tf.reshape(picked, [...y.shape.slice(0, axis), count, ...y.shape.slice(axis + 1)]);
    }
    return y;
  }));
}

export function compileConstantOfShape(n: OnnxNode, ctx: OpContext): OpNode {
  const value: ConstTensor = new Attrs(n).tensor('value') ?? { kind: 'float', dims: [1], data: Float32Array.of(0) };
  if (value.kind === 'int') return withHost(n, ctx);
  return withHost(n, ctx, floatRun(n, ctx, ([shape], fail) => {
    if (!shape) return fail('the shape input is missing');
    const dims = numbersOf(shape);
    checkElements(ctx.graph.file, n, dims, 'valueElements');
    const engineDims = dims.length === 4 ? [dims[0]!, dims[2]!, dims[3]!, dims[1]!] : dims;
    return tf.fill(engineDims, value.data[0] ?? 0, 'float32');
  }));
}

export function compileExpand(n: OnnxNode, ctx: OpContext): OpNode {
  return withHost(n, ctx, floatRun(n, ctx, ([v, shape], fail) => {
    const x = tensorIn(v, fail);
    if (!shape) return fail('the shape input is missing');
    const dims = broadcastDims([onnxDims(x), numbersOf(shape)], fail);
    checkElements(ctx.graph.file, n, dims, 'valueElements');
    // adding zeros broadcasts, and its gradient sums over the broadcast axes
    if (isNhwc(x) && dims.length === 4) return tf.add(x, tf.zeros([dims[0]!, dims[2]!, dims[3]!, dims[1]!]));
    return fromOnnx(tf.add(toOnnx(x), tf.zeros(dims)));
  }));
}
