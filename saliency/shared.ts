/**
 * Grad, DeepLift and GradCAM for every variant that shares a forward pass, from ONE forward pass
 * per batch (issue #18). `original` and `backward-hook` compute the same forward values (the hook
 * only changes the gradient at the stride-2 convs); grad and DeepLift compute the same forward
 * values too (DeepLift's Rescale rule only changes the ReLUs' gradient); GradCAM is grad's
 * gradient times the layer. So the forward pass runs once on the tape and the tape is walked once
 * per (variant, backward rule) (models/tape.ts), each walk with every layer at once. Each result is
 * what `createMethod(method, variantModel).attribute` gives, bit for bit (test/saliency/shared.test.ts).
 *
 * DeepLift's baseline (the all-zero input) is the same image for every patch: its ReLU inputs and
 * layer outputs are computed once per model and patch size, for one image, and kept (bounded by
 * `BASELINE_CACHE_BYTES`); the Rescale rule broadcasts them over the batch.
 */
import { SdsError } from '../core/errors.js';
import type { Variant } from '../contracts/index.js';
import { tf, type Disposable, type ForwardHooks, type Model, type Tensor, type Tensor4D } from '../models/index.js';
import { walkTapeRepeatedly } from '../models/tape.js';
import { composeHooks } from './compose.js';
import { switchableRelu } from './deeplift-rules.js';
import { checkDeepLift, checkLayers, layerShapes, prepareBackward } from './methods.js';
import { checkTargets, defaultTargets, targetScalar } from './targets.js';
import { switchableBackwardHook } from './variants.js';

/** The methods one forward pass serves (IG needs its own passes along the path). */
export const SHARED_METHODS = ['grad', 'deeplift', 'gradcam'] as const;
export type SharedMethod = (typeof SHARED_METHODS)[number];

/**
 * The variants that share a forward pass, grouped in order of first appearance: `original` and
 * `backward-hook` together, each other variant on its own (its convs compute other values).
 */
export function forwardGroups(variants: readonly Variant[]): Variant[][] {
  const groups: Variant[][] = [];
  let plain: Variant[] | undefined;
  for (const v of variants) {
    if (v === 'original' || v === 'backward-hook') {
      if (!plain) groups.push((plain = []));
      if (!plain.includes(v)) plain.push(v);
    } else if (!groups.some((g) => g.includes(v))) groups.push([v]);
  }
  return groups;
}

export interface SharedOptions {
  layers: readonly string[];
  /** per image (or one for all); default SPEC 5 from the shared forward pass */
  targets?: readonly number[];
  /** applied to each attribution as soon as it exists (e.g. the channel mean for whole-slide maps); its input is disposed */
  reduce?: (a: Tensor4D) => Tensor4D;
  /** also return the forward pass's output (the model's own logits when the group is original/backward-hook) */
  logits?: boolean;
}

export interface SharedResult {
  /** `variant` -> `method` -> layer -> attribution (N,h,w,C), GradCAM (N,h,w,1); after `reduce` when given. The caller disposes them. */
  attributions: Map<Variant, Map<SharedMethod, Map<string, Tensor4D>>>;
  targets: number[];
  logits?: Tensor;
}

/**
 * Explains `x` for every variant in `variants` (one forward group: see `forwardGroups`) with every
 * method in `methods`. `model` is the group's forward model: the plain model (variant `original`)
 * for original/backward-hook, the variant's own model otherwise.
 */
