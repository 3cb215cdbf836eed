/**
 * ONNX operators as TensorFlow.js ops on NHWC tensors (rank-4 values are NHWC inside, everything
 * else keeps its ONNX layout). Each node is compiled once: its constant inputs (weights, pads,
 * BatchNorm statistics) become tensors the model owns, and what remains is a function of the
 * node's runtime inputs. This file has the ops hooks see (Conv incl. groups, depthwise, dilation and
 * pads; Relu; MaxPool) and the CNN staples (BatchNormalization, pools, Pad, Gemm, Flatten, Concat,
 * the arithmetic); the others live in ops-elementwise.ts, ops-linear.ts, ops-resize.ts and
 * ops-shape.ts (shape arithmetic on the host, constant folding). SUPPORTED_OPS lists them all.
 */
import { cacheRotations, conv2dInputGradient, prepareInputGradient } from '../conv-gradients.js';
import { addSame, concatChannels, maxPool2d, relu } from '../layers.js';
import { oihwToHwio } from '../params.js';
import { customUnary, tf, type Tensor, type Tensor4D } from '../tf.js';
import { depthwiseConstant, rotatedDepthwiseFilter } from './depthwise.js';
import { Attrs, type ConstTensor, type OnnxGraph, type OnnxNode } from './graph.js';
import { unsupported } from './proto.js';
import { convGeometry, modulePath, nodeLayerName, type OnnxHookPoint } from './scope.js';
import { hostCan } from './host.js';
import { compileClip, compileDropout, compileHardSwish, compileLeakyRelu, compilePow, compileSoftmax, compileUnary } from './ops-elementwise.js';
import { compileMatMul, compileReduce } from './ops-linear.js';
import { compileResize } from './ops-resize.js';
import type { OpContext, OpNode } from './values.js';
import { compileCast, compileConstantOfShape, compileExpand, compileGather, compileReshape, compileShape, compileSlice, compileSqueeze, compileTranspose, foldNode, liftRanks, withHost } from './ops-shape.js';

/** NHWC axis of each NCHW axis. */
const NCHW_TO_NHWC_AXIS = [0, 3, 1, 2] as const;

/** A compiled Conv: what a hook needs to re-apply or replace it (a models/hooks.ts HookConv). */
export interface OnnxConv extends Omit<OnnxHookPoint, 'input' | 'output'> {
  /** The module path, or the node name where several Convs share one module. */
  readonly name: string;
  /** HWIO for groups = 1; [kh, kw, C_in, multiplier] for depthwise; HWIO per group otherwise. */
  readonly filters: readonly Tensor4D[];
  readonly biasTensor?: tf.Tensor1D;
  /** The convolution with the node's own weights, stride, pads, dilation and groups. */
  apply(x: Tensor4D): Tensor4D;
  /** Output size along one axis (0 = height, 1 = width), as PyTorch computes it. */
  outSize(size: number, axis?: 0 | 1): number;
  /** Makes the cached input-gradient filters now (before a gradient pass, see conv-gradients). */
  prepareBackward(): void;
}

/** A compiled max-pool: square windows and symmetric pads expose their geometry (SPEC's max-pool rule). */
export interface OnnxMaxPool {
  readonly name: string;
  readonly module: string;
  readonly geometry?: { size: number; stride: number; pad: number };
  apply(x: Tensor4D): Tensor4D;
}

/** What runs one node; `hooks` are the executor's. */
export type CompiledNode = { kind: 'conv'; conv: OnnxConv } | { kind: 'relu' } | { kind: 'maxPool'; pool: OnnxMaxPool } | OpNode;

/** What compiling a node may use (values.ts states it, so that the operator files need not import this one). */
export type CompileContext = OpContext;

