/**
 * Attribution at layers (SPEC 6), Captum-shaped: a method object is built from a model (any
 * Model, e.g. a VariantModel) and `attribute(x, options)` returns one tensor per requested layer,
 * shaped like the layer (NHWC inside).
 */
import { SdsError } from '../core/errors.js';
import { DEFAULT_IG_STEPS, type MethodName } from '../contracts/index.js';
import { tf, withKept, type ForwardHooks, type KeptTensors, type Model, type Tensor, type Tensor4D } from '../models/index.js';
import { composeHooks } from './compose.js';
import { deepliftRelu } from './deeplift-rules.js';
import { igSteps, type IgRule } from './quadrature.js';
import { checkTargets, defaultTargets, targetScalar } from './targets.js';

export { METHODS, isMethod, type MethodName } from '../contracts/index.js';

export interface AttributeOptions {
  layers: readonly string[];
  /** Per image (or one for all); default SPEC 5. */
  targets?: readonly number[];
  /** Integrated Gradients: number of steps (default 50) and rule (default Gauss-Legendre). */
  steps?: number;
  rule?: IgRule;
  /** Integrated Gradients: interpolation points per backward pass (default 16 images' worth). */
  internalBatchSize?: number;
}

export interface AttributionResult {
  /** layer -> attribution (N,h,w,C); GradCAM: (N,h,w,1). The caller disposes them. */
  attributions: Map<string, Tensor4D>;
  targets: number[];
}

export interface AttributionMethod {
  readonly name: MethodName;
  attribute(x: Tensor4D, options: AttributeOptions): Promise<AttributionResult>;
}

/** What can be checked before any pass: a bad layer or given target fails fast, having kept nothing. */
function checkOptions(model: Model, x: Tensor4D, o: AttributeOptions): void {
  checkLayers(model, o.layers);
  if (o.targets?.length) checkTargets(model, o.targets, x.shape[0] as number);
}

export function checkLayers(model: Model, layers: readonly string[]): void {
  if (!layers.length) throw new SdsError('BAD_ARGUMENT', 'no layer given', { suggestion: `use one or more of: ${model.layerNames.join(', ')}` });
  for (const l of layers) {
    if (!model.layerNames.includes(l)) {
      throw new SdsError('BAD_ARGUMENT', `unknown layer "${l}" for ${model.arch}`, { suggestion: `use one of: ${model.layerNames.join(', ')}` });
    }
  }
}

/** One forward pass without a tape: the requested layers' outputs (held by `kept`) and the targets. */
function forwardRecording(kept: KeptTensors, model: Model, x: Tensor4D, layers: readonly string[], targets?: readonly number[], hooks: ForwardHooks = {}) {
  const acts = new Map<string, Tensor4D>();
  const want = new Set(layers);
  let resolved: number[] = [];
  tf.tidy(() => {
    const out = model.forward(
      x,
      composeHooks(hooks, {
        layer: (name, y) => {
          if (want.has(name)) acts.set(name, kept.keep(tf.clone(y)));
          return y;
        },
      }),
    );
    resolved = targets?.length ? [...targets] : defaultTargets(model, out);
  });
  checkTargets(model, resolved, x.shape[0] as number);
  return { acts, targets: resolved };
}

/** Layer output shapes for an input size, from one 1-image pass (cached per model and size). */
const shapeCache = new WeakMap<Model, Map<string, Map<string, number[]>>>();

export function layerShapes(model: Model, x: Tensor4D, layers: readonly string[]): Map<string, number[]> {
  const [n, h, w, c] = x.shape;
  const key = `${h}x${w}x${c}`;
  let byModel = shapeCache.get(model);
  if (!byModel) shapeCache.set(model, (byModel = new Map()));
  let shapes = byModel.get(key);
  if (!shapes || layers.some((l) => !shapes!.has(l))) {
    shapes = new Map(shapes);
    const found = shapes;
    // one pass to the last layer, reading every layer's shape on the way (a pass per layer would
    // run the stem a dozen times and, inside one tidy, hold all of it at once)
    tf.tidy(() => {
      const one = tf.zeros([1, h, w, c]) as Tensor4D;
      const last = model.layerNames.at(-1)!;
      const y = model.forwardTo(last, one, {
        layer: (name, v) => {
          found.set(name, v.shape.slice(1));
          return v;
        },
      });
      found.set(last, y.shape.slice(1));
      if (model.layerNames.includes('input')) found.set('input', [h, w, c]);
    });
    byModel.set(key, shapes);
  }
  return new Map(layers.map((l) => [l, [n, ...shapes!.get(l)!]]));
}

/**
 * d target / d layer for several layers from ONE forward and ONE backward pass: a zero probe is
 * added to each layer's output, so the gradient w.r.t. the probe is the gradient at the layer,
 * and gradients still flow through it to the layers below. Default targets come from the same
 * pass's output; with `keepActs` the layers' outputs are kept too. Gradients and outputs are held
 * by `kept`; the probes and the pass's start are freed before it returns.
 */
