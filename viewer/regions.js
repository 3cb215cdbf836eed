/**
 * Saliency regions over the slide: the polygons `sds regions` wrote for the overlay on screen (GET
 * /api/analyses/:aid/regions lists the files), or the same regions computed on demand at a
 * quantile (GET .../:layer/regions). Drawn in the tools layer, listed in the panel (area in µm²
 * when the slide has an MPP, peak value); a click on a list item fits the view to that region.
 */
import { formatValue } from './format.js';
import { svg } from './tools-layer.js';
import { findRegions, getRegionFile, listRegionFiles } from './tools-api.js';

/** @typedef {import('./tools-api.js').RegionFeatureJson} RegionFeatureJson */
/** @typedef {import('./api.js').OverlayInfo} OverlayInfo */
/** @typedef {import('./api.js').AnalysisSummary} AnalysisSummary */

/** Regions listed and drawn at most (the server sends the strongest 500 on demand; a file may hold more). */
const SHOWN = 500;

/** @param {number} um2 */
export function formatArea(um2) {
  // from 0.1 mm² on in mm² (what a pathologist reads a tumour area in), 4 significant digits
  if (um2 >= 1e5) return `${Number((um2 / 1e6).toPrecision(4))} mm²`;
  return `${Number(um2.toPrecision(4))} µm²`;
}

/** @param {RegionFeatureJson} f @returns {[number, number, number, number]} level-0 bounding box */
function bboxOf(f) {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of f.geometry.coordinates[0] ?? []) {
    x0 = Math.min(x0, x ?? Infinity);
    y0 = Math.min(y0, y ?? Infinity);
    x1 = Math.max(x1, x ?? -Infinity);
    y1 = Math.max(y1, y ?? -Infinity);
  }
  return [x0, y0, x1, y1];
}

const SECTION = `
  <h2><label><input id="regions-on" type="checkbox" checked> Regions <kbd>g</kbd></label></h2>
  <p id="regions-source" class="muted small"></p>
  <div class="row"><label for="regions-quantile" title="regions where the value is at or above this quantile of |value| over tissue">Quantile</label>
    <input id="regions-quantile" type="text" inputmode="decimal" value="0.99" spellcheck="false">
    <button id="regions-find" type="button" title="Trace the regions of the overlay on screen (as sds regions does)">Find</button>
  </div>
  <ol id="regions-list" class="regions-list"></ol>`;

/**
 * @param {{
 *   layer: import('./tools-layer.js').ToolsLayer,
 *   section: HTMLElement,
 *   analysis: () => AnalysisSummary | null,
 *   overlay: () => OverlayInfo | null,
 *   hasMpp: () => boolean,
 *   onError: (err: unknown) => void,
 * }} o
 */
export function bindRegions(o) {
  o.section.innerHTML = SECTION;
  const q = (/** @type {string} */ id) => /** @type {HTMLElement} */ (o.section.querySelector(`#${id}`));
  const on = /** @type {HTMLInputElement} */ (q('regions-on'));
  const list = q('regions-list');
  const source = q('regions-source');
  const group = svg('g', { class: 'regions' });
  o.layer.scene.prepend(group);
  /** @type {Map<string, Promise<import('./tools-api.js').RegionsFileInfo[]>>} */
  const files = new Map();
  /** which analysis/overlay the list shows; `token` drops answers that arrive after a switch */
  let shown = { aid: '', key: '', token: 0 };
  /** @type {RegionFeatureJson[]} */
  let features = [];
  let selected = -1;

  function draw() {
    group.replaceChildren();
    group.toggleAttribute('hidden', !on.checked);
    features.forEach((f, i) => {
      const d = f.geometry.coordinates.map((ring) => `M${ring.map(([x, y]) => `${x},${y}`).join('L')}Z`).join('');
      group.append(svg('path', { d, class: i === selected ? 'region selected' : 'region', 'data-index': i }));
    });
    o.section.dataset.count = String(features.length);
    o.section.dataset.visible = String(on.checked);
  }

  /** @param {RegionFeatureJson[]} next @param {string} text */
  function show(next, text) {
    features = next.slice(0, SHOWN);
    selected = -1;
    source.textContent = text + (next.length > SHOWN ? ` (the strongest ${SHOWN} of ${next.length} shown)` : '');
    const mpp = o.hasMpp();
    list.replaceChildren(
      ...features.map((f, i) => {
        const m = f.properties.measurements;
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        const area = mpp && m.area_um2 !== undefined ? formatArea(m.area_um2) : `${Number(m.area_px.toPrecision(3))} px²`;
        b.textContent = `#${i + 1} · ${area} · max ${formatValue(m.max)}`;
        const box = bboxOf(f);
        b.dataset.bbox = box.join(',');
        b.addEventListener('click', () => {
          selected = i;
          for (const other of list.querySelectorAll('button')) other.setAttribute('aria-current', String(other === b));
          if (!on.checked) on.checked = true;
          draw();
          o.layer.fit(box);
        });
        li.append(b);
        return li;
      }),
    );
    draw();
  }

  /** The analysis or overlay on screen changed: its regions file, if `sds regions` wrote one. */
  async function follow() {
    const a = o.analysis();
    const ov = o.overlay();
    const aid = a?.id ?? '';
    const key = ov?.key ?? '';
    o.section.hidden = !a || !ov;
    if (aid === shown.aid && key === shown.key) return;
    const token = ++shown.token;
    shown = { aid, key, token };
    show([], '');
    if (!a || !ov) return;
    source.textContent = 'looking for regions files…';
    try {
      let listed = files.get(aid);
      if (!listed) files.set(aid, (listed = listRegionFiles(aid)));
      const file = (await listed).find((f) => f.key === key);
      if (token !== shown.token) return;
      if (!file) {
        show([], 'No regions file for this overlay: Find traces them here (what sds regions writes).');
        return;
      }
      const doc = await getRegionFile(file.url);
      if (token !== shown.token) return;
      show(doc.features ?? [], `From sds regions (${file.count ?? doc.features.length} regions).`);
      o.section.dataset.source = 'file';
    } catch (err) {
      files.delete(aid);
      o.onError(err);
    }
  }

  async function find() {
    const a = o.analysis();
    const ov = o.overlay();
    if (!a || !ov) return;
    const quantile = Number(/** @type {HTMLInputElement} */ (q('regions-quantile')).value.trim());
    if (!(quantile > 0 && quantile < 1)) {
      o.onError(new Error(`the quantile must be between 0 and 1 (got "${/** @type {HTMLInputElement} */ (q('regions-quantile')).value}")`));
      return;
    }
    const token = ++shown.token;
    shown.token = token;
    source.textContent = 'tracing…';
    /** @type {HTMLButtonElement} */ (q('regions-find')).disabled = true;
    try {
      const r = await findRegions(a.id, ov.key, { quantile });
      if (token !== shown.token) return;
      show(r.features, `Traced at the ${quantile} quantile (value ≥ ${formatValue(r.threshold)}): ${r.count} regions.`);
      o.section.dataset.source = 'computed';
    } catch (err) {
      o.onError(err);
    } finally {
      /** @type {HTMLButtonElement} */ (q('regions-find')).disabled = false;
    }
  }

  on.addEventListener('change', draw);
  q('regions-find').addEventListener('click', () => void find());
  return {
    update: () => void follow(),
    toggle() {
      on.checked = !on.checked;
      draw();
    },
  };
}
