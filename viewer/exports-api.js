/**
 * The server's export and cancel routes (server/API.md): start an export of a finished analysis,
 * cancel it, cancel an analysis job. Errors become ApiError (message + suggestion), as in api.js.
 */
import { ApiError } from './api.js';

/** @typedef {import('../contracts/export.js').ExportStatus} ExportStatus */
/** @typedef {import('../contracts/export.js').ExportRequestInput} ExportRequest */
/** @typedef {import('../contracts/api.js').JobStatus} JobStatus */

/**
 * @template T
 * @param {string} url
 * @param {RequestInit} init
 * @returns {Promise<T>}
 */
async function send(url, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError(`the server did not answer (${url})`, { code: 'NETWORK', suggestion: 'is `sds serve` still running?' });
  }
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    // no JSON: reported by status below
  }
  if (!res.ok) {
    const e = body?.error;
    throw new ApiError(e?.message ?? `${res.status} ${res.statusText} from ${url}`, { code: e?.code, suggestion: e?.suggestion, status: res.status });
  }
  return /** @type {T} */ (body);
}

/**
 * @param {string} analysis
 * @param {ExportRequest} body
 * @returns {Promise<{ export: string, events: string, status: ExportStatus }>}
 */
export const startExport = (analysis, body) => send(`/api/analyses/${encodeURIComponent(analysis)}/exports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** @param {string} id @returns {Promise<ExportStatus>} */
export const cancelExport = (id) => send(`/api/exports/${encodeURIComponent(id)}`, { method: 'DELETE' });

/** @param {string} id @returns {Promise<JobStatus>} */
export const cancelJob = (id) => send(`/api/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
