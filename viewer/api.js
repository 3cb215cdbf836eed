/**
 * The server's HTTP contract (server/API.md, types in contracts/api.ts), and one fetch helper that
 * turns the server's JSON errors into ApiError (message + suggestion) for the page's error banner.
 */

// The server's JSON shapes, stated once in contracts/api.ts (type-checked with `npx tsc -p viewer`).
/** @typedef {import('../contracts/api.js').Mpp} Mpp */
/** @typedef {import('../contracts/api.js').OverlayInfo} OverlayInfo */
/** @typedef {import('../contracts/api.js').AnalysisSummary} AnalysisSummary */
/** @typedef {import('../contracts/api.js').SlideSummary} SlideSummary */
/** @typedef {import('../contracts/api.js').ModelInfo} ModelInfo */
/** @typedef {import('../contracts/api.js').ViewerConfig} ViewerConfig */
/** @typedef {{ slide: string, model: string, layers: string[], methods: string[], variants: string[], patch?: number, overlap?: number, roi?: unknown }} AnalysisRequest */
/** @typedef {{ done: number, total: number, rate: number, eta: number }} JobProgress */

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{ code?: string, suggestion?: string, status?: number }} [info]
   */
  constructor(message, info = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = info.code ?? 'ERROR';
    this.suggestion = info.suggestion;
    this.status = info.status;
  }
}

/**
 * @template T
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<T>}
 */
async function request(url, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new ApiError(`the server did not answer (${url})`, { code: 'NETWORK', suggestion: 'is `sds serve` still running?' });
  }
  const text = await res.text();
  /** @type {unknown} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // a non-JSON body is reported below as it is
  }
  if (!res.ok) {
    const e = /** @type {{ error?: { code?: string, message?: string, suggestion?: string } } | null} */ (body)?.error;
    throw new ApiError(e?.message ?? `${res.status} ${res.statusText} from ${url}`, { code: e?.code, suggestion: e?.suggestion, status: res.status });
  }
  return /** @type {T} */ (body);
}

/** @returns {Promise<SlideSummary[]>} */
export const listSlides = () => request('/api/slides');
/** @param {string} id @returns {Promise<SlideSummary>} */
export const getSlide = (id) => request(`/api/slides/${encodeURIComponent(id)}`);
/** @param {string} id @returns {Promise<AnalysisSummary>} */
export const getAnalysis = (id) => request(`/api/analyses/${encodeURIComponent(id)}`);
/** @returns {Promise<ModelInfo[]>} */
export const listModels = () => request('/api/models');
/** @type {Promise<ViewerConfig> | undefined} */
let config;
/** What the server offers (methods, variants, defaults, colour maps); fetched once. @returns {Promise<ViewerConfig>} */
export const getConfig = () => (config ??= request('/api/config'));
/** The jobs the server remembers, in the order submitted (the demo analyses of `sds start` among them). @returns {Promise<import('../contracts/api.js').JobStatus[]>} */
export const listJobs = () => request('/api/jobs');
/** @param {AnalysisRequest} body @returns {Promise<{ job: string, events: string }>} */
export const startAnalysis = (body) => request('/api/analyses', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/**
 * Deep Zoom geometry from a .dzi descriptor (the live overlay's tile size is the server's choice).
 * @param {string} url
 * @returns {Promise<{ width: number, height: number, tileSize: number, overlap: number, format: string }>}
 */
export async function getDzi(url) {
  const res = await fetch(url).catch(() => null);
  if (!res || !res.ok) throw new ApiError(`overlay descriptor ${url} could not be loaded (${res ? res.status : 'no answer'})`, { status: res?.status });
  const doc = new DOMParser().parseFromString(await res.text(), 'application/xml');
  const image = doc.getElementsByTagName('Image')[0];
  const size = doc.getElementsByTagName('Size')[0];
  const num = (/** @type {Element | undefined} */ el, /** @type {string} */ name) => Number(el?.getAttribute(name));
  const out = { width: num(size, 'Width'), height: num(size, 'Height'), tileSize: num(image, 'TileSize'), overlap: num(image, 'Overlap'), format: image?.getAttribute('Format') ?? 'png' };
  if (![out.width, out.height, out.tileSize].every((v) => Number.isInteger(v) && v > 0) || !Number.isInteger(out.overlap)) {
    throw new ApiError(`overlay descriptor ${url} is not a Deep Zoom image`);
  }
  return out;
}
