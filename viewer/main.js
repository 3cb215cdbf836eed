/**
 * The viewer page: slide list, the slide with its saliency overlays, the switchers, compare modes
 * and the URL hash that keeps all of it. The state lives in one object; every change goes through
 * `update()`, which renders the controls, sets the overlay layers and writes the hash.
 */
import { getConfig, getSlide, listSlides } from './api.js';
import { setColormapAnchors } from './colormaps.js';
import { bindCurtain, placeCurtain } from './curtain.js';
import { errorBanner } from './errors.js';
import { formatValue } from './format.js';
import { bindExportPanel } from './exports.js';
import { bindAnalyzeForm, followServerJobs } from './jobs.js';
import { bindKeys } from './keys.js';
import { drawLegend } from './legend.js';
import { axes, defaultCompare, find, followLayer, label, stepLayer } from './overlays.js';
import { updateScaleBar } from './scalebar.js';
import { SlideView } from './slide-view.js';
import { renderSlideList } from './slide-list.js';
import { formatHash, parseHash } from './state.js';
import { bindViewerTools } from './tools.js';
import { linkViewports } from './sync.js';

/** @typedef {import('./api.js').SlideSummary} SlideSummary */
/** @typedef {import('./api.js').AnalysisSummary} AnalysisSummary */
/** @typedef {import('./api.js').OverlayInfo} OverlayInfo */
/** @typedef {import('./slide-view.js').LayerSpec} LayerSpec */
/** @typedef {import('./state.js').ViewState} ViewState */

/** @template {HTMLElement} [T=HTMLElement] @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

const showError = errorBanner($('errors'));
window.addEventListener('unhandledrejection', (e) => showError(e.reason));

/** @type {ViewState} */
let state = parseHash(location.hash);
/** @type {SlideSummary[]} */
let slides = [];
/** @type {SlideSummary | null} */
let slide = null;
/** @type {AnalysisSummary | null} */
let analysis = null;
/** bumped when the analysis shown is running and has changed: its tiles are loaded again (lookAgain) */
let liveVersion = 0;

const onLoaded = (/** @type {boolean} */ loaded) => {
  $('loading').hidden = loaded;
};
const viewA = new SlideView($('view-a'), { navigator: true, onError: showError, onLoaded });
/** @type {{ view: SlideView, unlink: () => void } | null} */
let side = null;

/** probabilities are not signed: a sequential map */
const OUTPUT_COLORMAP = 'viridis';
const overlays = () => analysis?.overlays ?? [];
/** @param {string | null} key */
const overlay = (key) => overlays().find((o) => o.key === key) ?? null;
/** @param {string | null} key */
const output = (key) => analysis?.outputs?.find((o) => o.key === key) ?? null;

// ---- slides and analyses ----------------------------------------------------------------------

/**
 * @param {string} id
 * @param {{ restore: boolean }} how restore: keep the state's analysis, overlay and view (a link)
 */
async function openSlide(id, how) {
  const s = slides.find((x) => x.id === id);
  if (!s) {
    showError(new Error(`slide "${id}" is not on this server`));
    return;
  }
  slide = s;
  state.slide = id;
  if (!how.restore) state.view = null;
  renderSlideList(/** @type {HTMLUListElement} */ ($('slide-list')), slides, id, (next) => void openSlide(next, { restore: false }));
  $('slide-title').textContent = s.name;
  document.title = `${s.name} · sds viewer`;
  const wanted = how.restore ? state.analysis : null;
  pickAnalysis();
  if (wanted && wanted !== state.analysis) showError(new Error(`the analysis "${wanted}" of the link is not on this server${analysis ? '; showing the latest one' : ''}`));
  const opened = [viewA.open(s)];
  if (side) opened.push(side.view.open(s));
  try {
    await Promise.all(opened);
  } catch (err) {
    showError(err);
    return;
  }
  if (slide !== s) return; // another slide was chosen meanwhile
  if (state.view) viewA.setView(state.view);
  update();
  // opening moves the view without a viewport-change event: the scale bar and hash follow here
  viewChanged();
}

