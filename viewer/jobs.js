/**
 * "Analyse slide…": a small form (model, layers, methods, variants, patch, optional regions from a
 * QuPath GeoJSON file, read here and sent inline) that POSTs an analysis job, then the job's
 * progress from its Server-Sent Events (count, rate, ETA) until it is done, with a Cancel button
 * (the server keeps its finished batches: starting the same analysis again resumes).
 */
import { getConfig, listJobs, listModels, startAnalysis } from './api.js';
import { cancelJob } from './exports-api.js';
import { formatDuration } from './format.js';

/** @typedef {import('./api.js').ModelInfo} ModelInfo */
/** @typedef {import('./api.js').JobProgress} JobProgress */
/** @typedef {import('./api.js').ViewerConfig} ViewerConfig */

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {HTMLElement} root
 * @param {string} name
 * @param {string[]} values
 * @param {(v: string) => boolean} checked
 */
function checkboxes(root, name, values, checked) {
  root.replaceChildren(
    ...values.map((v) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.name = name;
      input.value = v;
      input.checked = checked(v);
      label.append(input, ` ${v}`);
      return label;
    }),
  );
}

/** @param {HTMLElement} root @returns {string[]} */
const checkedValues = (root) => [...root.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value);

/**
 * @param {{ slide: () => { id: string, name: string } | null, onDone: (slide: string, analysis: string) => void, onError: (err: unknown) => void }} app
 */
export function bindAnalyzeForm(app) {
  const dialog = /** @type {HTMLDialogElement} */ ($('analyze'));
  const form = /** @type {HTMLFormElement} */ ($('analyze-form'));
  const modelSelect = /** @type {HTMLSelectElement} */ ($('analyze-model'));
  const formError = $('analyze-error');
  /** @type {ModelInfo[]} */
  let models = [];
  /** @type {ViewerConfig | undefined} */
  let config;

  // the method and variant lists and what is preselected are the server's (contracts/analysis.ts)
  const renderModel = () => {
    const m = models.find((x) => x.id === modelSelect.value);
    if (!m || !config) return;
    const d = config.defaults;
    checkboxes($('analyze-layers'), 'layers', m.layers, (l) => (m.defaultLayers ?? d.layers).includes(l));
    /** @type {HTMLInputElement} */ ($('analyze-patch')).value = String(m.patch ?? d.patch);
    checkboxes($('analyze-methods'), 'methods', [...config.methods], (v) => /** @type {readonly string[]} */ (d.methods).includes(v));
    checkboxes($('analyze-variants'), 'variants', config.variants.filter((v) => v !== 'surrogate' || m.surrogate), (v) => /** @type {readonly string[]} */ (d.variants).includes(v));
  };
  modelSelect.addEventListener('change', renderModel);

  $('analyze-open').addEventListener('click', async () => {
    const slide = app.slide();
    if (!slide) return;
    $('analyze-slide').textContent = slide.name;
    formError.hidden = true;
    // regions are chosen for each analysis anew
    /** @type {HTMLInputElement} */ ($('analyze-roi')).value = '';
    try {
      [models, config] = await Promise.all([listModels(), getConfig()]);
      /** @type {HTMLInputElement} */ ($('analyze-patch')).value = String(config.defaults.patch);
      // the server resolves the overlap from the patch (contracts/analysis.ts defaultOverlap); say what it does at the default
      $('analyze-overlap').textContent = `Neighbouring patches overlap by a quarter of the patch in 32 px steps (${config.defaults.overlap} px at ${config.defaults.patch} px) and are blended: no patch grid at full zoom.`;
    } catch (err) {
      app.onError(err);
      return;
    }
    modelSelect.replaceChildren(
      ...models.map((m) => {
        const o = new Option(m.name + (m.surrogate ? ' + surrogate' : ''), m.id);
        o.title = `${m.arch}, ${m.classes} classes`;
        return o;
      }),
    );
    renderModel();
    dialog.showModal();
  });
  $('analyze-cancel').addEventListener('click', () => dialog.close());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const slide = app.slide();
    if (!slide) return;
    const body = {
      slide: slide.id,
      model: modelSelect.value,
      layers: checkedValues($('analyze-layers')),
      methods: checkedValues($('analyze-methods')),
      variants: checkedValues($('analyze-variants')),
      patch: Number(/** @type {HTMLInputElement} */ ($('analyze-patch')).value),
    };
    const missing = ['layers', 'methods', 'variants'].filter((k) => !(/** @type {Record<string, unknown[]>} */ (/** @type {unknown} */ (body))[k]?.length));
    if (missing.length) {
      formError.textContent = `choose at least one of: ${missing.join(', ')}`;
      formError.hidden = false;
      return;
    }
    // regions: the file's content, checked by the server (its 400 names the problem)
    const roiFile = /** @type {HTMLInputElement} */ ($('analyze-roi')).files?.[0];
    if (roiFile) {
      try {
        /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (body)).roi = JSON.parse(await roiFile.text());
      } catch (err) {
        formError.textContent = `roi: ${roiFile.name} is not JSON (${err instanceof Error ? err.message : String(err)})`;
        formError.hidden = false;
        return;
      }
    }
    try {
      const job = await startAnalysis(body);
      dialog.close();
      follow(job.job, slide, app);
    } catch (err) {
      // a bad field is named by the server: show it beside the form
      formError.textContent = err instanceof Error ? err.message : String(err);
      formError.hidden = false;
    }
  });
}

