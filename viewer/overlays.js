/**
 * What an analysis offers, as the switchers see it: variants, methods and layers (in network
 * order: input, then 1_0, 1_1, ... by stage and block), and the moves between them.
 */

/** @typedef {import('./api.js').OverlayInfo} OverlayInfo */

/** @param {string} layer @returns {number[]} sort key: input first, then stage, block */
function layerOrder(layer) {
  if (layer === 'input') return [-1, 0];
  const m = /^(\d+)_(\d+)$/.exec(layer);
  return m ? [Number(m[1]), Number(m[2])] : [1e9, 0];
}

/** @param {string} a @param {string} b */
export function compareLayers(a, b) {
  const [x, y] = [layerOrder(a), layerOrder(b)];
  return x[0] - y[0] || x[1] - y[1] || a.localeCompare(b);
}

/** @param {string[]} xs @returns {string[]} distinct, in first-seen order */
const distinct = (xs) => [...new Set(xs)];

/** @param {OverlayInfo[]} overlays */
export function axes(overlays) {
  return {
    variants: distinct(overlays.map((o) => o.variant)),
    methods: distinct(overlays.map((o) => o.method)),
    layers: distinct(overlays.map((o) => o.layer)).sort(compareLayers),
  };
}

/**
 * @param {OverlayInfo[]} overlays
 * @param {{ variant: string, method: string, layer: string }} want
 * @returns {OverlayInfo | undefined}
 */
export function find(overlays, want) {
  return overlays.find((o) => o.variant === want.variant && o.method === want.method && o.layer === want.layer);
}

/**
 * The overlay one layer deeper (step 1) or shallower (step -1) with the same variant and method;
 * the same overlay at either end.
 * @param {OverlayInfo[]} overlays
 * @param {OverlayInfo} current
 * @param {1 | -1} step
 */
export function stepLayer(overlays, current, step) {
  const layers = overlays.filter((o) => o.variant === current.variant && o.method === current.method).map((o) => o.layer).sort(compareLayers);
  const i = layers.indexOf(current.layer);
  const next = layers[Math.min(layers.length - 1, Math.max(0, i + step))];
  return (next && find(overlays, { ...current, layer: next })) || current;
}

/**
 * What to compare an overlay with when the user has not chosen: the same method and layer in
 * another variant (original against smoothed), else the slide alone (null).
 * @param {OverlayInfo[]} overlays
 * @param {OverlayInfo} current
 * @returns {OverlayInfo | null}
 */
export function defaultCompare(overlays, current) {
  const others = overlays.filter((o) => o.method === current.method && o.layer === current.layer && o.variant !== current.variant);
  const prefer = current.variant === 'original' ? others.find((o) => o.variant !== 'original') : others.find((o) => o.variant === 'original');
  return prefer ?? others[0] ?? null;
}

/**
 * When the main overlay moves to another layer, a comparison that showed the same layer follows it.
 * @param {OverlayInfo[]} overlays
 * @param {OverlayInfo | null} compare
 * @param {OverlayInfo} from
 * @param {OverlayInfo} to
 */
export function followLayer(overlays, compare, from, to) {
  if (!compare || compare.layer !== from.layer) return compare;
  return find(overlays, { ...compare, layer: to.layer }) ?? compare;
}

/** @param {OverlayInfo} o */
export function label(o) {
  if (o.method !== 'output') return `${o.variant} · ${o.method} · ${o.layer}`;
  const k = /^class-(\d+)$/.exec(o.layer);
  if (k) return `probability of class ${k[1]}`;
  return o.layer === 'probability' ? 'probability' : `probability of ${o.layer}`;
}