/** Chooses the analysis, overlay, comparison and output the state names, or sensible defaults. */
function pickAnalysis() {
  const list = slide?.analyses ?? [];
  analysis = list.find((a) => a.id === state.analysis) ?? [...list].sort((a, b) => b.created.localeCompare(a.created))[0] ?? null;
  state.analysis = analysis?.id ?? null;
  const all = overlays();
  // browsing slides keeps the layer: the same overlay key (variant/method/layer) when this analysis has it
  const main = overlay(state.overlay) ?? all[0] ?? null;
  state.overlay = main?.key ?? null;
  if (!overlay(state.compare)) state.compare = main && state.mode !== 'single' ? (defaultCompare(all, main)?.key ?? null) : null;
  if (!output(state.output)) state.output = null;
}

/**
 * @param {string} slideId
 * @param {string} analysisId a finished job's analysis
 * @param {{ show: 'always' | 'if-idle' }} [how] if-idle (analyses the page did not start, e.g. the demo's):
 *   shown when no analysis is, or when it supersedes the one shown (same model: the full demo plan after the quick one)
 */
async function analysisFinished(slideId, analysisId, how = { show: 'always' }) {
  try {
    const fresh = await getSlide(slideId);
    slides = slides.map((s) => (s.id === slideId ? fresh : s));
    if (slide?.id === slideId) {
      const shown = analysis;
      slide = fresh;
      const next = fresh.analyses.find((a) => a.id === analysisId);
      if (how.show === 'always' || !shown || (next && next.model.weights === shown.model.weights)) state.analysis = analysisId;
      pickAnalysis();
      // a re-analysis keeps its overlay keys and URLs: drop the old tiles, then show the new ones
      await Promise.all([viewA, side?.view].map((v) => v?.clearLayers()));
      update();
    }
    renderSlideList(/** @type {HTMLUListElement} */ ($('slide-list')), slides, slide?.id ?? null, (next) => void openSlide(next, { restore: false }));
  } catch (err) {
    showError(err);
  }
}

// ---- rendering ---------------------------------------------------------------------------------

function update() {
  renderControls();
  applyLayers();
  writeHash();
  exportPanel.refresh();
  viewerTools.update();
}

/**
 * @param {HTMLSelectElement} select
 * @param {[string, string][]} options value, text
 * @param {string} value
 */
function fillSelect(select, options, value) {
  const same = select.options.length === options.length && options.every(([v, t], i) => select.options[i]?.value === v && select.options[i]?.text === t);
  if (!same) select.replaceChildren(...options.map(([v, t]) => new Option(t, v)));
  select.value = value;
}