function gradientsAtLayers(kept: KeptTensors, model: Model, x: Tensor4D, layers: readonly string[], given: readonly number[] | undefined, hooks: ForwardHooks = {}, keepActs = false) {
  // Nothing below the lowest explained layer needs a gradient: it runs once, off the tape, and
  // the backward pass starts there (the tape, and its copies of saved tensors, only covers what
  // lies above). The lowest layer's gradient is the gradient with respect to its value.
  prepareBackward(model);
  const order = new Map(model.layerNames.map((l, i) => [l, i]));
  const lowest = [...layers].sort((a, b) => order.get(a)! - order.get(b)!)[0]!;
  return withKept((local) => {
    const start = lowest === 'input' ? undefined : local.hold(model.prepareFrom(lowest, x, hooks));
    const above = layers.filter((l) => l !== lowest || !start);
    const shapes = layerShapes(model, x, above);
    const probes = above.map((l) => local.hold(tf.zeros(shapes.get(l)! as [number, number, number, number]))); // (n,h,w,c)
    const acts = new Map<string, Tensor4D>();
    let targets: number[] = given?.length ? [...given] : [];
    const index = new Map(above.map((l, i) => [l, i]));
    const probing: ForwardHooks = {
      layer: (name, y) => {
        const i = index.get(name);
        if (i === undefined) return y;
        if (keepActs) acts.set(name, kept.keep(tf.clone(y)));
        return tf.add(y, probes[i]!);
      },
    };
    const scalar = (out: Tensor) => {
      if (!targets.length) targets = defaultTargets(model, out);
      checkTargets(model, targets, x.shape[0] as number);
      return targetScalar(model, out, targets);
    };
    let grads: Tensor4D[];
    if (start) {
      if (keepActs) acts.set(lowest, kept.keep(tf.clone(start.value)));
      // tf.grads hands f the very tensors it differentiates: the hooks add `probes` themselves
      grads = tf.grads((v: Tensor) => scalar(start.run(v as Tensor4D, composeHooks(hooks, probing))))([start.value, ...probes]) as Tensor4D[];
      return { grads: new Map([lowest, ...above].map((l, i) => [l, kept.hold(grads[i]!)])), acts, targets };
    }
    grads = tf.grads(() => scalar(model.forward(x, composeHooks(hooks, probing))))(probes) as Tensor4D[];
    return { grads: new Map(above.map((l, i) => [l, kept.hold(grads[i]!)])), acts, targets };
  });
}

/** The convolutions' cached backward filters, made before any large activation exists. */
export function prepareBackward(model: Model): void {
  for (const c of model.convs.values()) c.prepareBackward();
}

export class LayerGradient implements AttributionMethod {
  readonly name = 'grad' as const;
  constructor(readonly model: Model) {}

  async attribute(x: Tensor4D, o: AttributeOptions): Promise<AttributionResult> {
    checkOptions(this.model, x, o);
    return withKept((kept) => {
      const { grads, targets } = gradientsAtLayers(kept, this.model, x, o.layers, o.targets);
      return { attributions: kept.releaseAll(grads), targets };
    });
  }
}

export class LayerGradCam implements AttributionMethod {
  readonly name = 'gradcam' as const;
  constructor(readonly model: Model) {}

  async attribute(x: Tensor4D, o: AttributeOptions): Promise<AttributionResult> {
    checkOptions(this.model, x, o);
    return withKept((kept) => {
      const { grads, acts, targets } = gradientsAtLayers(kept, this.model, x, o.layers, o.targets, {}, true);
      const attributions = new Map<string, Tensor4D>();
      for (const l of o.layers) {
        // sum_c mean_hw(grad_c) * act_c, no ReLU (Captum's default)
        attributions.set(l, kept.hold(tf.tidy(() => tf.sum(tf.mul(tf.mean(grads.get(l)!, [1, 2], true), acts.get(l)!), 3, true) as Tensor4D)));
      }
      return { attributions: kept.releaseAll(attributions), targets };
    });
  }
}

/** Baseline: the all-zero normalized input. */
function zeroBaseline(x: Tensor4D): Tensor4D {
  return tf.zerosLike(x);
}

/** DeepLift's Rescale rule covers ReLU networks only (SPEC 6); other nonlinearities are refused by name. */
export function checkDeepLift(model: Model): void {
  if (!model.deepLiftObstacle) return;
  throw new SdsError('BAD_ARGUMENT', `DeepLift (Rescale) needs a network whose only nonlinearities are ReLUs; ${model.arch === 'onnx' ? 'this model' : model.arch} has ${model.deepLiftObstacle}`, {
    suggestion: 'use grad, ig or gradcam for this model',
  });
}