export function attributeShared(model: Model, variants: readonly Variant[], methods: readonly SharedMethod[], x: Tensor4D, o: SharedOptions): SharedResult {
  if (forwardGroups(variants).length !== 1) throw new SdsError('BAD_ARGUMENT', `variants ${variants.join(', ')} do not share a forward pass`, { suggestion: 'group them with forwardGroups' });
  if (!methods.length) throw new SdsError('BAD_ARGUMENT', 'no method given', { suggestion: `use one or more of: ${SHARED_METHODS.join(', ')}` });
  checkLayers(model, o.layers);
  const n = x.shape[0];
  if (o.targets?.length) checkTargets(model, o.targets, n);
  const deeplift = methods.includes('deeplift');
  if (deeplift) checkDeepLift(model);
  prepareBackward(model);

  // the walks: per variant, one per backward rule its methods need (GradCAM rides on grad's)
  const walks: { variant: Variant; rule: 'plain' | 'deeplift' }[] = [];
  for (const variant of variants) {
    if (methods.includes('grad') || methods.includes('gradcam')) walks.push({ variant, rule: 'plain' });
    if (deeplift) walks.push({ variant, rule: 'deeplift' });
  }
  const rule = { smooth: false, deeplift: false };
  const made: Disposable[] = []; // everything this call made that the caller does not get
  const baseline = deeplift ? deepLiftBaseline(model, x, o.layers) : undefined;
  if (baseline && !baseline.cached) made.push(...baselineTensors(baseline.baseline));
  const base = baseline?.baseline;
  const variantHooks: ForwardHooks = variants.includes('backward-hook') ? switchableBackwardHook(model, rule) : {};
  const reluHooks: ForwardHooks = base ? { relu: (name, v) => switchableRelu(v, base.reluIn.get(name)!, rule) } : {};

  const order = new Map(model.layerNames.map((l, i) => [l, i]));
  const lowest = [...o.layers].sort((a, b) => order.get(a)! - order.get(b)!)[0]!;
  const keepActs = deeplift || methods.includes('gradcam');
  const attributions: SharedResult['attributions'] = new Map();
  let logits: Tensor | undefined;
  try {
    // below the lowest layer nothing needs a gradient: it runs once, off the tape
    const start = lowest === 'input' ? undefined : model.prepareFrom(lowest, x, {});
    if (start) made.push(start);
    const above = o.layers.filter((l) => l !== lowest || !start);
    const shapes = layerShapes(model, x, above);
    const probes = above.map((l) => tf.zeros(shapes.get(l)! as [number, number, number, number]) as Tensor4D);
    made.push(...probes);
    const acts = new Map<string, Tensor4D>();
    if (keepActs && start) acts.set(lowest, start.value);
    const index = new Map(above.map((l, i) => [l, i]));
    const probing: ForwardHooks = {
      layer: (name, y) => {
        const i = index.get(name);
        if (i === undefined) return y;
        if (keepActs) {
          const a = tf.keep(tf.clone(y));
          made.push(a);
          acts.set(name, a);
        }
        return tf.add(y, probes[i]!);
      },
    };
    const hooks = composeHooks(variantHooks, { ...reluHooks, ...probing });
    let targets: number[] = o.targets?.length ? [...o.targets] : [];
    const scalar = (out: Tensor) => {
      if (!targets.length) targets = defaultTargets(model, out);
      checkTargets(model, targets, n);
      if (o.logits) logits = tf.keep(tf.clone(out));
      return targetScalar(model, out, targets);
    };
    const sources = start ? [start.value, ...probes] : probes;
    const names = start ? [lowest, ...above] : above;
    const reduce = (a: Tensor4D): Tensor4D => {
      if (!o.reduce) return a;
      let r: Tensor4D;
      try {
        r = o.reduce(a);
      } catch (err) {
        a.dispose();
        throw err;
      }
      if (r !== a) a.dispose();
      return r;
    };
    walkTapeRepeatedly(
      () => scalar(start ? start.run(start.value, hooks) : model.forward(x, hooks)),
      sources,
      walks.length,
      (i) => {
        rule.smooth = walks[i]!.variant === 'backward-hook';
        rule.deeplift = walks[i]!.rule === 'deeplift';
      },
      (i, grads) => {
        const { variant, rule: r } = walks[i]!;
        let byMethod = attributions.get(variant);
        if (!byMethod) attributions.set(variant, (byMethod = new Map()));
        const put = (m: SharedMethod, layer: string, a: Tensor4D) => {
          let byLayer = byMethod!.get(m);
          if (!byLayer) byMethod!.set(m, (byLayer = new Map()));
          byLayer.set(layer, a);
        };
        for (const layer of o.layers) {
          const g = grads[names.indexOf(layer)] as Tensor4D;
          if (r === 'deeplift') {
            put('deeplift', layer, reduce(tf.tidy(() => tf.mul(g, tf.sub(acts.get(layer)!, base!.acts.get(layer)!)) as Tensor4D)));
            continue;
          }
          if (methods.includes('grad')) put('grad', layer, reduce(tf.clone(g)));
          // sum_c mean_hw(grad_c) * act_c, no ReLU (Captum's default)
          if (methods.includes('gradcam')) put('gradcam', layer, reduce(tf.tidy(() => tf.sum(tf.mul(tf.mean(g, [1, 2], true), acts.get(layer)!), 3, true) as Tensor4D)));
        }
      },
    );
    return { attributions, targets, ...(o.logits ? { logits } : {}) };
  } catch (err) {
    for (const m of attributions.values()) for (const l of m.values()) for (const t of l.values()) t.dispose();
    (logits as Tensor | undefined)?.dispose();
    throw err;
  } finally {
    for (const t of made) t.dispose();
  }
}