function renderControls() {
  const list = slide?.analyses ?? [];
  /** @type {HTMLButtonElement} */ ($('analyze-open')).disabled = !slide;
  $('no-analysis').hidden = !slide || list.length > 0;
  const analysisSelect = /** @type {HTMLSelectElement} */ ($('analysis'));
  analysisSelect.hidden = list.length === 0;
  fillSelect(analysisSelect, list.map((a) => [a.id, `${new Date(a.created).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' })} · ${a.model.weights.split('/').pop()}`]), analysis?.id ?? '');
  $('analysis-info').textContent = analysis
    ? `${analysis.model.arch}${analysis.model.surrogate ? ' + surrogate' : ''} · ${analysis.patches.count} patches of ${analysis.patches.size} px (level ${analysis.patches.level}) · ${Math.round(analysis.seconds)}\u00a0s`
    : '';

  const all = overlays();
  const main = overlay(state.overlay);
  $('saliency').hidden = !main;
  $('compare-section').hidden = !main;
  $('output-section').hidden = !analysis?.outputs?.length;
  if (main) {
    const ax = axes(all);
    fillSelect(/** @type {HTMLSelectElement} */ ($('variant')), ax.variants.map((v) => [v, v]), main.variant);
    fillSelect(/** @type {HTMLSelectElement} */ ($('method')), ax.methods.map((v) => [v, v]), main.method);
    const layers = ax.layers.filter((l) => find(all, { ...main, layer: l }));
    const box = $('layers');
    if (box.dataset.layers !== layers.join(',')) {
      box.dataset.layers = layers.join(',');
      box.replaceChildren(
        ...layers.map((l) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = l;
          b.dataset.layer = l;
          b.setAttribute('role', 'radio');
          return b;
        }),
      );
    }
    for (const b of box.querySelectorAll('button')) b.setAttribute('aria-checked', String(b.dataset.layer === main.layer));
  }
  /** @type {HTMLInputElement} */ ($('overlay-on')).checked = state.visible;
  /** @type {HTMLInputElement} */ ($('opacity')).value = String(state.opacity);
  $('opacity-value').textContent = state.opacity.toFixed(2);
  /** @type {HTMLSelectElement} */ ($('colormap')).value = state.colormap;
  const [lo, hi] = main ? rangeOf(main) : [NaN, NaN];
  const minInput = /** @type {HTMLInputElement} */ ($('range-min'));
  const maxInput = /** @type {HTMLInputElement} */ ($('range-max'));
  if (document.activeElement !== minInput) minInput.value = Number.isFinite(lo) ? formatValue(lo) : '';
  if (document.activeElement !== maxInput) maxInput.value = Number.isFinite(hi) ? formatValue(hi) : '';
  /** @type {HTMLButtonElement} */ ($('range-reset')).disabled = state.min === null;

  for (const b of $('compare-section').querySelectorAll('button[data-mode]')) b.setAttribute('aria-pressed', String(/** @type {HTMLElement} */ (b).dataset.mode === state.mode));
  fillSelect(/** @type {HTMLSelectElement} */ ($('compare')), [['', 'the slide alone'], ...all.filter((o) => o !== main).map((o) => /** @type {[string, string]} */ ([o.key, label(o)]))], state.compare ?? '');
  fillSelect(/** @type {HTMLSelectElement} */ ($('output')), [['', 'none'], ...(analysis?.outputs ?? []).map((o) => /** @type {[string, string]} */ ([o.key, label(o)]))], state.output ?? '');

  $('stage').dataset.mode = state.mode;
  $('pane-b').hidden = state.mode !== 'side';
  $('curtain').hidden = state.mode !== 'curtain' || !main;
  placeCurtain($('curtain'), state.split);
  const cmp = overlay(state.compare);
  const mainText = main ? label(main) + (state.visible ? '' : ' (hidden)') : 'slide';
  const cmpText = cmp ? label(cmp) : 'slide';
  $('curtain-left').textContent = mainText;
  $('curtain-right').textContent = cmpText;
  $('caption-a').hidden = state.mode !== 'side';
  $('caption-a').textContent = mainText;
  $('caption-b').textContent = cmpText;

  const comparing = state.mode !== 'single' && cmp;
  drawLegend($('legend-main'), main ? { colormap: state.colormap, lo, hi, title: comparing ? `${label(main)} (${state.mode === 'side' ? 'left view' : 'left of the divider'})` : label(main) } : null);
  const [clo, chi] = cmp ? rangeOf(cmp) : [0, 0];
  drawLegend($('legend-compare'), comparing && cmp ? { colormap: state.colormap, lo: clo, hi: chi, title: `${label(cmp)} (${state.mode === 'side' ? 'right view' : 'right of the divider'})` } : null);
  const out = output(state.output);
  drawLegend($('legend-output'), out ? { colormap: OUTPUT_COLORMAP, lo: out.range[0], hi: out.range[1], title: label(out) } : null);
}

/** @param {OverlayInfo} o @returns {[number, number]} the user's range, else the overlay's own */
function rangeOf(o) {
  return state.min !== null && state.max !== null ? [state.min, state.max] : o.range;
}

