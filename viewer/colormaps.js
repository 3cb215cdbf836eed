/**
 * The server's colour maps (maps/dzi.ts `colorize`), for the legend: value -> RGB with the same
 * formulas and the same anchors (the sequential maps' anchor table comes from GET /api/config, so
 * it is stated once, in maps/), so the legend shows exactly the colours of the tiles. The e2e test
 * checks the legend's pixels against the server's own function.
 */

/** @typedef {import('./state.js').Colormap} Colormap */
/** @typedef {[number, number, number]} Rgb */

/** @type {Record<string, Rgb[]>} */
let anchorsOf = {};
/** Black to white, until the server's table is in. */
const GRAY = /** @type {Rgb[]} */ ([[0, 0, 0], [255, 255, 255]]);

/** The sequential maps' anchors, as GET /api/config serves them. @param {Record<string, Rgb[]>} table */
export function setColormapAnchors(table) {
  anchorsOf = table;
}

/** @param {Rgb[]} anchors @param {number} t @returns {Rgb} */
function ramp(anchors, t) {
  const x = Math.max(0, Math.min(1, t)) * (anchors.length - 1);
  const i = Math.min(anchors.length - 2, Math.floor(x));
  const f = x - i;
  const a = /** @type {Rgb} */ (anchors[i]);
  const b = /** @type {Rgb} */ (anchors[i + 1]);
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/**
 * @param {Colormap} colormap
 * @param {number} v
 * @param {number} lo value at the low end
 * @param {number} hi value at the high end
 * @returns {Rgb}
 */
export function colorOf(colormap, v, lo, hi) {
  if (colormap === 'diverging') {
    // blue - white - red around the range's centre (signed saliency: white is "no effect")
    const half = (hi - lo) / 2 > 0 ? (hi - lo) / 2 : 1;
    const t = Math.max(-1, Math.min(1, (v - (lo + hi) / 2) / half));
    const fade = Math.round(255 * (1 - Math.abs(t)));
    return [t >= 0 ? 255 : fade, fade, t <= 0 ? 255 : fade];
  }
  const t = (v - lo) / (hi > lo ? hi - lo : 1);
  return ramp(anchorsOf[colormap] ?? GRAY, t);
}
