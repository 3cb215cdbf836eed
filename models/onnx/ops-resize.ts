/**
 * Resize (opset 10-13+) and Upsample (opset 7-9) on NHWC tensors, 2-D (H and W; N and C unscaled).
 * F.interpolate exports nearest as asymmetric + floor, bilinear as half_pixel (align_corners=False)
 * or align_corners; sizes come from `sizes` (often computed from a skip's Shape at run time) or
 * `scales`. Each axis is a matrix (out x in) of interpolation weights built on the host with
 * PyTorch's float32 source-index arithmetic, applied with a matrix product: exact for every mode,
 * and its gradient is the transposed product (the engine's resize gradients ignore half-pixel
 * centers). Whole-number nearest upsampling (x2, the U-Net case) repeats blocks instead.
 */
import { customUnary, tf, type Tensor, type Tensor4D } from '../tf.js';
import { Attrs, type OnnxNode } from './graph.js';
import { bindInputs, checkElements, isNhwc, nodeError, numbersOf, type OpContext, type OpNode, type Value } from './values.js';

type Coord = 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric' | 'tf_half_pixel_for_nn';
const COORDS: readonly string[] = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];
const NEAREST = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const;
type NearestMode = (typeof NEAREST)[number];

interface Plan {
  linear: boolean;
  coord: Coord;
  nearest: NearestMode;
  /** Input slots of scales and sizes (-1: none). */
  scalesAt: number;
  sizesAt: number;
  /** Upsample-7/8: scales as an attribute. */
  scalesAttr?: number[];
}

function plan(n: OnnxNode, ctx: OpContext): Plan {
  const a = new Attrs(n);
  const fail = (what: string): never => {
    throw nodeError(ctx.graph.file, n, what);
  };
  const mode = a.string('mode', 'nearest');
  if (mode === 'cubic') return fail('bicubic resizing is not supported (use bilinear or nearest)');
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'bilinear') return fail(`mode "${mode}" is not supported`);
  const linear = mode !== 'nearest';
  // before opset 11 (Upsample, Resize-10) the only coordinate mapping is asymmetric, nearest by floor
  if (n.opType === 'Upsample' || ctx.graph.opset < 11) {
    const scalesAttr = a.has('scales') ? a.ints('scales', []) : undefined;
    return { linear, coord: 'asymmetric', nearest: 'floor', scalesAt: scalesAttr ? -1 : 1, sizesAt: -1, ...(scalesAttr ? { scalesAttr } : {}) };
  }
  const coord = a.string('coordinate_transformation_mode', 'half_pixel');
  if (!COORDS.includes(coord)) return fail(`coordinate_transformation_mode "${coord}" is not supported`);
  const nearest = a.string('nearest_mode', 'round_prefer_floor');
  if (!(NEAREST as readonly string[]).includes(nearest)) return fail(`nearest_mode "${nearest}" is not supported`);
  if (a.has('axes') || a.int('antialias', 0) !== 0) return fail('the axes and antialias attributes are not supported');
  if (a.string('keep_aspect_ratio_policy', 'stretch') !== 'stretch') return fail('keep_aspect_ratio_policy is not supported');
  return { linear, coord: coord as Coord, nearest: nearest as NearestMode, scalesAt: 2, sizesAt: 3 };
}

/** Source coordinate of output `o` (PyTorch's float32 arithmetic). `ratio` is in/out (sizes) or 1/scale. */
function sourceCoord(o: number, inSize: number, outSize: number, ratio: number, p: Plan): number {
  const f = Math.fround;
  switch (p.coord) {
    case 'asymmetric':
      return f(f(o) * ratio);
    case 'half_pixel':
      return f(f(ratio * f(o + 0.5)) - 0.5);
    case 'pytorch_half_pixel':
      return outSize > 1 ? f(f(ratio * f(o + 0.5)) - 0.5) : 0;
    case 'align_corners':
      return outSize > 1 ? f(f(o) * f((inSize - 1) / (outSize - 1))) : 0;
    case 'tf_half_pixel_for_nn':
      return f(ratio * f(o + 0.5));
  }
}

function roundNearest(x: number, m: NearestMode): number {
  switch (m) {
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'round_prefer_floor':
      return x - Math.floor(x) === 0.5 ? Math.floor(x) : Math.round(x);
    case 'round_prefer_ceil':
      return Math.floor(x + 0.5);
  }
}

