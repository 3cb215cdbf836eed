/**
 * A ReLU flip, made visible: a model whose ReLUs pass the gradient on the other side of zero for
 * every unit whose input lies within `eps` x max|input| of zero (the forward value is unchanged:
 * such a unit is ~0 either way). When PyTorch's float32 rounding and ours put one such unit on
 * different sides, our attribution with that unit flipped equals the reference: proof that a
 * difference beyond tolerance comes from rounding, not from a wrong rule.
 */
import { customUnary, tf, type ForwardHooks, type LayerStart, type Model, type Tensor, type Tensor4D } from '../../models/index.js';
import { composeHooks } from '../../saliency/compose.js';

/**
 * `flipped.count` counts the near-zero units met (in pass order, then element order); `select(i)`
 * says whether the i-th of them is flipped (default: all).
 */
export function nearZeroFlipped(base: Model, eps: number, flipped: { count: number }, select: (i: number) => boolean = () => true): Model {
  const relu: ForwardHooks = {
    relu: (_name, z) =>
      customUnary<Tensor>((v, save) => {
        const d = v.dataSync() as Float32Array;
        let m = 0;
        for (const u of d) m = Math.max(m, Math.abs(u));
        const flip = new Float32Array(d.length);
        for (let i = 0; i < d.length; i++) if (Math.abs(d[i]!) < eps * m && select(flipped.count++)) flip[i] = 1;
        // gradient mask: (v > 0) xor flip
        const mask = tf.tidy(() => tf.abs(tf.sub(tf.cast(tf.greater(v, 0), 'float32'), tf.tensor(flip, v.shape))));
        save([mask]);
        return { value: tf.relu(v), gradFunc: (dy, saved) => tf.mul(dy, saved[0]!) };
      })(z),
  };
  const h = (more?: ForwardHooks) => composeHooks(relu, more);
  return {
    arch: base.arch,
    kind: base.kind,
    numClasses: base.numClasses,
    normalization: base.normalization,
    layerNames: base.layerNames,
    hookPoints: base.hookPoints,
    convs: base.convs,
    forward: (x: Tensor4D, hooks?: ForwardHooks) => base.forward(x, h(hooks)),
    forwardTo: (layer: string, x: Tensor4D, hooks?: ForwardHooks) => base.forwardTo(layer, x, h(hooks)),
    prepareFrom: (layer: string, x: Tensor4D, hooks?: ForwardHooks): LayerStart => {
      const s = base.prepareFrom(layer, x, h(hooks));
      return { value: s.value, run: (v, more) => s.run(v, h(more)), dispose: () => s.dispose() };
    },
    dispose: () => {},
  };
}
