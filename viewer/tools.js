/**
 * The viewer tools a pathologist expects (issue #17): a ruler (click-drag, length in µm from the
 * slide's MPP, in px without one), a rectangle and a polygon tool whose shape gets the saliency
 * statistics of the overlay on screen from the server (mean, min, max, share at or above a
 * threshold, pixels, area), saved as a QuPath annotation; and the regions of `sds regions`
 * (regions.js). Keys: m ruler, r rectangle, p polygon, g regions on/off, Esc clears.
 *
 * The threshold defaults to the legend's upper value (the overlay's 99th percentile of |value|
 * unless the user set a colour range); typing a number keeps it until it is emptied.
 */
import { formatLength, formatValue } from './format.js';
import { bindRegions, formatArea } from './regions.js';
import { shapeStats } from './tools-api.js';
import { svg, ToolsLayer } from './tools-layer.js';

/** @typedef {import('./api.js').OverlayInfo} OverlayInfo */
/** @typedef {import('./api.js').AnalysisSummary} AnalysisSummary */
/** @typedef {import('./api.js').SlideSummary} SlideSummary */
/** @typedef {import('./tools-api.js').RegionStatsResponse} RegionStatsResponse */
/** @typedef {'ruler' | 'rect' | 'polygon'} Tool */
/** @typedef {{ x: number, y: number }} Pt */

const TOOLS = /** @type {const} */ ([
  ['ruler', 'Ruler', 'm', 'Measure a distance: drag over the slide'],
  ['rect', 'Rectangle', 'r', 'Saliency statistics in a rectangle: drag over the slide'],
  ['polygon', 'Polygon', 'p', 'Saliency statistics in a polygon: click the corners, double-click closes'],
]);
/** @type {Record<string, Tool | 'regions'>} */
export const TOOL_KEYS = { m: 'ruler', r: 'rect', p: 'polygon', g: 'regions' };

const STATS_SECTION = `
  <h2>Region statistics</h2>
  <p id="stats-hint" class="muted small">Draw a rectangle <kbd>r</kbd> or a polygon <kbd>p</kbd> over the slide: the statistics of the overlay on screen inside it.</p>
  <div class="row"><label for="stats-threshold" title="a map pixel counts as above when its value is at or above this; empty: the legend's upper value">Threshold</label>
    <input id="stats-threshold" type="text" inputmode="decimal" spellcheck="false"></div>
  <table id="stats-table" class="stats" hidden>
    <tr><th>Overlay</th><td data-stat="key"></td></tr>
    <tr><th>Mean</th><td data-stat="mean"></td></tr>
    <tr><th>Min</th><td data-stat="min"></td></tr>
    <tr><th>Max</th><td data-stat="max"></td></tr>
    <tr><th>≥ threshold</th><td data-stat="aboveShare"></td></tr>
    <tr><th>Map pixels</th><td data-stat="pixels"></td></tr>
    <tr><th>Area</th><td data-stat="area"></td></tr>
    <tr><th>No tissue</th><td data-stat="noTissue"></td></tr>
  </table>
  <div class="buttons"><button id="stats-clear" type="button" disabled>Clear</button><button id="stats-save" type="button" disabled title="Download the shape as a QuPath annotation (File > Import objects)">Save GeoJSON</button></div>`;

/**
 * @param {{
 *   pane: HTMLElement,
 *   view: import('./slide-view.js').SlideView,
 *   slide: () => SlideSummary | null,
 *   analysis: () => AnalysisSummary | null,
 *   overlay: () => OverlayInfo | null,
 *   upper: () => number | null,
 *   onError: (err: unknown) => void,
 * }} o
 */
