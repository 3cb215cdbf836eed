/**
 * The server's colour maps (tiling/dzi.ts `colorize`), for the legend: value -> RGB with the same
 * formulas and anchors, so the legend shows exactly the colours of the tiles. The e2e test checks
 * the legend's pixels against the server's own function.
 */

/** @typedef {import('./state.js').Colormap} Colormap */
/** @typedef {[number, number, number]} Rgb */

// matplotlib anchors at t = 0, 1/8, ..., 1; linear in between (as the server)
/** @type {Rgb[]} */
const VIRIDIS = [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140], [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37]];
/** @type {Rgb[]} */
const MAGMA = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]];

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
  if (colormap === 'viridis') return ramp(VIRIDIS, t);
  if (colormap === 'magma') return ramp(MAGMA, t);
  const g = Math.round(255 * Math.max(0, Math.min(1, t)));
  return [g, g, g];
}
