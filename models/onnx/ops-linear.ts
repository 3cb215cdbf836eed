/**
 * MatMul (numpy semantics: batched, broadcast, rank-1 operands; B a constant, as nn.Linear on a
 * 3-D input exports, or a runtime tensor, as attention's q @ k^T) and ReduceMean / ReduceSum
 * (what `x.mean((2, 3))` exports to; axes as an attribute, or an input from ReduceSum-13 and
 * ReduceMean-18). Rank-4 operands go to ONNX (NCHW) order first: a matrix product runs over the
 * file's last two axes. Reductions of an NHWC tensor reduce the matching engine axes instead.
 */
import { tf, type Tensor } from '../tf.js';
import { Attrs, type ConstTensor, type OnnxNode } from './graph.js';
import { axesOf } from './host.js';
import { bindInputs, fromOnnx, hostOf, isNhwc, isTensor, NCHW_TO_NHWC_AXIS, nodeError, normAxis, toOnnx, type OpContext, type OpNode } from './values.js';

const fail = (ctx: OpContext, n: OnnxNode, what: string): never => {
  throw nodeError(ctx.graph.file, n, what);
};

const floats = (c: ConstTensor) => (c.kind === 'float' ? c.data : Float32Array.from(c.data));

/** a @ b in ONNX layout, numpy rules. */
function matMul(a: Tensor, b: Tensor): Tensor {
  const a2 = a.rank === 1 ? tf.reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? tf.reshape(b, [b.shape[0]!, 1]) : b;
  let y: Tensor;
  const k = a2.shape[a2.rank - 1]!;
  if (b2.rank === 2 && a2.rank > 2) {
    // (..., K) @ (K, M): one 2-D product over all leading rows
    const rows = tf.matMul(tf.reshape(a2, [-1, k]) as tf.Tensor2D, b2 as tf.Tensor2D);
    y = tf.reshape(rows, [...a2.shape.slice(0, -1), b2.shape[1]!]);
  } else {
    const r = Math.max(a2.rank, b2.rank);
    const lift = (t: Tensor) => (t.rank === r ? t : tf.reshape(t, [...Array<number>(r - t.rank).fill(1), ...t.shape]));
    y = tf.matMul(lift(a2), lift(b2));
  }
  if (a.rank === 1) y = tf.squeeze(y, [y.rank - 2]);
  if (b.rank === 1) y = tf.squeeze(y, [y.rank - 1]);
  return y;
}

export function compileMatMul(n: OnnxNode, ctx: OpContext): OpNode {
  const own = (name: string | undefined) => {
    const c = name ? ctx.constant(name) : undefined;
    return c ? ctx.own(tf.tensor(floats(c), c.dims, 'float32')) : undefined;
  };
  const [ca, cb] = [own(n.inputs[0]), own(n.inputs[1])];
  const bind = bindInputs(n, ctx);
  return {
    kind: 'op',
    run: (xs) =>
      tf.tidy(() => {
        const [va, vb] = bind(xs);
        const a = ca ?? (isTensor(va) ? toOnnx(va) : fail(ctx, n, 'the A input is missing'));
        const b = cb ?? (isTensor(vb) ? toOnnx(vb) : fail(ctx, n, 'the B input is missing'));
        if (a.rank === 0 || b.rank === 0) return fail(ctx, n, 'scalar operands are not supported');
        const ka = a.shape[a.rank - 1];
        const kb = b.rank === 1 ? b.shape[0] : b.shape[b.rank - 2];
        if (ka !== kb) return fail(ctx, n, `cannot multiply [${a.shape.join(', ')}] by [${b.shape.join(', ')}]`);
        return fromOnnx(matMul(a, b));
      }),
  };
}

/** ReduceMean / ReduceSum with keepdims (default 1) and noop_with_empty_axes. */
export function compileReduce(n: OnnxNode, ctx: OpContext): OpNode {
  const a = new Attrs(n);
  const keep = a.int('keepdims', 1) === 1;
  const noop = a.int('noop_with_empty_axes', 0) === 1;
  const reduce = n.opType === 'ReduceSum' ? tf.sum : tf.mean;
  const bind = bindInputs(n, ctx);
  return {
    kind: 'op',
    run: (xs) =>
      tf.tidy(() => {
        const [v, axesIn] = bind(xs);
        if (!isTensor(v)) return fail(ctx, n, 'the data input must be a runtime tensor');
        const x = v;
        const given = axesOf(n, axesIn === undefined ? undefined : hostOf(axesIn));
        if ((!given || given.length === 0) && noop) return tf.clone(x);
        const r = x.rank;
        const axes = [...new Set((given && given.length > 0 ? given : x.shape.map((_, i) => i)).map((ax) => normAxis(ax, r) ?? fail(ctx, n, `axis ${ax} is out of range for rank ${r}`)))];
        const at = (ax: number) => (isNhwc(x) ? NCHW_TO_NHWC_AXIS[ax]! : ax);
        const y = reduce(x, axes.map(at), keep);
        if (keep) return y;
        if (!isNhwc(x)) return fromOnnx(y);
        // the kept axes come out in engine order; put them in ONNX order
        const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
        const sorted = kept.map(at).sort((p, q) => p - q);
        const perm = kept.map((i) => sorted.indexOf(at(i)));
        return perm.every((p, i) => p === i) ? y : tf.transpose(y, perm);
      }),
  };
}