export function bindViewerTools(o) {
  const layer = new ToolsLayer(o.pane, o.view);
  const panel = /** @type {HTMLElement} */ (document.getElementById('panel'));
  const before = document.getElementById('job');
  const regionsSection = document.createElement('section');
  regionsSection.id = 'regions';
  const statsSection = document.createElement('section');
  statsSection.id = 'stats';
  statsSection.innerHTML = STATS_SECTION;
  panel.insertBefore(regionsSection, before);
  panel.insertBefore(statsSection, before);
  const regions = bindRegions({ layer, section: regionsSection, analysis: o.analysis, overlay: o.overlay, hasMpp: () => !!o.slide()?.mpp, onError: o.onError });
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (statsSection.querySelector(`#${id}`));
  const threshold = /** @type {HTMLInputElement} */ ($('stats-threshold'));

  // the tool bar over the view, with the ruler's read-out
  const bar = document.createElement('div');
  bar.className = 'tools-bar';
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', 'Tools');
  for (const [tool, text, key, title] of TOOLS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.tool = tool;
    b.title = `${title} (${key})`;
    b.setAttribute('aria-pressed', 'false');
    b.append(text, ' ');
    const k = document.createElement('kbd');
    k.textContent = key;
    b.append(k);
    b.addEventListener('click', () => setTool(active === tool ? null : tool));
    bar.append(b);
  }
  const readout = document.createElement('span');
  readout.id = 'ruler-readout';
  readout.className = 'ruler-readout';
  readout.hidden = true;
  bar.append(readout);
  o.pane.append(bar);

  /** @type {Tool | null} */
  let active = null;
  /** @type {{ a: Pt, b: Pt } | null} */
  let ruler = null;
  /** the shape being drawn (rectangle: two corners; polygon: the corners so far), and the pointer */
  /** @type {{ kind: 'rect' | 'polygon', pts: Pt[], hover: Pt | null } | null} */
  let drawing = null;
  /** the finished shape: level-0 ring (not closed) */
  /** @type {{ kind: 'rect' | 'polygon', ring: Pt[] } | null} */
  let shape = null;
  /** @type {RegionStatsResponse | null} */
  let stats = null;
  let statsToken = 0;
  let dragging = false;

  const rulerLine = svg('line', { class: 'ruler-line' });
  const rulerText = svg('text', { class: 'ruler-text' });
  const shapePath = svg('path', { class: 'shape' });
  const draftPath = svg('path', { class: 'shape draft' });
  layer.scene.append(shapePath, draftPath);
  layer.screen.append(rulerLine, rulerText);
  layer.onChange(render);

  /** @param {Tool | null} tool */
  function setTool(tool) {
    if (drawing && tool !== drawing.kind) drawing = null;
    active = tool;
    layer.capture(tool !== null);
    o.pane.dataset.tool = tool ?? '';
    for (const b of bar.querySelectorAll('button[data-tool]')) b.setAttribute('aria-pressed', String(/** @type {HTMLElement} */ (b).dataset.tool === tool));
    render();
  }

  /** µm per level-0 px, or null */
  const mpp = () => o.slide()?.mpp ?? null;

  function rulerLength() {
    if (!ruler) return null;
    const dx = ruler.b.x - ruler.a.x, dy = ruler.b.y - ruler.a.y;
    const m = mpp();
    return { px: Math.hypot(dx, dy), um: m ? Math.hypot(dx * m.x, dy * m.y) : null };
  }

  /** @param {Pt[]} pts @param {boolean} close */
  const pathOf = (pts, close) => (pts.length ? `M${pts.map((p) => `${p.x},${p.y}`).join('L')}${close ? 'Z' : ''}` : '');

  function render() {
    // ruler: in screen px, so its label stays readable at every zoom
    const len = rulerLength();
    rulerLine.toggleAttribute('hidden', !ruler);
    rulerText.toggleAttribute('hidden', !ruler);
    readout.hidden = !len;
    if (ruler && len) {
      const a = layer.toScreen(ruler.a.x, ruler.a.y), b = layer.toScreen(ruler.b.x, ruler.b.y);
      for (const [k, v] of Object.entries({ x1: a.x, y1: a.y, x2: b.x, y2: b.y })) rulerLine.setAttribute(k, String(v));
      const text = len.um !== null ? formatLength(len.um) : `${Number(len.px.toPrecision(4))} px (the slide has no MPP)`;
      rulerText.textContent = text;
      rulerText.setAttribute('x', String(b.x + 8));
      rulerText.setAttribute('y', String(b.y - 8));
      readout.textContent = `ruler: ${text}`;
      readout.dataset.px = String(len.px);
      readout.dataset.um = len.um === null ? '' : String(len.um);
    }
    // shapes: in level-0 px (the scene group's transform follows the view)
    shapePath.setAttribute('d', shape ? pathOf(shape.ring, true) : '');
    let draft = '';
    if (drawing?.kind === 'rect' && drawing.pts.length === 2) draft = pathOf(rectRing(drawing.pts[0], drawing.pts[1]), true);
    else if (drawing?.kind === 'polygon') draft = pathOf(drawing.hover ? [...drawing.pts, drawing.hover] : drawing.pts, false);
    draftPath.setAttribute('d', draft);
  }

  /** @param {Pt} a @param {Pt} b @returns {Pt[]} */
  const rectRing = (a, b) => [a, { x: b.x, y: a.y }, b, { x: a.x, y: b.y }];

  /** @param {Pt[]} ring */
  function area(ring) {
    let s = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) s += ring[j].x * ring[i].y - ring[i].x * ring[j].y;
    return Math.abs(s / 2);
  }

  /** @param {'rect' | 'polygon'} kind @param {Pt[]} ring */
  function finishShape(kind, ring) {
    drawing = null;
    if (ring.length < 3 || area(ring) === 0) {
      render();
      return;
    }
    shape = { kind, ring };
    // the shape in level-0 px, for tests and for people inspecting the page
    statsSection.dataset.ring = JSON.stringify(ring.map((p) => [p.x, p.y]));
    render();
    void requestStats();
  }

  /** The user's threshold, or null (the legend's upper value is used). */
  function thresholdValue() {
    const text = threshold.value.trim();
    if (threshold.dataset.user !== 'true' || text === '') return o.upper();
    const v = Number(text);
    return Number.isFinite(v) ? v : null;
  }

  async function requestStats() {
    const a = o.analysis(), ov = o.overlay();
    const table = $('stats-table');
    /** @type {HTMLButtonElement} */ ($('stats-clear')).disabled = !shape;
    /** @type {HTMLButtonElement} */ ($('stats-save')).disabled = !shape;
    if (!shape || !a || !ov) {
      stats = null;
      table.hidden = true;
      statsSection.dataset.state = shape ? 'no-overlay' : 'empty';
      $('stats-hint').hidden = !!shape && !!ov;
      return;
    }
    $('stats-hint').hidden = true;
    const token = ++statsToken;
    statsSection.dataset.state = 'computing';
    const ring = shape.ring.map((p) => [p.x, p.y]);
    try {
      const r = await shapeStats(a.id, ov.key, [[...ring, ring[0]]], thresholdValue());
      if (token !== statsToken) return;
      stats = r;
      showStats(r);
      statsSection.dataset.state = 'done';
    } catch (err) {
      if (token === statsToken) statsSection.dataset.state = 'failed';
      o.onError(err);
    }
  }

  /** @param {RegionStatsResponse} r */
  function showStats(r) {
    const table = $('stats-table');
    table.hidden = false;
    /** @param {string} k @param {string} text @param {number | null | string} value */
    const set = (k, text, value) => {
      const td = /** @type {HTMLElement} */ (table.querySelector(`[data-stat="${k}"]`));
      td.textContent = text;
      td.dataset.value = value === null ? '' : String(value);
    };
    const num = (/** @type {number | null} */ v) => (v === null ? '–' : formatValue(v));
    set('key', r.key, r.key);
    set('mean', num(r.mean), r.mean);
    set('min', num(r.min), r.min);
    set('max', num(r.max), r.max);
    set('aboveShare', r.aboveShare === null ? '–' : `${Number((100 * r.aboveShare).toPrecision(3))} % (≥ ${formatValue(r.threshold)})`, r.aboveShare);
    set('pixels', String(r.pixels), r.pixels);
    set('area', r.areaUm2 !== null ? formatArea(r.areaUm2) : `${Number(r.areaPx.toPrecision(4))} px² (no MPP)`, r.areaUm2 ?? r.areaPx);
    set('noTissue', String(r.noTissue), r.noTissue);
    table.dataset.threshold = String(r.threshold);
  }

  /** The shape as a QuPath annotation (the layout results/geojson.ts writes), downloaded. */
  function save() {
    if (!shape) return;
    const ring = shape.ring.map((p) => [Math.round(p.x * 100) / 100, Math.round(p.y * 100) / 100]);
    /** @type {Record<string, number>} */
    const measurements = {};
    if (stats) {
      const m = { mean: stats.mean, min: stats.min, max: stats.max, threshold: stats.threshold, above_share: stats.aboveShare, pixels: stats.pixels, area_px: stats.areaPx, area_um2: stats.areaUm2 };
      for (const [k, v] of Object.entries(m)) if (typeof v === 'number') measurements[k] = v;
    }
    const name = `${shape.kind === 'rect' ? 'Rectangle' : 'Polygon'}${stats ? ` on ${stats.key}` : ''}`;
    const feature = {
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [[...ring, ring[0]]] },
      properties: {
        objectType: 'annotation',
        name,
        measurements,
        metadata: { slide: o.slide()?.id ?? '', analysis: o.analysis()?.id ?? '', overlay: stats?.key ?? '' },
      },
    };
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([JSON.stringify(feature, null, 1)], { type: 'application/geo+json' }));
    a.download = `${o.slide()?.id ?? 'slide'}-${shape.kind}.geojson`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  function clearShape() {
    shape = null;
    stats = null;
    statsToken++;
    void requestStats();
    render();
  }

  // ---- pointer input while a tool is active (the layer captures it; otherwise the view pans) ----
  const root = layer.root;
  root.addEventListener('pointerdown', (e) => {
    if (!active || e.button !== 0) return;
    const p = layer.toImage(e);
    if (!p) return;
    e.preventDefault();
    if (active === 'ruler' || active === 'rect') {
      root.setPointerCapture(e.pointerId);
      dragging = true;
      if (active === 'ruler') ruler = { a: p, b: p };
      else drawing = { kind: 'rect', pts: [p, p], hover: null };
    } else {
      // polygon: a click adds a corner (a double-click's two clicks add the same one twice: the
      // dblclick that follows drops the repeat and closes the ring)
      if (drawing?.kind !== 'polygon') drawing = { kind: 'polygon', pts: [], hover: null };
      drawing.pts.push(p);
    }
    render();
  });
  root.addEventListener('pointermove', (e) => {
    if (!active) return;
    const p = layer.toImage(e);
    if (!p) return;
    if (dragging && active === 'ruler' && ruler) ruler.b = p;
    else if (dragging && drawing?.kind === 'rect') drawing.pts[1] = p;
    else if (drawing?.kind === 'polygon') drawing.hover = p;
    else return;
    render();
  });
  root.addEventListener('pointerup', (e) => {
    if (!dragging) return;
    dragging = false;
    const p = layer.toImage(e);
    if (active === 'ruler' && ruler) {
      if (p) ruler.b = p;
      if (ruler.a.x === ruler.b.x && ruler.a.y === ruler.b.y) ruler = null;
      render();
    } else if (drawing?.kind === 'rect') {
      if (p) drawing.pts[1] = p;
      finishShape('rect', rectRing(drawing.pts[0], drawing.pts[1]));
    }
  });
  // the wheel still zooms while a tool holds the pointer (the layer covers the view's canvas)
  root.addEventListener('wheel', (e) => {
    e.preventDefault();
    o.view.viewer.canvas.dispatchEvent(new WheelEvent('wheel', e));
  }, { passive: false });
  root.addEventListener('dblclick', (e) => {
    if (active !== 'polygon' || drawing?.kind !== 'polygon') return;
    e.preventDefault();
    // the double-click's first click added its point: drop repeats
    const pts = drawing.pts.filter((p, i, all) => i === 0 || p.x !== all[i - 1].x || p.y !== all[i - 1].y);
    finishShape('polygon', pts);
  });

  threshold.addEventListener('change', () => {
    const text = threshold.value.trim();
    if (text !== '' && !Number.isFinite(Number(text))) {
      o.onError(new Error(`the threshold must be a number (got "${text}")`));
      return;
    }
    threshold.dataset.user = String(text !== '');
    if (text === '') {
      const upper = o.upper();
      threshold.value = upper === null ? '' : formatValue(upper);
    }
    void requestStats();
  });
  $('stats-clear').addEventListener('click', clearShape);
  $('stats-save').addEventListener('click', save);

  // OpenSeadragon's own keys act on the focused view first ('r' rotates it): not for the tool keys
  o.view.viewer.addHandler('canvas-key', (e) => {
    const ev = /** @type {{ originalEvent: KeyboardEvent, preventDefaultAction: boolean }} */ (/** @type {unknown} */ (e));
    if (TOOL_KEYS[ev.originalEvent.key] || ev.originalEvent.key === 'Escape') ev.preventDefaultAction = true;
  });
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const t = /** @type {HTMLElement | null} */ (e.target);
    if (t && (t.isContentEditable || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button'].includes(/** @type {HTMLInputElement} */ (t).type)))) return;
    if (document.querySelector('dialog[open]')) return;
    if (e.key === 'Escape') {
      // Esc: the ruler and a shape being drawn go, and the tool is put down
      ruler = null;
      drawing = null;
      dragging = false;
      setTool(null);
      return;
    }
    const action = TOOL_KEYS[e.key];
    if (!action) return;
    e.preventDefault();
    if (action === 'regions') regions.toggle();
    else setTool(active === action ? null : action);
  });

  let lastKey = '';
  let lastSlide = '';
  return {
    /** The page's state changed (slide, analysis, overlay, colour range): follow it. */
    update() {
      // a new slide: the ruler and shapes belong to the old one
      const slideId = o.slide()?.id ?? '';
      if (slideId !== lastSlide) {
        lastSlide = slideId;
        ruler = null;
        drawing = null;
        if (shape) clearShape();
        render();
      }
      regions.update();
      statsSection.hidden = !o.overlay();
      const upper = o.upper();
      if (threshold.dataset.user !== 'true') threshold.value = upper === null ? '' : formatValue(upper);
      // the statistics follow the overlay on screen and the legend's range (the default threshold)
      const key = `${o.analysis()?.id}|${o.overlay()?.key}|${threshold.dataset.user === 'true' ? '' : upper}`;
      if (key !== lastKey) {
        lastKey = key;
        if (shape) void requestStats();
      }
    },
  };
}
