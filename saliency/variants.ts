/**
 * The three smoothing variants of SPEC 3, as wrappers around any Model: the model code is not
 * forked, its hook points get different conv behaviour.
 */
import { SdsError } from '../core/errors.js';
import type { Variant } from '../contracts/index.js';
import { Conv2d, tf, type ForwardHooks, type HookConv, type LayerStart, type Model, type Tensor, type Tensor4D } from '../models/index.js';
import { ParamBinder } from '../models/params.js';
import { resizeBilinear } from '../models/layers.js';
import { customUnary } from '../models/tf.js';
import type { StateDict } from '../models/weights/types.js';
import { composeHooks } from './compose.js';
import { roll, rollAverage, ROLLS } from './roll.js';

export { VARIANTS, isVariant, type Variant } from '../contracts/index.js';

/** Identity forward; the backward replaces the gradient by its roll average. */
const smoothGradient = customUnary<Tensor4D>((x) => ({
  value: tf.clone(x),
  gradFunc: (dy) => rollAverage(dy),
}));

/** backward-hook: at every hook point (stem too) the gradient sent to the conv's input is roll-averaged. */
export function backwardHookHooks(model: Model): ForwardHooks {
  const points = new Set(model.hookPoints);
  return { conv: (conv, x, apply) => apply(points.has(conv.name) ? smoothGradient(x) : x) };
}

/**
 * backward-hook's smoothing, switched per walk of a shared tape (saliency/shared.ts): the same
 * identity op at every hook point, whose gradient is roll-averaged while `rule.smooth` is set and
 * passed on unchanged otherwise (the original variant's gradient).
 */
export function switchableBackwardHook(model: Model, rule: { readonly smooth: boolean }): ForwardHooks {
  const points = new Set(model.hookPoints);
  const op = customUnary<Tensor4D>((x) => ({ value: tf.clone(x), gradFunc: (dy) => (rule.smooth ? rollAverage(dy) : tf.clone(dy)) }));
  return { conv: (conv, x, apply) => apply(points.has(conv.name) ? op(x) : x) };
}

/** forward-hook: every hook point but the stem outputs the mean of the conv over the four rolled inputs. */
export function forwardHookHooks(model: Model): ForwardHooks {
  const points = new Set(model.hookPoints.slice(1));
  return {
    conv: (conv, x, apply) => (points.has(conv.name) ? tf.div(tf.addN(ROLLS.map(([dh, dw]) => apply(roll(x, dh, dw)))), 4) : apply(x)),
  };
}

/** conv_one (3x3) -> bilinear resize to the conv's output size -> conv_two (3x3), per hook point. */
export class SurrogatePath {
  constructor(
    readonly name: string,
    readonly convOne: Conv2d,
    readonly convTwo: Conv2d,
    private readonly target: HookConv,
  ) {}

  apply(x: Tensor4D): Tensor4D {
    const [, h, w] = x.shape;
    const y = this.convOne.apply(x);
    const r = resizeBilinear(y, this.target.outSize(h, 0), this.target.outSize(w, 1));
    return this.convTwo.apply(r);
  }
}

/** The surrogate paths of one model (all hook points but the stem), owning their tensors. */
export class SurrogatePaths {
  readonly paths: ReadonlyMap<string, SurrogatePath>;

  private constructor(
    paths: SurrogatePath[],
    private readonly binder: ParamBinder,
  ) {
    this.paths = new Map(paths.map((p) => [p.name, p]));
  }

  /** Binds `<hook point>.conv_one.weight|bias`, `.conv_two.weight|bias`; lists every key problem. */
  static fromStateDict(model: Model, sd: StateDict, source: string, options: { init?: (key: string, shape: readonly number[]) => Float32Array; trainable?: boolean } = {}): SurrogatePaths {
    const { init, trainable } = options;
    const binder = new ParamBinder(sd, source, `${model.arch} surrogate paths`, init);
    const paths = model.hookPoints.slice(1).map((name) => {
      const conv = model.convs.get(name)!;
      const one = new Conv2d(binder, `${name}.conv_one`, { inChannels: conv.inChannels, outChannels: conv.outChannels, kernel: 3, padding: 1, bias: true, trainable });
      const two = new Conv2d(binder, `${name}.conv_two`, { inChannels: conv.outChannels, outChannels: conv.outChannels, kernel: 3, padding: 1, bias: true, trainable });
      return new SurrogatePath(name, one, two, conv);
    });
    binder.finish();
    return new SurrogatePaths(paths, binder);
  }