export const SUPPORTED_OPS = [
  'Abs', 'Add', 'And', 'AveragePool', 'BatchNormalization', 'Cast', 'Ceil', 'Clip', 'Concat', 'Constant',
  'ConstantOfShape', 'Conv', 'Div', 'Dropout', 'Equal', 'Erf', 'Exp', 'Expand', 'Flatten', 'Floor', 'Gather',
  'Gemm', 'GlobalAveragePool', 'Greater', 'GreaterOrEqual', 'HardSigmoid', 'HardSwish', 'Identity',
  'LeakyRelu', 'Less', 'LessOrEqual', 'Log', 'LogSoftmax', 'MatMul', 'Max', 'MaxPool', 'Min', 'Mul', 'Neg',
  'Not', 'Or', 'Pad', 'Pow', 'Range', 'Reciprocal', 'ReduceMean', 'ReduceSum', 'Relu', 'Reshape', 'Resize',
  'Shape', 'Sigmoid', 'Size', 'Slice', 'Softmax', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Transpose', 'Unsqueeze',
  'Upsample', 'Where',
] as const;

function fail(ctx: CompileContext, n: OnnxNode, what: string): never {
  throw unsupported(ctx.graph.file, `node ${n.name} (${n.opType}): ${what}`, 'sds imports CNNs exported by torch.onnx (opset 13); simplify or re-export the model');
}

/** Which inputs of a node are read at run time (not constants). */
export function runtimeInputs(n: OnnxNode, ctx: CompileContext): string[] {
  return n.inputs.filter((i) => i !== '' && ctx.constant(i) === undefined);
}

function floats(c: ConstTensor): Float32Array {
  return c.kind === 'float' ? c.data : Float32Array.from(c.data);
}

/** A constant as a runtime operand: rank 4 goes to NHWC; lower ranks broadcasting against NCHW too. */
function constOperand(c: ConstTensor, against4d: boolean): Tensor {
  const data = floats(c);
  if (c.dims.length === 4 || (against4d && c.dims.length > 0)) {
    const dims = [...Array(4 - c.dims.length).fill(1), ...c.dims] as number[];
    return tf.tidy(() => tf.transpose(tf.tensor(data, dims), [0, 2, 3, 1]));
  }
  return tf.tensor(data, c.dims);
}

function symmetricPad(p: readonly number[]): number | undefined {
  return p.every((v) => v === p[0]) ? p[0] : undefined;
}

/** Explicit [top, left, bottom, right] padding applied before a 'valid' op (for asymmetric pads). */
function padNhwc(x: Tensor4D, p: readonly number[], value = 0): Tensor4D {
  return tf.pad(x, [[0, 0], [p[0]!, p[2]!], [p[1]!, p[3]!], [0, 0]], value);
}