interface Baseline {
  /** every ReLU's input for the all-zero image, (1, ...) */
  reluIn: Map<string, Tensor>;
  /** layer outputs for it, (1,h,w,C) */
  acts: Map<string, Tensor4D>;
  bytes: number;
}

/** Baselines kept per model and input size, up to this many bytes per model (a 256 px ResNet18's is ~20 MB). */
export const BASELINE_CACHE_BYTES = 256 * 2 ** 20;
const baselines = new WeakMap<Model, Map<string, Baseline>>();

/**
 * DeepLift's baseline pass for one all-zero image of `x`'s size: what the Rescale rule and the
 * attribution need, cached per model and size (every patch has the same baseline).
 */
function deepLiftBaseline(model: Model, x: Tensor4D, layers: readonly string[]): { baseline: Baseline; cached: boolean } {
  const [, h, w, c] = x.shape;
  const key = `${h}x${w}x${c}`;
  let byModel = baselines.get(model);
  if (!byModel) baselines.set(model, (byModel = new Map()));
  const old = byModel.get(key);
  if (old && layers.every((l) => old.acts.has(l))) return { baseline: old, cached: true };
  if (old) dropBaseline(byModel, key);
  const want = new Set(model.layerNames);
  const reluIn = new Map<string, Tensor>();
  const acts = new Map<string, Tensor4D>();
  tf.tidy(() => {
    const x0 = tf.zeros([1, h, w, c]) as Tensor4D;
    model.forward(x0, {
      relu: (name, v) => {
        reluIn.set(name, tf.keep(tf.clone(v)));
        return tf.relu(v);
      },
      layer: (name, y) => {
        if (want.has(name)) acts.set(name, tf.keep(tf.clone(y)));
        return y;
      },
    });
  });
  let bytes = 0;
  for (const t of [...reluIn.values(), ...acts.values()]) bytes += t.size * 4;
  const b: Baseline = { reluIn, acts, bytes };
  const held = [...byModel.values()].reduce((s, e) => s + e.bytes, 0);
  if (held + bytes > BASELINE_CACHE_BYTES) return { baseline: b, cached: false };
  byModel.set(key, b);
  return { baseline: b, cached: true };
}

function dropBaseline(byModel: Map<string, Baseline>, key: string): void {
  const b = byModel.get(key);
  byModel.delete(key);
  if (b) disposeBaseline(b);
}

function disposeBaseline(b: Baseline): void {
  for (const t of baselineTensors(b)) t.dispose();
}

function baselineTensors(b: Baseline): Tensor[] {
  return [...b.reluIn.values(), ...b.acts.values()];
}