/**
 * @param {OverlayInfo | null} info
 * @param {'left' | 'right' | null} clip
 * @returns {LayerSpec | null}
 */
function spec(info, clip) {
  if (!info) return null;
  const [lo, hi] = rangeOf(info);
  return { info, colormap: state.colormap, lo, hi, opacity: state.visible ? state.opacity : 0, clip, ...(liveVersion ? { version: liveVersion } : {}) };
}

/**
 * The model's output (class probabilities) under the saliency, at the same opacity, on its own
 * scale: `o` hides the saliency to show it alone.
 * @returns {LayerSpec | null}
 */
function outputSpec() {
  const o = output(state.output);
  return o ? { info: o, colormap: OUTPUT_COLORMAP, lo: o.range[0], hi: o.range[1], opacity: state.opacity, clip: null } : null;
}

function applyLayers() {
  const main = overlay(state.overlay);
  const cmp = overlay(state.compare);
  /** @type {Promise<void>[]} */
  const jobs = [viewA.setLayer('output', outputSpec())];
  jobs.push(viewA.setLayer('main', spec(main, state.mode === 'curtain' ? 'left' : null)));
  jobs.push(viewA.setLayer('compare', state.mode === 'curtain' ? spec(cmp, 'right') : null));
  placeSplit();
  if (state.mode === 'side' && slide) {
    const s = ensureSide();
    jobs.push(s.setLayer('output', outputSpec()), s.setLayer('main', spec(cmp, null)));
  } else if (side) {
    side.unlink();
    side.view.destroy();
    side = null;
  }
  Promise.all(jobs).catch(showError);
}

function ensureSide() {
  if (side) return side.view;
  const view = new SlideView($('view-b'), { navigator: false, onError: showError });
  /** @type {{ view: SlideView, unlink: () => void }} */
  const s = { view, unlink: () => undefined };
  side = s;
  if (slide) {
    view.open(slide).then(() => {
      if (side !== s) return;
      s.unlink = linkViewports(viewA.viewer, view.viewer);
      // the layers were dropped by open(): set them again
      applyLayers();
    }, showError);
  }
  return view;
}

function placeSplit() {
  viewA.setSplit(state.split * $('pane-a').clientWidth);
}

let hashTimer = 0;
function writeHash() {
  clearTimeout(hashTimer);
  const h = formatHash(state);
  if (h !== location.hash) history.replaceState(null, '', h);
}

function viewChanged() {
  const zoom = viewA.imageZoom();
  updateScaleBar($('scalebar'), slide?.mpp ? (slide.mpp.x + slide.mpp.y) / 2 : null, zoom);
  $('magnification').textContent = slide?.magnification && zoom > 0 ? `${Number((slide.magnification * zoom).toPrecision(2))}×` : '';
  // the hash follows the view once it rests
  clearTimeout(hashTimer);
  hashTimer = window.setTimeout(() => {
    const v = viewA.getView();
    if (v && slide) {
      state.view = v;
      writeHash();
    }
  }, 250);
}
viewA.viewer.addHandler('viewport-change', viewChanged);
new ResizeObserver(placeSplit).observe($('pane-a'));

// ---- controls ----------------------------------------------------------------------------------

/** @param {OverlayInfo | undefined | null} next */
function showOverlay(next) {
  const main = overlay(state.overlay);
  if (!next || !main || next === main) return;
  state.compare = followLayer(overlays(), overlay(state.compare), main, next)?.key ?? null;
  if (state.compare === next.key) state.compare = defaultCompare(overlays(), next)?.key ?? null;
  state.overlay = next.key;
  update();
}

/** @param {'single' | 'curtain' | 'side'} mode */
function setMode(mode) {
  state.mode = mode;
  const main = overlay(state.overlay);
  if (mode !== 'single' && !state.compare && main) state.compare = defaultCompare(overlays(), main)?.key ?? null;
  update();
}