function compileConv(n: OnnxNode, ctx: CompileContext): OnnxConv {
  const geo = convGeometry(ctx.graph, n, ctx.constant);
  const w = ctx.constant(n.inputs[1] ?? '');
  if (!geo || !w || w.dims.length !== 4) fail(ctx, n, 'only 2-D convolutions with constant weights are supported');
  const a = new Attrs(n);
  if (a.string('auto_pad', 'NOTSET') !== 'NOTSET') fail(ctx, n, `auto_pad=${a.string('auto_pad', '')} is not supported (export with explicit pads)`);
  const { groups, outChannels: cout, inChannels: cin, stride, dilation, pads, kernel } = geo;
  const [kh, kw] = kernel;
  if ((stride[0] > 1 || stride[1] > 1) && (dilation[0] > 1 || dilation[1] > 1)) fail(ctx, n, 'stride and dilation both above 1 are not supported by TensorFlow.js');
  if (cin % groups !== 0 || cout % groups !== 0) fail(ctx, n, `group=${groups} does not divide ${cin} input and ${cout} output channels`);
  const wdata = floats(w);
  const bias = n.inputs[2] ? ctx.constant(n.inputs[2]) : undefined;
  if (n.inputs[2] && !bias) fail(ctx, n, 'a runtime bias is not supported');
  const biasTensor = bias ? ctx.own(tf.tensor1d(floats(bias))) : undefined;
  const depthwise = groups > 1 && groups === cin;
  const filters: Tensor4D[] = [];
  const cinG = cin / groups;
  const coutG = cout / groups;
  if (groups === 1) filters.push(ctx.own(tf.tensor4d(oihwToHwio(wdata, cout, cin, kh, kw), [kh, kw, cin, cout])));
  else if (depthwise) {
    // depthwise: out channel c*m + j reads input channel c; tfjs wants [kh, kw, C_in, m]
    const m = coutG;
    const f = new Float32Array(wdata.length);
    for (let c = 0; c < cin; c++)
      for (let j = 0; j < m; j++)
        for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) f[((y * kw + x) * cin + c) * m + j] = wdata[((c * m + j) * kh + y) * kw + x]!;
    filters.push(ctx.own(tf.tensor4d(f, [kh, kw, cin, m])));
  } else {
    const per = coutG * cinG * kh * kw;
    for (let gi = 0; gi < groups; gi++) {
      const part = wdata.subarray(gi * per, (gi + 1) * per);
      filters.push(ctx.own(tf.tensor4d(oihwToHwio(part, coutG, cinG, kh, kw), [kh, kw, cinG, coutG])));
    }
  }
  const sym = symmetricPad(pads);
  const dil: [number, number] = dilation;
  // depthwise: an op of our own (the WASM engine has no depthwise input-gradient kernel)
  const dw = depthwise ? depthwiseConstant(filters[0]!, ctx.own(rotatedDepthwiseFilter(filters[0]!)), stride, sym ?? 0, dil) : undefined;
  // plain convs: the project's memory-lean op and input-gradient kernels (models/conv-gradients)
  const square = stride[0] === stride[1];
  const lean = filters.map((f) => (square ? leanConv(f, stride[0], sym ?? 0, dil, ctx) : undefined));
  const one = (x: Tensor4D, gi: number): Tensor4D => {
    const xin = sym === undefined ? padNhwc(x, pads) : x;
    if (dw) return dw(xin);
    return lean[gi] ? lean[gi]!(xin) : tf.conv2d(xin, filters[gi]!, stride, sym ?? 0, 'NHWC', dil);
  };
  const apply = (x: Tensor4D): Tensor4D =>
    tf.tidy(() => {
      let y: Tensor4D;
      if (groups === 1 || depthwise) y = one(x, 0);
      else {
        const xs = tf.split(x, groups, 3) as Tensor4D[];
        y = tf.concat(xs.map((xi, gi) => one(xi, gi)), 3);
      }
      return biasTensor ? tf.add(y, biasTensor) : y;
    });
  const module = modulePath(n.name);
  const shared = !module || ctx.graph.nodes.some((o) => o !== n && o.opType === 'Conv' && modulePath(o.name) === module);
  return {
    name: shared ? nodeLayerName(n.name) : module,
    module: module || n.name,
    node: n.name,
    weight: n.inputs[1]!,
    ...(n.inputs[2] ? { bias: n.inputs[2] } : {}),
    ...geo,
    filters,
    ...(biasTensor ? { biasTensor } : {}),
    apply,
    outSize: (size, axis = 0) => Math.floor((size + pads[axis]! + pads[axis + 2]! - dil[axis]! * (kernel[axis]! - 1) - 1) / stride[axis]!) + 1,
    prepareBackward: () => {
      if (dil[0] === 1 && dil[1] === 1 && square) for (const f of filters) if (!dw) prepareInputGradient(f, stride[0], sym ?? 0);
    },
  };
}

/**
 * A constant-weight convolution whose backward pass keeps nothing of the forward one but the input
 * shape (as models/layers.ts Conv2d): the project's input-gradient kernels for dilation 1, and for
 * dilated convs (stride 1 then: tfjs allows no stride with dilation) the transposed convolution
 * written as a dilated convolution of the padded output gradient with the rotated filter.
 */
function leanConv(filter: Tensor4D, stride: number, pad: number, dil: [number, number], ctx: CompileContext): ((x: Tensor4D) => Tensor4D) | undefined {
  const [kh, kw] = filter.shape;
  const dilated = dil[0] > 1 || dil[1] > 1;
  if (!dilated) {
    cacheRotations(filter);
    return customUnary<Tensor4D>((x) => {
      const shape = x.shape;
      return { value: tf.conv2d(x, filter, stride, pad), gradFunc: (dy) => conv2dInputGradient(dy, filter, shape, stride, pad) };
    });
  }
  // full padding of the transposed conv: dil*(k-1) - pad on each side; a larger pad crops instead
  const ph = dil[0] * (kh - 1) - pad;
  const pw = dil[1] * (kw - 1) - pad;
  if (stride !== 1 || ph < 0 || pw < 0) return undefined;
  const rotated = ctx.own(tf.tidy(() => tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as Tensor4D));
  return customUnary<Tensor4D>((x) => ({
    value: tf.conv2d(x, filter, 1, pad, 'NHWC', dil),
    gradFunc: (dy) => {
      return tf.conv2d(tf.pad(dy, [[0, 0], [ph, ph], [pw, pw], [0, 0]]), rotated, 1, 0, 'NHWC', dil);
    },
  }));
}