  hooks(): ForwardHooks {
    return { conv: (conv, x, apply) => this.paths.get(conv.name)?.apply(x) ?? apply(x) };
  }

  /** Trainable parameter tensors by state_dict name (weights HWIO inside). */
  parameters(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const p of this.paths.values())
      for (const c of [p.convOne, p.convTwo]) {
        out.set(`${c.name}.weight`, c.weight);
        out.set(`${c.name}.bias`, c.bias!);
      }
    return out;
  }

  /** The paths' weights in PyTorch layout (OIHW), named as the reference names them. */
  async toStateDict(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, t] of this.parameters()) out.set(name, await toTorchLayout(t));
    return out;
  }

  dispose(): void {
    this.binder.dispose();
  }
}

/** HWIO conv weights -> OIHW; vectors as they are. */
export async function toTorchLayout(t: Tensor): Promise<{ shape: number[]; data: Float32Array }> {
  const data = (await t.data()) as Float32Array;
  if (t.rank !== 4) return { shape: [...t.shape], data: Float32Array.from(data) };
  const [kh, kw, ci, co] = t.shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o]!;
  return { shape: [co, ci, kh, kw], data: out };
}

/**
 * A model seen through a variant: same weights, same layer names, hook points behaving per SPEC 3.
 * Methods treat it like any Model.
 */
export class VariantModel implements Model {
  readonly arch;
  readonly kind;
  readonly numClasses;
  readonly normalization;
  readonly layerNames;
  readonly hookPoints;
  readonly convs;
  readonly deepLiftObstacle;
  private readonly hooks: ForwardHooks;

  constructor(
    readonly base: Model,
    readonly variant: Variant,
    surrogate?: SurrogatePaths,
  ) {
    this.arch = base.arch;
    this.kind = base.kind;
    this.numClasses = base.numClasses;
    this.normalization = base.normalization;
    this.layerNames = base.layerNames;
    this.hookPoints = base.hookPoints;
    this.convs = base.convs;
    this.deepLiftObstacle = base.deepLiftObstacle;
    // a model whose only hook point is the stem has no surrogate path: the variant is the original
    if (variant === 'surrogate' && !surrogate && base.hookPoints.length > 1) {
      throw new SdsError('BAD_ARGUMENT', 'the surrogate variant needs trained surrogate paths', {
        suggestion: 'pass --surrogate PATHS.safetensors (made by `sds train-surrogate`)',
      });
    }
    this.hooks =
      variant === 'backward-hook' ? backwardHookHooks(base) : variant === 'forward-hook' ? forwardHookHooks(base) : variant === 'surrogate' ? (surrogate?.hooks() ?? {}) : {};
  }

  forward(x: Tensor4D, hooks?: ForwardHooks): Tensor {
    return this.base.forward(x, composeHooks(this.hooks, hooks));
  }

  forwardTo(layer: string, x: Tensor4D, hooks?: ForwardHooks): Tensor4D {
    return this.base.forwardTo(layer, x, composeHooks(this.hooks, hooks));
  }

  prepareFrom(layer: string, x: Tensor4D, hooks?: ForwardHooks): LayerStart {
    const start = this.base.prepareFrom(layer, x, composeHooks(this.hooks, hooks));
    return { value: start.value, run: (value, h) => start.run(value, composeHooks(this.hooks, h)), dispose: () => start.dispose() };
  }

  /** The base model owns the weights; the caller disposes it (and the surrogate paths). */
  dispose(): void {}
}