$('analysis').addEventListener('change', (e) => {
  state.analysis = /** @type {HTMLSelectElement} */ (e.target).value;
  pickAnalysis();
  update();
});
$('variant').addEventListener('change', (e) => {
  const main = overlay(state.overlay);
  const variant = /** @type {HTMLSelectElement} */ (e.target).value;
  if (main) showOverlay(find(overlays(), { ...main, variant }) ?? overlays().find((o) => o.variant === variant && o.method === main.method) ?? overlays().find((o) => o.variant === variant));
});
$('method').addEventListener('change', (e) => {
  const main = overlay(state.overlay);
  const method = /** @type {HTMLSelectElement} */ (e.target).value;
  if (main) showOverlay(find(overlays(), { ...main, method }) ?? overlays().find((o) => o.method === method && o.variant === main.variant) ?? overlays().find((o) => o.method === method));
});
$('layers').addEventListener('click', (e) => {
  const layer = /** @type {HTMLElement} */ (e.target).closest('button')?.dataset.layer;
  const main = overlay(state.overlay);
  if (layer && main) showOverlay(find(overlays(), { ...main, layer }));
});
$('overlay-on').addEventListener('change', (e) => {
  state.visible = /** @type {HTMLInputElement} */ (e.target).checked;
  update();
});
$('opacity').addEventListener('input', (e) => {
  state.opacity = Number(/** @type {HTMLInputElement} */ (e.target).value);
  state.visible = true;
  update();
});
$('colormap').addEventListener('change', (e) => {
  state.colormap = /** @type {import('./state.js').Colormap} */ (/** @type {HTMLSelectElement} */ (e.target).value);
  update();
});
for (const id of ['range-min', 'range-max']) {
  $(id).addEventListener('change', () => {
    const num = (/** @type {string} */ id) => {
      const text = /** @type {HTMLInputElement} */ ($(id)).value.trim();
      return text === '' ? NaN : Number(text);
    };
    const [lo, hi] = [num('range-min'), num('range-max')];
    if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) [state.min, state.max] = [lo, hi];
    else showError(new Error(`the colour range needs min < max (got ${lo} and ${hi})`));
    update();
  });
}
$('range-reset').addEventListener('click', () => {
  state.min = state.max = null;
  update();
});
for (const b of $('compare-section').querySelectorAll('button[data-mode]')) {
  b.addEventListener('click', () => setMode(/** @type {'single' | 'curtain' | 'side'} */ (/** @type {HTMLElement} */ (b).dataset.mode)));
}
$('compare').addEventListener('change', (e) => {
  state.compare = /** @type {HTMLSelectElement} */ (e.target).value || null;
  update();
});
$('output').addEventListener('change', (e) => {
  state.output = /** @type {HTMLSelectElement} */ (e.target).value || null;
  update();
});
$('zoom-fit').addEventListener('click', () => viewA.viewer.viewport.goHome());
$('zoom-native').addEventListener('click', () => {
  const v = viewA.getView();
  if (v) viewA.setView({ ...v, zoom: 1 }, false);
});
bindCurtain($('curtain'), $('curtain-handle'), {
  onMove: (f) => {
    state.split = f;
    placeCurtain($('curtain'), f);
    placeSplit();
  },
  onDone: writeHash,
});
const help = /** @type {HTMLDialogElement} */ ($('help'));
$('help-open').addEventListener('click', () => help.showModal());
bindKeys((action) => {
  const main = overlay(state.overlay);
  switch (action) {
    case 'layerDown':
    case 'layerUp':
      if (main) showOverlay(stepLayer(overlays(), main, action === 'layerUp' ? 1 : -1));
      break;
    case 'toggleOverlay':
      state.visible = !state.visible;
      update();
      break;
    case 'curtain':
      setMode(state.mode === 'curtain' ? 'single' : 'curtain');
      break;
    case 'side':
      setMode(state.mode === 'side' ? 'single' : 'side');
      break;
    case 'help':
      if (help.open) help.close();
      else help.showModal();
      break;
  }
});
bindAnalyzeForm({ slide: () => slide, onDone: (s, a) => void analysisFinished(s, a), onError: showError });
// ruler, rectangle / polygon statistics and sds regions over the slide (tools.js); the threshold follows the legend's upper value
const viewerTools = bindViewerTools({
  pane: $('pane-a'),
  view: viewA,
  slide: () => slide,
  analysis: () => analysis,
  overlay: () => overlay(state.overlay),
  upper: () => {
    const main = overlay(state.overlay);
    return main ? rangeOf(main)[1] : null;
  },
  onError: showError,
});
// exports of what is on screen: the overlay in the colours and range it is drawn with
const exportPanel = bindExportPanel({
  current: () => {
    const main = overlay(state.overlay);
    return analysis ? { analysis, overlay: main, colormap: state.colormap, range: main ? rangeOf(main) : null } : null;
  },
  onError: showError,
});
/**
 * While an analysis runs behind the page (sds start's demo), its slide is looked at again every few
 * seconds: a running analysis is listed with the overlays computed so far, so the page shows it when
 * nothing else is shown, and draws its tiles again as more of it is finished.
 */
