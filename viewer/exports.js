/**
 * The Export panel: the overlay on screen as a pyramidal TIFF (QuPath, OpenSlide: in the colours
 * and range shown), or the analysed patches as QuPath detections (GeoJSON). Each export is a row
 * with its progress from the server's event stream (count, rate, ETA), a Cancel button while it
 * runs, and the download link when it is done.
 */
import { cancelExport, startExport } from './exports-api.js';
import { formatDuration } from './format.js';

/** @typedef {import('./api.js').AnalysisSummary} AnalysisSummary */
/** @typedef {import('./api.js').OverlayInfo} OverlayInfo */
/** @typedef {import('../contracts/export.js').ExportRequestInput} ExportRequest */

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * What is on screen: the analysis, its overlay, the colour map and the range it is drawn with.
 * @typedef {{ analysis: AnalysisSummary, overlay: OverlayInfo | null, colormap: string, range: [number, number] | null }} OnScreen
 */

/**
 * @param {{ current: () => OnScreen | null, onError: (err: unknown) => void }} app
 * @returns {{ refresh: () => void }} refresh: call when the analysis or overlay on screen changes
 */
export function bindExportPanel(app) {
  const section = $('export');
  const what = $('export-what');
  const tiffButton = /** @type {HTMLButtonElement} */ ($('export-tiff'));
  const detectionsButton = /** @type {HTMLButtonElement} */ ($('export-detections'));

  const refresh = () => {
    const now = app.current();
    // an analysis still running is refused by the server with a message (shown in the banner)
    section.hidden = !now;
    if (!now) return;
    tiffButton.disabled = !now.overlay;
    what.textContent = now.overlay ? `${now.overlay.key} · ${now.colormap}${now.range ? ` [${now.range.map((v) => v.toPrecision(3)).join(', ')}]` : ''}` : 'no overlay on screen';
  };

  /** @param {'tiff' | 'detections'} kind */
  const start = async (kind) => {
    const now = app.current();
    if (!now) return;
    /** @type {ExportRequest} */
    let body;
    if (kind === 'tiff') {
      if (!now.overlay) return;
      body = {
        kind: 'tiff',
        overlay: now.overlay.key,
        colormap: now.colormap,
        ...(now.range ? { range: now.range } : {}),
        compression: /** @type {'deflate' | 'jpeg'} */ (/** @type {HTMLSelectElement} */ ($('export-compression')).value),
        fullResolution: /** @type {HTMLInputElement} */ ($('export-full')).checked,
      };
    } else body = { kind: 'detections' };
    const label = kind === 'tiff' ? `TIFF ${now.overlay?.key}` : 'detections';
    try {
      const r = await startExport(now.analysis.id, body);
      follow(r.export, label);
    } catch (err) {
      app.onError(err);
    }
  };
  tiffButton.addEventListener('click', () => void start('tiff'));
  detectionsButton.addEventListener('click', () => void start('detections'));

  /**
   * One export's row: progress, Cancel, then the download link.
   * @param {string} id
   * @param {string} label
   */
  function follow(id, label) {
    const row = document.createElement('li');
    row.className = 'export-item';
    row.dataset.state = 'queued';
    row.dataset.id = id;
    const title = document.createElement('div');
    title.className = 'small';
    title.textContent = label;
    const bar = document.createElement('progress');
    const text = document.createElement('span');
    text.className = 'small muted export-text';
    text.textContent = 'waiting…';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'export-cancel';
    cancel.textContent = 'Cancel';
    const line = document.createElement('div');
    line.className = 'export-line';
    line.append(bar, cancel);
    row.append(title, line, text);
    $('export-list').prepend(row);
    // the panel may be scrolled elsewhere: the new row is where the progress shows
    row.scrollIntoView({ block: 'nearest' });

    const events = new EventSource(`/api/exports/${encodeURIComponent(id)}/events`);
    const ended = (/** @type {string} */ state, /** @type {string} */ message) => {
      events.close();
      row.dataset.state = state;
      // a determinate bar: an empty one no longer looks busy
      if (state !== 'done') {
        bar.max = 1;
        bar.value = 0;
      }
      cancel.remove();
      text.textContent = message;
    };
    cancel.addEventListener('click', async () => {
      cancel.disabled = true;
      try {
        await cancelExport(id);
      } catch (err) {
        cancel.disabled = false;
        app.onError(err);
      }
    });
    events.addEventListener('progress', (e) => {
      const p = /** @type {{ state: string, done: number, total: number, unit: string, rate: number, eta: number | null }} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
      row.dataset.state = p.state;
      if (p.total > 0) {
        bar.max = p.total;
        bar.value = p.done;
      }
      if (p.state === 'queued') return;
      const rate = p.rate > 0 ? ` · ${p.rate >= 10 ? p.rate.toFixed(0) : p.rate.toFixed(2)} ${p.unit}/s` : '';
      const eta = p.done < p.total && p.eta !== null ? ` · ETA ${formatDuration(p.eta)}` : '';
      text.textContent = p.total ? `${p.done} / ${p.total} ${p.unit}${rate}${eta}` : 'starting…';
    });
    events.addEventListener('done', (e) => {
      const d = /** @type {{ file: string, name: string, bytes: number }} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
      bar.max = 1;
      bar.value = 1;
      ended('done', '');
      const a = document.createElement('a');
      a.href = d.file;
      a.download = d.name;
      a.className = 'export-download';
      a.textContent = `Download ${d.name}`;
      text.replaceChildren(a, ` (${(d.bytes / 1e6).toFixed(d.bytes < 1e5 ? 2 : 1)} MB)`);
    });
    events.addEventListener('cancelled', () => ended('cancelled', 'cancelled (no file kept)'));
    events.addEventListener('failed', (e) => {
      const { error } = /** @type {{ error?: string }} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
      ended('failed', `failed: ${error ?? 'unknown error'}`);
      app.onError(new Error(`the export (${label}) failed: ${error ?? 'unknown error'}`));
    });
    events.addEventListener('error', () => {
      if (events.readyState === EventSource.CLOSED && !['done', 'failed', 'cancelled'].includes(row.dataset.state ?? '')) ended('failed', 'lost contact with the server');
    });
  }

  refresh();
  return { refresh };
}