function compileBatchNorm(n: OnnxNode, ctx: CompileContext): (x: Tensor) => Tensor {
  const ps = n.inputs.slice(1, 5).map((i) => ctx.constant(i));
  if (ps.length !== 4 || ps.some((p) => !p)) fail(ctx, n, 'scale, bias, mean and variance must be constants');
  const [gamma, beta, mean, variance] = ps.map((p) => floats(p!)) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const eps = Math.fround(new Attrs(n).float('epsilon', 1e-5));
  const c = gamma.length;
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    // float32 arithmetic in the order of PyTorch's CPU inference kernel (as models/layers.ts)
    const invstd = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(variance[i]! + eps))));
    const s = Math.fround(invstd * gamma[i]!);
    scale[i] = s;
    shift[i] = Math.fround(beta[i]! - Math.fround(mean[i]! * s));
  }
  const st = ctx.own(tf.tensor1d(scale));
  const sh = ctx.own(tf.tensor1d(shift));
  // the backward pass only scales: nothing of the forward pass is kept for it (as BatchNorm2d)
  const lean = customUnary<Tensor>((v) => ({ value: tf.add(tf.mul(v, st), sh), gradFunc: (dy) => tf.mul(dy, st) }));
  return (x) => {
    if (x.rank !== 4 && x.rank !== 2) fail(ctx, n, `input of rank ${x.rank} is not supported`);
    return lean(x);
  };
}

function poolGeometry(n: OnnxNode, ctx: CompileContext) {
  const a = new Attrs(n);
  const k = a.ints('kernel_shape', []);
  if (k.length !== 2) fail(ctx, n, 'only 2-D pooling is supported');
  if (a.int('ceil_mode', 0) !== 0) fail(ctx, n, 'ceil_mode=1 is not supported');
  if (a.string('auto_pad', 'NOTSET') !== 'NOTSET') fail(ctx, n, 'auto_pad is not supported (export with explicit pads)');
  const d = a.ints('dilations', [1, 1]);
  if (d.some((v) => v !== 1)) fail(ctx, n, 'dilated pooling is not supported');
  const s = a.ints('strides', [1, 1]);
  const p = a.ints('pads', [0, 0, 0, 0]);
  return { kernel: [k[0]!, k[1]!] as [number, number], stride: [s[0] ?? 1, s[1] ?? 1] as [number, number], pads: [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0], countIncludePad: a.int('count_include_pad', 0) };
}

function compileMaxPool(n: OnnxNode, ctx: CompileContext): OnnxMaxPool {
  if (n.outputs.filter(Boolean).length > 1) fail(ctx, n, 'the Indices output is not supported');
  const { kernel, stride, pads } = poolGeometry(n, ctx);
  const sym = symmetricPad(pads);
  const square = kernel[0] === kernel[1] && stride[0] === stride[1] && sym !== undefined;
  const geometry = square ? { size: kernel[0], stride: stride[0], pad: sym } : undefined;
  return {
    name: n.name,
    module: modulePath(n.name) || n.name,
    ...(geometry ? { geometry } : {}),
    // square windows: the project's max-pool (PyTorch's backward routing); otherwise -inf padding
    apply: (x) => (geometry ? maxPool2d(x, geometry) : tf.tidy(() => tf.maxPool(padNhwc(x, pads, -Infinity), kernel, stride, 'valid'))),
  };
}

