/** A scale bar from the slide's MPP, a DOM element resized on every viewport change. */
import { formatLength } from './format.js';

/**
 * The longest 1, 2 or 5 x 10^k µm that fits in maxPx screen pixels.
 * @param {number} umPerPx micrometres per screen pixel
 * @param {number} maxPx
 * @returns {{ um: number, px: number }}
 */
export function niceLength(umPerPx, maxPx) {
  const max = umPerPx * maxPx;
  const p = 10 ** Math.floor(Math.log10(max));
  const um = [5, 2, 1].map((m) => m * p).find((v) => v <= max) ?? p;
  return { um, px: um / umPerPx };
}

/**
 * @param {HTMLElement} el the bar: its width is set, its text is the length
 * @param {number | null} mpp micrometres per level-0 pixel (null: unknown, bar hidden)
 * @param {number} imageZoom screen pixels per level-0 pixel
 */
export function updateScaleBar(el, mpp, imageZoom) {
  el.hidden = !(mpp && imageZoom > 0);
  if (!mpp || !(imageZoom > 0)) return;
  const { um, px } = niceLength(mpp / imageZoom, 160);
  el.style.width = `${px.toFixed(1)}px`;
  el.textContent = formatLength(um);
  el.dataset.um = String(um);
}