/** the jobs this page follows or has followed (by id), and how many it follows now (one box shows one) */
const followed = new Set();
let following = 0;
/** how often the page looks for jobs it did not start while it follows none */
const JOB_POLL_MS = 3000;

/**
 * Follows the analyses queued or running on the server that this page did not start (those `sds
 * start` runs behind the page, or another tab's), one after another in the same box as a job
 * started here; `onDone` as each one finishes. Looks again every few seconds while there is none.
 * @param {{ slideName: (id: string) => string, onDone: (slide: string, analysis: string) => void, onProgress?: (slide: string, done: number) => void, onError: (err: unknown) => void }} app
 */
export async function followServerJobs(app) {
  const later = () => void setTimeout(() => void followServerJobs(app), JOB_POLL_MS);
  if (following) return later();
  let jobs;
  try {
    jobs = await listJobs();
  } catch {
    // the server is gone or busy: a followed job's stream reports lost contact; look again later
    return later();
  }
  const open = jobs.filter((j) => (j.state === 'queued' || j.state === 'running') && !followed.has(j.id));
  const next = open.find((j) => j.state === 'running') ?? open[0];
  if (!next || following) return later();
  const ofSlide = jobs.filter((j) => j.slide === next.slide);
  const label = ofSlide.length > 1 ? `analysis ${ofSlide.indexOf(next) + 1} of ${ofSlide.length}` : 'analysis';
  follow(next.id, { id: next.slide, name: `${app.slideName(next.slide)} · ${label}` }, app, () => void followServerJobs(app));
}

/**
 * @param {string} id the job (its event stream: /api/jobs/<id>/events)
 * @param {{ id: string, name: string }} slide
 * @param {{ onDone: (slide: string, analysis: string) => void, onError: (err: unknown) => void, onProgress?: (slide: string, done: number) => void }} app
 * @param {() => void} [onEnd] after the job is done or failed
 */
function follow(id, slide, app, onEnd) {
  followed.add(id);
  following++;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    following--;
    onEnd?.();
  };
  const box = $('job');
  const bar = /** @type {HTMLProgressElement} */ ($('job-progress'));
  const text = $('job-text');
  const cancel = /** @type {HTMLButtonElement} */ ($('job-cancel'));
  cancel.disabled = false;
  cancel.onclick = async () => {
    cancel.disabled = true;
    try {
      await cancelJob(id);
    } catch (err) {
      cancel.disabled = false;
      app.onError(err);
    }
  };
  box.hidden = false;
  box.dataset.state = 'queued';
  bar.removeAttribute('value');
  text.textContent = `${slide.name}: waiting to start…`;
  const events = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
  events.addEventListener('progress', (e) => {
    const p = /** @type {JobProgress} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
    box.dataset.state = 'running';
    if (p.total > 0) {
      bar.max = p.total;
      bar.value = p.done;
    }
    if (p.total === 0) {
      // the patch count is known once the tissue is found
      text.textContent = `${slide.name}: finding tissue…`;
      return;
    }
    const rate = p.rate > 0 ? ` · ${p.rate >= 10 ? p.rate.toFixed(0) : p.rate.toFixed(2)} patches/s` : '';
    const eta = p.done < p.total && p.rate > 0 ? ` · ETA ${formatDuration(p.eta)}` : '';
    text.textContent = `${slide.name}: ${p.done} / ${p.total} patches${rate}${eta}`;
    app.onProgress?.(slide.id, p.done);
  });
  events.addEventListener('done', (e) => {
    events.close();
    const { analysis } = /** @type {{ analysis: string }} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
    box.dataset.state = 'done';
    bar.max = 1;
    bar.value = 1;
    text.textContent = `${slide.name}: done`;
    setTimeout(() => {
      if (box.dataset.state === 'done') box.hidden = true;
    }, 4000);
    app.onDone(slide.id, analysis);
    end();
  });
  events.addEventListener('cancelled', (e) => {
    events.close();
    const { done, total } = /** @type {{ done: number, total: number }} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
    box.dataset.state = 'cancelled';
    // a determinate bar at what was done: an indeterminate one would still look busy
    bar.max = Math.max(1, total);
    bar.value = done;
    text.textContent = `${slide.name}: cancelled${total ? ` at ${done} / ${total} patches` : ''} (finished batches are kept: starting the same analysis again resumes)`;
    end();
  });
  events.addEventListener('failed', (e) => {
    events.close();
    const { error } = /** @type {{ error: string | { message?: string } }} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
    box.dataset.state = 'failed';
    const message = typeof error === 'string' ? error : (error?.message ?? 'unknown error');
    text.textContent = `${slide.name}: failed`;
    app.onError(new Error(`the analysis of ${slide.name} failed: ${message}`));
    end();
  });
  events.addEventListener('error', () => {
    // EventSource reconnects by itself (the server resends the state); only a closed stream is final
    if (events.readyState === EventSource.CLOSED && box.dataset.state !== 'done' && box.dataset.state !== 'failed' && box.dataset.state !== 'cancelled') {
      box.dataset.state = 'failed';
      text.textContent = `${slide.name}: lost contact with the server`;
      app.onError(new Error('lost contact with the analysis job'));
      end();
    }
  });
}