function compileAvgPool(n: OnnxNode, ctx: CompileContext): (x: Tensor) => Tensor {
  const { kernel, stride, pads, countIncludePad } = poolGeometry(n, ctx);
  const padded = pads.some((v) => v !== 0);
  return (x) =>
    tf.tidy(() => {
      const x4 = x as Tensor4D;
      if (!padded) return tf.avgPool(x4, kernel, stride, 'valid');
      if (countIncludePad) return tf.avgPool(padNhwc(x4, pads), kernel, stride, 'valid');
      // count_include_pad=0: divide each window's sum by its count of real pixels
      const sum = tf.mul(tf.avgPool(padNhwc(x4, pads), kernel, stride, 'valid'), kernel[0] * kernel[1]);
      const ones = tf.ones([1, x4.shape[1], x4.shape[2], 1]) as Tensor4D;
      const count = tf.mul(tf.avgPool(padNhwc(ones, pads), kernel, stride, 'valid'), kernel[0] * kernel[1]);
      return tf.div(sum, count);
    });
}

function compilePad(n: OnnxNode, ctx: CompileContext): (x: Tensor) => Tensor {
  const a = new Attrs(n);
  const mode = a.string('mode', 'constant');
  const padsConst = n.inputs[1] ? ctx.constant(n.inputs[1]) : undefined;
  if (n.inputs[1] && !padsConst) fail(ctx, n, 'pads must be a constant');
  const pads = padsConst ? Array.from(padsConst.data, Number) : a.ints('pads', []);
  const valueConst = n.inputs[2] ? ctx.constant(n.inputs[2]) : undefined;
  if (n.inputs[2] && !valueConst) fail(ctx, n, 'the pad value must be a constant');
  const value = valueConst ? Number(valueConst.data[0] ?? 0) : a.float('value', 0);
  if (n.inputs[3]) fail(ctx, n, 'the axes input is not supported');
  if (pads.some((p) => p < 0)) fail(ctx, n, 'negative pads (cropping) are not supported');
  if (mode !== 'constant' && mode !== 'reflect') fail(ctx, n, `mode "${mode}" is not supported`);
  return (x) => {
    const r = x.rank;
    if (pads.length !== 2 * r) fail(ctx, n, `${pads.length} pads for a tensor of rank ${r}`);
    const pairs: [number, number][] = [];
    for (let ax = 0; ax < r; ax++) {
      const src = r === 4 ? ([0, 2, 3, 1] as const)[ax]! : ax; // NHWC axis ax is NCHW axis src
      pairs.push([pads[src]!, pads[src + r]!]);
    }
    return mode === 'reflect' ? tf.mirrorPad(x, pairs, 'reflect') : tf.pad(x, pairs, value);
  };
}

function compileGemm(n: OnnxNode, ctx: CompileContext): (x: Tensor) => Tensor {
  const a = new Attrs(n);
  const alpha = a.float('alpha', 1);
  const beta = a.float('beta', 1);
  const transA = a.int('transA', 0) === 1;
  const transB = a.int('transB', 0) === 1;
  const b = ctx.constant(n.inputs[1] ?? '');
  if (!b || b.dims.length !== 2) fail(ctx, n, 'B must be a constant matrix');
  const bt = ctx.own(tf.tensor2d(floats(b), b.dims as [number, number]));
  const c = n.inputs[2] ? ctx.constant(n.inputs[2]) : undefined;
  if (n.inputs[2] && !c) fail(ctx, n, 'C must be a constant');
  const ct = c ? ctx.own(tf.tensor(floats(c), c.dims)) : undefined;
  return (x) =>
    tf.tidy(() => {
      if (x.rank !== 2) fail(ctx, n, `A has rank ${x.rank}, Gemm needs a matrix (Flatten first)`);
      let y: Tensor = tf.matMul(x as tf.Tensor2D, bt, transA, transB);
      if (alpha !== 1) y = tf.mul(y, alpha);
      if (ct) y = tf.add(y, beta === 1 ? ct : tf.mul(ct, beta));
      return y;
    });
}

function compileFlatten(n: OnnxNode): (x: Tensor) => Tensor {
  const axis0 = new Attrs(n).int('axis', 1);
  return (x) =>
    tf.tidy(() => {
      const v = x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x; // ONNX order is NCHW
      const axis = axis0 < 0 ? axis0 + v.rank : axis0;
      const lead = v.shape.slice(0, axis).reduce((p, q) => p * q, 1);
      return tf.reshape(v, [lead, v.size / Math.max(lead, 1)]);
    });
}

