/** The colour scale of the shown overlay: a gradient drawn pixel by pixel and its value range. */
import { colorOf } from './colormaps.js';
import { formatValue } from './format.js';

/** @typedef {import('./state.js').Colormap} Colormap */

/**
 * @param {HTMLElement} root element holding a canvas.legend-bar and .legend-lo/.legend-mid/.legend-hi
 * @param {{ colormap: Colormap, lo: number, hi: number, title: string } | null} scale
 */
export function drawLegend(root, scale) {
  root.hidden = !scale;
  if (!scale) return;
  const canvas = /** @type {HTMLCanvasElement} */ (root.querySelector('canvas.legend-bar'));
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  const img = ctx.createImageData(width, height);
  for (let x = 0; x < width; x++) {
    // column centres, so the first and last columns are the range ends to within half a column
    const v = scale.lo + ((scale.hi - scale.lo) * (x + 0.5)) / width;
    const [r, g, b] = colorOf(scale.colormap, v, scale.lo, scale.hi);
    for (let y = 0; y < height; y++) img.data.set([r, g, b, 255], (y * width + x) * 4);
  }
  ctx.putImageData(img, 0, 0);
  const set = (/** @type {string} */ sel, /** @type {string} */ text) => {
    const el = root.querySelector(sel);
    if (el) el.textContent = text;
  };
  set('.legend-title', scale.title);
  set('.legend-lo', formatValue(scale.lo));
  set('.legend-mid', formatValue((scale.lo + scale.hi) / 2));
  set('.legend-hi', formatValue(scale.hi));
  root.dataset.lo = String(scale.lo);
  root.dataset.hi = String(scale.hi);
  root.dataset.colormap = scale.colormap;
}