/** The (out x in) weights of one axis; `identity` when it maps each pixel to itself. */
function axisMatrix(inSize: number, outSize: number, ratio: number, p: Plan): { m: Float32Array; identity: boolean; nearestFactor?: number } {
  const m = new Float32Array(outSize * inSize);
  const clamp = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  let identity = inSize === outSize;
  let factor: number | undefined = !p.linear && outSize % inSize === 0 ? outSize / inSize : undefined;
  for (let o = 0; o < outSize; o++) {
    const x = sourceCoord(o, inSize, outSize, ratio, p);
    if (!p.linear) {
      const i = clamp(roundNearest(x, p.nearest));
      m[o * inSize + i] = 1;
      if (i !== o) identity = false;
      if (factor !== undefined && i !== Math.floor(o / factor)) factor = undefined;
      continue;
    }
    const i0 = Math.floor(x);
    const l = Math.fround(x - i0);
    m[o * inSize + clamp(i0)]! += 1 - l;
    m[o * inSize + clamp(i0 + 1)]! += l;
    if (clamp(i0) !== o || l !== 0) identity = false;
  }
  return { m, identity, ...(factor !== undefined ? { nearestFactor: factor } : {}) };
}

/** Whole-number nearest upsampling: each pixel repeated (kh x kw); the gradient sums each block. */
function repeatBlocks(kh: number, kw: number): (x: Tensor4D) => Tensor4D {
  return customUnary<Tensor4D>((x) => {
    const [n, h, w, c] = x.shape;
    return {
      value: tf.tidy(() => tf.reshape(tf.tile(tf.reshape(x, [n, h, 1, w, 1, c]), [1, 1, kh, 1, kw, 1]), [n, h * kh, w * kw, c]) as Tensor4D),
      gradFunc: (dy) => tf.sum(tf.reshape(dy, [n, h, kh, w, kw, c]), [2, 4]),
    };
  });
}

/** Applies an (out x in) matrix along NHWC axis 1 (H) or 2 (W). */
function alongAxis(x: Tensor4D, axis: 1 | 2, m: Float32Array, out: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  const size = axis === 1 ? h : w;
  const mat = tf.tensor3d(m, [1, out, size]);
  if (axis === 1) return tf.reshape(tf.matMul(mat, tf.reshape(x, [n, h, w * c])), [n, out, w, c]) as Tensor4D;
  return tf.reshape(tf.matMul(mat, tf.reshape(x, [n * h, w, c])), [n, h, out, c]) as Tensor4D;
}

export function compileResize(n: OnnxNode, ctx: OpContext): OpNode {
  const p = plan(n, ctx);
  const bind = bindInputs(n, ctx);
  const file = ctx.graph.file;
  const fail = (what: string): never => {
    throw nodeError(file, n, what);
  };
  const present = (v: Value): number[] | undefined => {
    const nums = v === undefined ? undefined : numbersOf(v);
    return nums && nums.length > 0 ? nums : undefined;
  };
  return {
    kind: 'op',
    run: (xs) =>
      tf.tidy(() => {
        const vs = bind(xs);
        const x = vs[0];
        if (!(x instanceof tf.Tensor) || !isNhwc(x)) return fail('only 4-D (N, C, H, W) float inputs are supported');
        const [nb, h, w, c] = (x as Tensor).shape as [number, number, number, number];
        const inDims = [nb, c, h, w];
        const sizes = p.sizesAt >= 0 ? present(vs[p.sizesAt]) : undefined;
        const scales = p.scalesAttr ?? (p.scalesAt >= 0 && !sizes ? present(vs[p.scalesAt]) : undefined);
        if (!sizes && !scales) return fail('neither scales nor sizes is given');
        const list = (sizes ?? scales)!;
        if (list.length !== 4) return fail(`${sizes ? 'sizes' : 'scales'} has ${list.length} entries; sds resizes 4-D tensors (N, C, H, W)`);
        if (sizes ? sizes[0] !== nb || sizes[1] !== c : scales![0] !== 1 || scales![1] !== 1) return fail('only H and W may be resized');
        const outDims = inDims.map((d, i) => (sizes ? sizes[i]! : Math.floor(d * scales![i]!)));
        checkElements(file, n, outDims, 'valueElements');
        let y = x as Tensor4D;
        const axes: { m: ReturnType<typeof axisMatrix>; out: number }[] = [];
        for (const i of [2, 3]) {
          const [inS, outS] = [inDims[i]!, outDims[i]!];
          if (outS < 1) return fail(`an output size of ${outS}`);
          checkElements(file, n, [outS, inS], 'valueElements');
          const ratio = Math.fround(sizes ? inS / outS : 1 / scales![i]!);
          axes.push({ m: axisMatrix(inS, outS, ratio, p), out: outS });
        }
        const [ah, aw] = axes as [(typeof axes)[0], (typeof axes)[0]];
        const fh = ah.m.identity ? 1 : ah.m.nearestFactor;
        const fw = aw.m.identity ? 1 : aw.m.nearestFactor;
        if (fh !== undefined && fw !== undefined) return fh === 1 && fw === 1 ? tf.clone(y) : repeatBlocks(fh, fw)(y);
        if (!ah.m.identity) y = alongAxis(y, 1, ah.m.m, ah.out);
        if (!aw.m.identity) y = alongAxis(y, 2, aw.m.m, aw.out);
        return y === x ? tf.clone(y) : y;
      }),
  };
}