function compileConcat(n: OnnxNode, ctx: CompileContext): { run(xs: Tensor[]): Tensor; consts: (Tensor | undefined)[] } {
  const axis0 = new Attrs(n).int('axis', 1);
  const constIns = n.inputs.map((i) => ctx.constant(i));
  const owned = constIns.map((c) => (c ? ctx.own(constOperand(c, c.dims.length === 4)) : undefined));
  return {
    consts: owned,
    run: (xs) => {
      let k = 0;
      const all = owned.map((c) => c ?? xs[k++]!);
      const r = all[0]!.rank;
      const axis = axis0 < 0 ? axis0 + r : axis0;
      const tfAxis = r === 4 ? NCHW_TO_NHWC_AXIS[axis]! : axis;
      if (all.length === 1) return tf.clone(all[0]!);
      // channel concatenation (DenseNet): the backward pass is a split of dy, nothing kept
      return r === 4 && tfAxis === 3 && owned.every((c) => !c) ? concatChannels(all as Tensor4D[]) : tf.concat(all, tfAxis);
    },
  };
}

const BINARY: Record<string, (a: Tensor, b: Tensor) => Tensor> = { Add: tf.add, Sub: tf.sub, Mul: tf.mul, Div: tf.div };

function compileBinary(n: OnnxNode, ctx: CompileContext): (xs: Tensor[]) => Tensor {
  const f = BINARY[n.opType]!;
  const [ca, cb] = [ctx.constant(n.inputs[0] ?? ''), ctx.constant(n.inputs[1] ?? '')];
  if (ca && cb) fail(ctx, n, 'both operands constant (constant folding is not supported)');
  const c = ca ?? cb;
  // a constant meets a tensor of unknown rank until run time: prepare both forms
  const as4 = c ? ctx.own(constOperand(c, true)) : undefined;
  const asIs = c ? ctx.own(tf.tensor(floats(c), c.dims)) : undefined;
  return (xs) => {
    if (!c) {
      const [a, b] = xs as [Tensor, Tensor];
      if (a.rank !== b.rank && (a.rank === 4 || b.rank === 4)) fail(ctx, n, `broadcasting rank ${a.rank} against rank ${b.rank} is not supported`);
      // residual additions: keep nothing for the backward pass
      if (n.opType === 'Add' && a.rank === 4 && b.rank === 4) return addSame(a as Tensor4D, b as Tensor4D);
      return f(a, b);
    }
    const x = xs[0]!;
    const k = x.rank === 4 ? as4! : asIs!;
    return ca ? f(k, x) : f(x, k);
  };
}

/** Constant node value (value, value_float(s), value_int(s)). */
function constantValue(n: OnnxNode, ctx: CompileContext): ConstTensor {
  const a = new Attrs(n);
  const t = a.tensor('value');
  if (t) return t;
  const v = n.attrs.get('value_float') ?? n.attrs.get('value_int');
  if (typeof v === 'number') return n.attrs.has('value_float') ? { kind: 'float', dims: [], data: Float32Array.of(v) } : { kind: 'int', dims: [], data: [v] };
  const vs = n.attrs.get('value_floats') ?? n.attrs.get('value_ints');
  if (Array.isArray(vs) && vs.every((x): x is number => typeof x === 'number')) {
    return n.attrs.has('value_floats') ? { kind: 'float', dims: [vs.length], data: Float32Array.from(vs) } : { kind: 'int', dims: [vs.length], data: vs };
  }
  fail(ctx, n, 'only tensor and numeric constants are supported');
}

