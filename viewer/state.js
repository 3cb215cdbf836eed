/**
 * The view state that a shared link carries, and its URL-hash form
 * (`#slide=..&analysis=..&overlay=<variant/method/layer>&opacity=0.6&colormap=diverging&compare=..
 * &mode=single|curtain|side&x=..&y=..&zoom=..`). x, y: the view centre in level-0 pixels; zoom:
 * screen pixels per level-0 pixel, so a link shows the same place at the same magnification in any
 * window size.
 */

export const COLORMAPS = /** @type {const} */ (['diverging', 'viridis', 'magma', 'gray']);
export const MODES = /** @type {const} */ (['single', 'curtain', 'side']);

/** @typedef {typeof COLORMAPS[number]} Colormap */
/** @typedef {typeof MODES[number]} Mode */
/**
 * @typedef {object} ViewState
 * @property {string | null} slide
 * @property {string | null} analysis
 * @property {string | null} overlay  key of the saliency overlay
 * @property {string | null} compare  key of the overlay to compare with (null: the slide alone)
 * @property {string | null} output   key of the model-output overlay shown under the saliency
 * @property {boolean} visible        saliency overlay on/off
 * @property {number} opacity
 * @property {Colormap} colormap
 * @property {number | null} min      colour range; null: each overlay's own range
 * @property {number | null} max
 * @property {Mode} mode
 * @property {number} split           curtain divider position, fraction of the viewer width
 * @property {{ x: number, y: number, zoom: number } | null} view
 */

/** @returns {ViewState} */
export function defaultState() {
  return { slide: null, analysis: null, overlay: null, compare: null, output: null, visible: true, opacity: 0.6, colormap: 'diverging', min: null, max: null, mode: 'single', split: 0.5, view: null };
}

/**
 * @param {string} hash location.hash, with or without '#'
 * @returns {ViewState}
 */
export function parseHash(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const s = defaultState();
  const str = (/** @type {string} */ k) => p.get(k) || null;
  const num = (/** @type {string} */ k) => {
    const v = p.get(k);
    const n = v === null || v === '' ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
  };
  s.slide = str('slide');
  s.analysis = str('analysis');
  s.overlay = str('overlay');
  s.compare = str('compare');
  s.output = str('output');
  s.visible = p.get('show') !== '0';
  const opacity = num('opacity');
  if (opacity !== null) s.opacity = Math.min(1, Math.max(0, opacity));
  const cm = p.get('colormap');
  if (cm && /** @type {readonly string[]} */ (COLORMAPS).includes(cm)) s.colormap = /** @type {Colormap} */ (cm);
  const min = num('min');
  const max = num('max');
  if (min !== null && max !== null && max > min) [s.min, s.max] = [min, max];
  const mode = p.get('mode');
  if (mode && /** @type {readonly string[]} */ (MODES).includes(mode)) s.mode = /** @type {Mode} */ (mode);
  const split = num('split');
  if (split !== null) s.split = Math.min(1, Math.max(0, split));
  const [x, y, zoom] = [num('x'), num('y'), num('zoom')];
  if (x !== null && y !== null && zoom !== null && zoom > 0) s.view = { x, y, zoom };
  return s;
}

/**
 * The hash for a state; defaults are left out so links stay short.
 * @param {ViewState} s
 * @returns {string} starting with '#'
 */
export function formatHash(s) {
  const d = defaultState();
  /** @type {[string, string][]} */
  const parts = [];
  const add = (/** @type {string} */ k, /** @type {string | number | null} */ v) => {
    if (v !== null && v !== '') parts.push([k, String(v)]);
  };
  add('slide', s.slide);
  add('analysis', s.analysis);
  add('overlay', s.overlay);
  if (!s.visible) add('show', 0);
  add('opacity', round(s.opacity, 3));
  add('colormap', s.colormap);
  if (s.min !== null && s.max !== null) {
    add('min', Number(s.min.toPrecision(4)));
    add('max', Number(s.max.toPrecision(4)));
  }
  add('output', s.output);
  add('compare', s.compare);
  if (s.mode !== d.mode) add('mode', s.mode);
  if (s.mode === 'curtain' && s.split !== d.split) add('split', round(s.split, 3));
  if (s.view) {
    add('x', Math.round(s.view.x));
    add('y', Math.round(s.view.y));
    add('zoom', Number(s.view.zoom.toPrecision(4)));
  }
  // keys like "backward-hook/grad/1_1" stay readable: '/' needs no escaping in a fragment
  return `#${parts.map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2F/g, '/')}`).join('&')}`;
}

/** @param {number} v @param {number} digits */
function round(v, digits) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
