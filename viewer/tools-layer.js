/**
 * An SVG layer over one OpenSeadragon view that follows its pan and zoom, for the viewer tools
 * (regions, ruler, drawn shapes). Geometry is kept in level-0 slide pixels; `scene` is a group
 * whose transform maps level-0 pixels to the view's element pixels, updated on every drawn frame
 * (strokes keep their screen width: vector-effect), and `screen` is a group in element pixels for
 * labels and handles, which the owner redraws from `onChange`.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElementTagNameMap[K]}
 */
export function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export class ToolsLayer {
  /**
   * @param {HTMLElement} pane the element the view fills (the layer covers it)
   * @param {import('./slide-view.js').SlideView} view
   */
  constructor(pane, view) {
    this.view = view;
    this.root = svg('svg', { class: 'tools-layer', 'aria-hidden': 'true' });
    this.scene = svg('g', { class: 'tools-scene' });
    this.screen = svg('g', { class: 'tools-screen' });
    this.root.append(this.scene, this.screen);
    pane.append(this.root);
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    const follow = () => this.follow();
    for (const ev of /** @type {const} */ (['update-viewport', 'resize', 'open'])) view.viewer.addHandler(ev, follow);
  }

  /** @param {() => void} fn called after every frame the view draws (pan, zoom, resize) */
  onChange(fn) {
    this.listeners.add(fn);
  }

  /** The slide's TiledImage: level-0 pixel conversions. */
  get item() {
    return this.view.slideItem;
  }

  follow() {
    const item = this.item;
    if (!item) return;
    const o = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const p = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(1e4, 0));
    const s = (p.x - o.x) / 1e4;
    this.scale = s;
    this.scene.setAttribute('transform', `matrix(${s} 0 0 ${s} ${o.x} ${o.y})`);
    for (const fn of this.listeners) fn();
  }

  /**
   * @param {number} x level-0 px
   * @param {number} y
   * @returns {{ x: number, y: number }} element px
   */
  toScreen(x, y) {
    const item = this.item;
    if (!item) return { x: NaN, y: NaN };
    const p = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
    return { x: p.x, y: p.y };
  }

  /**
   * @param {{ clientX: number, clientY: number }} e a pointer event
   * @returns {{ x: number, y: number } | null} level-0 px
   */
  toImage(e) {
    const item = this.item;
    if (!item) return null;
    const r = this.root.getBoundingClientRect();
    const p = item.viewerElementToImageCoordinates(new OpenSeadragon.Point(e.clientX - r.left, e.clientY - r.top));
    return { x: p.x, y: p.y };
  }

  /** Fits the view to a level-0 box (with a margin), animated. @param {[number, number, number, number]} box x0, y0, x1, y1 */
  fit(box) {
    const item = this.item;
    if (!item) return;
    const [x0, y0, x1, y1] = box;
    const m = 0.25 * Math.max(x1 - x0, y1 - y0, 64);
    this.view.viewer.viewport.fitBounds(item.imageToViewportRectangle(x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m));
  }

  /** Captures pointer input (a tool is active) or lets it through to the view. @param {boolean} on */
  capture(on) {
    this.root.classList.toggle('drawing', on);
  }
}