export class LayerDeepLift implements AttributionMethod {
  readonly name = 'deeplift' as const;
  constructor(readonly model: Model) {}

  async attribute(x: Tensor4D, o: AttributeOptions): Promise<AttributionResult> {
    checkOptions(this.model, x, o);
    checkDeepLift(this.model);
    return withKept((kept) => {
      const x0 = kept.hold(zeroBaseline(x));
      // Baseline pass: every ReLU's and max-pool's input, for the Rescale multipliers.
      const reluIn = new Map<string, Tensor>();
      const record: ForwardHooks = {
        relu: (name, v) => {
          reluIn.set(name, kept.keep(tf.clone(v)));
          return tf.relu(v);
        },
      };
      const base = forwardRecording(kept, this.model, x0, o.layers, [0], record);
      const rules: ForwardHooks = {
        relu: (name, v) => deepliftRelu(v, reluIn.get(name)!),
        // Max-pool keeps its ordinary gradient, as the reference does: in Captum the pool's rule
        // is applied after the preceding ReLU's hook has already captured the ordinary pool
        // gradient (both hook the same tensor), and the ReLU rule only uses that captured value.
        // Every supported model has its max-pool right after a ReLU (the ResNet stem).
      };
      const { grads, acts, targets } = gradientsAtLayers(kept, this.model, x, o.layers, o.targets, rules, true);
      const attributions = new Map<string, Tensor4D>();
      for (const l of o.layers) attributions.set(l, kept.hold(tf.tidy(() => tf.mul(grads.get(l)!, tf.sub(acts.get(l)!, base.acts.get(l)!)))));
      return { attributions: kept.releaseAll(attributions), targets };
    });
  }
}

export class LayerIntegratedGradients implements AttributionMethod {
  readonly name = 'ig' as const;
  constructor(readonly model: Model) {}

  async attribute(x: Tensor4D, o: AttributeOptions): Promise<AttributionResult> {
    checkOptions(this.model, x, o);
    const steps = o.steps ?? DEFAULT_IG_STEPS;
    if (!Number.isInteger(steps) || steps < 1 || steps > 10000) throw new SdsError('BAD_ARGUMENT', `--steps must be 1..10000, got ${steps}`);
    const { alphas, weights } = igSteps(steps, o.rule ?? 'gausslegendre');
    prepareBackward(this.model);
    const n = x.shape[0];
    return withKept((kept) => {
      const x0 = kept.hold(zeroBaseline(x));
      const base = forwardRecording(kept, this.model, x0, o.layers, [0]);
      const { acts, targets } = forwardRecording(kept, this.model, x, o.layers, o.targets);
      kept.drop(x0);
      const perPass = Math.max(1, Math.floor((o.internalBatchSize ?? 16) / n));
      const attributions = new Map<string, Tensor4D>();
      for (const layer of o.layers) {
        // per layer: its delta, running total and pass start go before the next layer's are made
        const attribution = withKept((mine) => {
          const a = acts.get(layer)!;
          const a0 = base.acts.get(layer)!;
          const delta = mine.hold(tf.sub(a, a0) as Tensor4D);
          // Only the network above the layer runs per step (Captum re-runs the whole model).
          const start = mine.hold(this.model.prepareFrom(layer, x));
          let total = mine.hold(tf.zerosLike(a) as Tensor4D);
          for (let s = 0; s < steps; s += perPass) {
            const m = Math.min(perPass, steps - s);
            const next = tf.tidy(() => {
              // step-major batch: [a0 + t_k * delta for k in this chunk], each N images
              const points = tf.concat(alphas.slice(s, s + m).map((t) => tf.add(a0, tf.mul(delta, t)))) as Tensor4D;
              const ts = Array.from({ length: m }, () => targets).flat();
              const g = tf.grad((p: Tensor) => targetScalar(this.model, start.run(p as Tensor4D), ts))(points) as Tensor4D;
              let acc: Tensor4D = total;
              for (let k = 0; k < m; k++) acc = tf.add(acc, tf.mul(tf.slice(g, [k * n, 0, 0, 0], [n, -1, -1, -1]), weights[s + k]!));
              return acc;
            });
            mine.drop(total);
            total = mine.hold(next);
          }
          return tf.tidy(() => tf.mul(total, delta) as Tensor4D);
        });
        attributions.set(layer, kept.hold(attribution));
      }
      return { attributions: kept.releaseAll(attributions), targets };
    });
  }
}

export function createMethod(name: MethodName, model: Model): AttributionMethod {
  switch (name) {
    case 'grad':
      return new LayerGradient(model);
    case 'deeplift':
      return new LayerDeepLift(model);
    case 'ig':
      return new LayerIntegratedGradients(model);
    case 'gradcam':
      return new LayerGradCam(model);
  }
}