/** Compiles one node; throws an SdsError naming the op type and node for anything unsupported. */
export function compileNode(n: OnnxNode, ctx: CompileContext): CompiledNode {
  if (n.domain && n.domain !== 'ai.onnx') {
    throw unsupported(ctx.graph.file, `node ${n.name} uses op ${n.domain}.${n.opType}, which sds does not support`, `sds supports these ONNX ops: ${SUPPORTED_OPS.join(', ')}`);
  }
  if (n.opType !== 'Constant' && runtimeInputs(n, ctx).length === 0) {
    // an op on constants only is computed now (shape arithmetic, weight transposes: ops-shape.ts)
    if (hostCan(n.opType)) return foldNode(n, ctx);
    if ((SUPPORTED_OPS as readonly string[]).includes(n.opType)) fail(ctx, n, 'all inputs are constants, and sds folds only shape and elementwise ops');
  }
  const unary = (run: (x: Tensor) => Tensor): CompiledNode => ({ kind: 'op', run: (xs) => run(xs[0]!) });
  switch (n.opType) {
    case 'Constant':
      return { kind: 'const', value: constantValue(n, ctx) };
    case 'Conv':
      return { kind: 'conv', conv: compileConv(n, ctx) };
    case 'Relu':
      return { kind: 'relu' };
    case 'MaxPool':
      return { kind: 'maxPool', pool: compileMaxPool(n, ctx) };
    case 'BatchNormalization':
      if (n.outputs.filter(Boolean).length > 1) fail(ctx, n, 'training-mode outputs are not supported');
      return unary(compileBatchNorm(n, ctx));
    case 'Sigmoid':
      return unary((x) => tf.sigmoid(x));
    case 'HardSigmoid': {
      const a = new Attrs(n);
      const alpha = a.float('alpha', 0.2);
      const beta = a.float('beta', 0.5);
      return unary((x) => tf.tidy(() => tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1)));
    }
    case 'Identity':
      return unary((x) => tf.clone(x));
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return withHost(n, ctx, liftRanks(compileBinary(n, ctx)));
    case 'Concat':
      return withHost(n, ctx, compileConcat(n, ctx).run);
    case 'Gemm':
      return unary(compileGemm(n, ctx));
    case 'Flatten':
      return unary(compileFlatten(n));
    case 'GlobalAveragePool':
      return unary((x) => {
        if (x.rank !== 4) fail(ctx, n, `input of rank ${x.rank} is not supported`);
        return tf.mean(x, [1, 2], true);
      });
    case 'AveragePool':
      return unary(compileAvgPool(n, ctx));
    case 'Pad':
      return unary(compilePad(n, ctx));
    case 'Clip':
      return compileClip(n, ctx);
    case 'HardSwish':
      return compileHardSwish();
    case 'LeakyRelu':
      return compileLeakyRelu(n);
    case 'Tanh':
    case 'Neg':
    case 'Abs':
    case 'Sqrt':
    case 'Reciprocal':
    case 'Floor':
    case 'Ceil':
    case 'Exp':
    case 'Log':
    case 'Erf':
      return compileUnary(n, ctx);
    case 'Pow':
      return compilePow(n, ctx);
    case 'Softmax':
    case 'LogSoftmax':
      return compileSoftmax(n, ctx);
    case 'Dropout':
      return compileDropout(n, ctx);
    case 'MatMul':
      return compileMatMul(n, ctx);
    case 'ReduceMean':
    case 'ReduceSum':
      return compileReduce(n, ctx);
    case 'Resize':
    case 'Upsample':
      return compileResize(n, ctx);
    case 'Shape':
      return compileShape(n, ctx);
    case 'Size':
      return withHost(n, ctx, (xs) => tf.scalar(xs[0]!.size, 'int32'));
    case 'Cast':
      return compileCast(n, ctx);
    case 'Reshape':
      return compileReshape(n, ctx);
    case 'Transpose':
      return compileTranspose(n, ctx);
    case 'Squeeze':
    case 'Unsqueeze':
      return compileSqueeze(n, ctx, n.opType === 'Unsqueeze');
    case 'Gather':
      return compileGather(n, ctx);
    case 'Slice':
      return compileSlice(n, ctx);
    case 'ConstantOfShape':
      return compileConstantOfShape(n, ctx);
    case 'Expand':
      return compileExpand(n, ctx);
    // integer shape arithmetic (Where/Equal in expand patterns, Range, Min/Max of sizes): host only
    case 'Equal':
    case 'Less':
    case 'LessOrEqual':
    case 'Greater':
    case 'GreaterOrEqual':
    case 'Not':
    case 'And':
    case 'Or':
    case 'Where':
    case 'Range':
    case 'Min':
    case 'Max':
      return withHost(n, ctx);
    default:
      throw unsupported(ctx.graph.file, `node ${n.name} uses op ${n.opType}, which sds does not support`, `sds supports these ONNX ops: ${SUPPORTED_OPS.join(', ')}`);
  }
}

export { relu as reluOp };
