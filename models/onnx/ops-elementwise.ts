/**
 * Elementwise activations and Softmax: Clip (ReLU6 exports as Clip 0..6; min/max as inputs from
 * opset 11, as attributes before), HardSwish (opset 14), LeakyRelu, Tanh, the float unary ops
 * (Neg, Abs, Sqrt, Exp, Log, Erf, ..., on activations or on float shape arithmetic), Pow, Softmax
 * and LogSoftmax (axis semantics of opset 13+ and the 2-D coercion before), Dropout (identity:
 * models run in eval mode). Integer inputs (shape values) go to the host (ops-shape's withHost).
 */
import { customUnary, tf, type Tensor } from '../tf.js';
import { Attrs, type OnnxNode } from './graph.js';
import { withHost } from './ops-shape.js';
import { fromOnnx, isNhwc, NCHW_TO_NHWC_AXIS, nodeError, normAxis, toOnnx, type OpContext, type OpNode } from './values.js';

const fail = (ctx: OpContext, n: OnnxNode, what: string): never => {
  throw nodeError(ctx.graph.file, n, what);
};

/** The engine axis of an ONNX axis of `x`. */
function engineAxis(x: Tensor, onnxAxis: number): number {
  return isNhwc(x) ? NCHW_TO_NHWC_AXIS[onnxAxis]! : onnxAxis;
}

export function compileClip(n: OnnxNode, ctx: OpContext): OpNode {
  const a = new Attrs(n);
  const bound = (i: number, attr: string, fallback: number): number => {
    const name = n.inputs[i];
    if (!name) return a.float(attr, fallback);
    const c = ctx.constant(name);
    if (!c) return fail(ctx, n, `a runtime ${attr} is not supported (export with constant bounds)`);
    return c.data[0] ?? fallback;
  };
  const lo = bound(1, 'min', -Infinity);
  const hi = bound(2, 'max', Infinity);
  // tf's clip gradient passes where lo <= x <= hi, as torch.clamp's (ReLU6's hardtanh excludes the bounds: only x exactly 0 or 6 differ)
  return withHost(n, ctx, (xs) => tf.clipByValue(xs[0]!, lo, hi));
}

/** x * relu6(x + 3) / 6 with PyTorch's backward: 0 below -3, x / 3 + 0.5 up to 3 (inclusive), 1 above. */
const hardSwish = customUnary<Tensor>((x, save) => {
  save([x]);
  return {
    value: tf.tidy(() => tf.mul(x, tf.div(tf.clipByValue(tf.add(x, 3), 0, 6), 6))),
    gradFunc: (dy, [v]) => {
      const slope = tf.where(tf.less(v!, -3), tf.zerosLike(v!), tf.where(tf.lessEqual(v!, 3), tf.add(tf.div(v!, 3), 0.5), tf.onesLike(v!)));
      return tf.mul(dy, slope);
    },
  };
});

export function compileHardSwish(): OpNode {
  return { kind: 'op', run: (xs) => hardSwish(xs[0]!) };
}

export function compileLeakyRelu(n: OnnxNode): OpNode {
  const alpha = new Attrs(n).float('alpha', 0.01);
  return { kind: 'op', run: (xs) => tf.leakyRelu(xs[0]!, alpha) };
}

const UNARY: Record<string, (x: Tensor) => Tensor> = {
  Tanh: tf.tanh,
  Neg: tf.neg,
  Abs: tf.abs,
  Sqrt: tf.sqrt,
  Reciprocal: tf.reciprocal,
  Floor: tf.floor,
  Ceil: tf.ceil,
  Exp: tf.exp,
  Log: tf.log,
  Erf: tf.erf,
};

export const UNARY_OPS = Object.keys(UNARY);

export function compileUnary(n: OnnxNode, ctx: OpContext): OpNode {
  const f = UNARY[n.opType]!;
  return withHost(n, ctx, (xs) => f(xs[0]!));
}

/** Pow with a constant exponent (LayerNorm-style x ** 2) or two runtime tensors of one rank. */
export function compilePow(n: OnnxNode, ctx: OpContext): OpNode {
  const e = ctx.constant(n.inputs[1] ?? '');
  if (ctx.constant(n.inputs[0] ?? '')) return fail(ctx, n, 'a constant base with a runtime exponent is not supported');
  if (e && e.data.length !== 1) return fail(ctx, n, 'only a scalar exponent is supported');
  const k = e ? Number(e.data[0]) : undefined;
  return withHost(n, ctx, (xs) => {
    if (k !== undefined) return k === 2 ? tf.square(xs[0]!) : tf.pow(xs[0]!, k);
    if (xs[0]!.rank !== xs[1]!.rank) return fail(ctx, n, `exponents of rank ${xs[1]!.rank} for a base of rank ${xs[0]!.rank} are not supported`);
    return tf.pow(xs[0]!, xs[1]!);
  });
}

/**
 * Softmax / LogSoftmax. Opset 13+: along `axis` (default -1). Before: the input is seen as 2-D
 * (axes before `axis` x the rest, default axis 1) and normalized over the second dim.
 */
export function compileSoftmax(n: OnnxNode, ctx: OpContext): OpNode {
  const log = n.opType === 'LogSoftmax';
  const modern = ctx.graph.opset >= 13;
  const axis0 = new Attrs(n).int('axis', modern ? -1 : 1);
  const last = (x: Tensor) => (log ? tf.logSoftmax(x) : tf.softmax(x));
  return {
    kind: 'op',
    run: (xs) =>
      tf.tidy(() => {
        const x = xs[0]!;
        const axis = normAxis(axis0, x.rank) ?? fail(ctx, n, `axis ${axis0} is out of range for rank ${x.rank}`);
        if (modern || axis === x.rank - 1) {
          // the engine normalizes the last axis only: move the axis there and back
          const t = engineAxis(x, axis);
          if (t === x.rank - 1) return last(x);
          const perm = x.shape.map((_, i) => i);
          perm.splice(t, 1);
          perm.push(t);
          const inverse = perm.map((_, i) => perm.indexOf(i));
          return tf.transpose(last(tf.transpose(x, perm)), inverse);
        }
        const v = toOnnx(x);
        const lead = v.shape.slice(0, axis).reduce((p, q) => p * q, 1);
        return fromOnnx(tf.reshape(last(tf.reshape(v, [lead, v.size / Math.max(lead, 1)])), v.shape));
      }),
  };
}

export function compileDropout(n: OnnxNode, ctx: OpContext): OpNode {
  if (n.outputs[1]) return fail(ctx, n, 'the mask output is not supported (export the model in eval mode)');
  const training = n.inputs[2] ? ctx.constant(n.inputs[2]) : undefined;
  if (n.inputs[2] && (!training || training.data[0] !== 0)) return fail(ctx, n, 'training mode is not supported (export the model in eval mode)');
  return withHost(n, ctx, (xs) => tf.clone(xs[0]!));
}