let lastLook = 0;
/** @param {string} slideId */
async function lookAgain(slideId) {
  const now = performance.now();
  if (now - lastLook < 2500) return;
  lastLook = now;
  try {
    const fresh = await getSlide(slideId);
    slides = slides.map((s) => (s.id === slideId ? fresh : s));
    if (slide?.id !== slideId) return;
    const before = analysis && JSON.stringify(analysis);
    slide = fresh;
    pickAnalysis();
    // the analysis shown changed (the running one: more chunks, another colour range): new tiles
    if (before !== (analysis && JSON.stringify(analysis))) {
      liveVersion++;
      update();
    }
    renderSlideList(/** @type {HTMLUListElement} */ ($('slide-list')), slides, slide.id, (next) => void openSlide(next, { restore: false }));
  } catch (err) {
    showError(err);
  }
}

const serverJobs = {
  /** @param {string} id */
  slideName: (id) => slides.find((s) => s.id === id)?.name ?? id,
  /** @param {string} s */
  onProgress: (s) => void lookAgain(s),
  /** @param {string} s @param {string} a */
  onDone: (s, a) => void analysisFinished(s, a, { show: 'if-idle' }),
  onError: showError,
};

// a pasted or edited link: apply it as a whole
window.addEventListener('hashchange', () => {
  const next = parseHash(location.hash);
  if (formatHash(next) === formatHash(state)) return;
  state = next;
  if (next.slide && next.slide !== slide?.id) void openSlide(next.slide, { restore: true });
  else {
    pickAnalysis();
    if (state.view) viewA.setView(state.view);
    update();
  }
});

// ---- start -------------------------------------------------------------------------------------

(async () => {
  try {
    const [list, config] = await Promise.all([listSlides(), getConfig()]);
    slides = list;
    setColormapAnchors(config.colormaps);
    // none yet: `sds start` may still be making the sample slide; look again until one is there
    while (!slides.length) {
      $('slides-empty').hidden = false;
      await new Promise((ok) => setTimeout(ok, 2000));
      slides = await listSlides();
    }
  } catch (err) {
    showError(err);
    return;
  }
  $('slides-empty').hidden = slides.length > 0;
  renderSlideList(/** @type {HTMLUListElement} */ ($('slide-list')), slides, null, (id) => void openSlide(id, { restore: false }));
  const first = state.slide ?? slides[0]?.id;
  if (first) await openSlide(first, { restore: true });
  document.body.dataset.ready = 'true';
  // the analyses running behind the page (sds start's demo): their progress, each shown when done
  void followServerJobs(serverJobs);
})();
