import type { ForwardHooks } from '../models/index.js';

/**
 * Two hook sets as one: `inner` acts first (closer to the plain op), `outer` sees its result.
 * Variants are inner (they change the model), methods outer (they observe or re-route it).
 */
export function composeHooks(inner: ForwardHooks, outer: ForwardHooks = {}): ForwardHooks {
  const h: ForwardHooks = {};
  if (inner.conv || outer.conv) {
    h.conv = (conv, x, apply) => {
      const first = inner.conv ? (v: typeof x) => inner.conv!(conv, v, apply) : apply;
      return outer.conv ? outer.conv(conv, x, first) : first(x);
    };
  }
  if (inner.maxPool || outer.maxPool) {
    h.maxPool = (name, x, apply, g) => {
      const first = inner.maxPool ? (v: typeof x) => inner.maxPool!(name, v, apply, g) : apply;
      return outer.maxPool ? outer.maxPool(name, x, first, g) : first(x);
    };
  }
  if (inner.relu || outer.relu) {
    if (inner.relu && outer.relu) throw new Error('two ReLU rules at once are not defined');
    h.relu = inner.relu ?? outer.relu;
  }
  if (inner.layer || outer.layer) {
    h.layer = (name, y) => {
      const a = inner.layer ? inner.layer(name, y) : y;
      return outer.layer ? outer.layer(name, a) : a;
    };
  }
  return h;
}
