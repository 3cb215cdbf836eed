/**
 * The viewer tools' calls to the server (server/API.md "Viewer tools"; shapes in contracts/api.ts):
 * regions files, regions on demand, statistics inside a shape. Errors become ApiError like api.js.
 */
import { ApiError } from './api.js';

/** @typedef {import('../contracts/api.js').RegionsFileInfo} RegionsFileInfo */
/** @typedef {import('../contracts/api.js').RegionsResponse} RegionsResponse */
/** @typedef {import('../contracts/api.js').RegionStatsResponse} RegionStatsResponse */
/** @typedef {import('../contracts/api.js').RegionFeatureJson} RegionFeatureJson */

/**
 * @template T
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<T>}
 */
async function call(url, init) {
  const res = await fetch(url, init).catch(() => null);
  if (!res) throw new ApiError(`the server did not answer (${url})`, { code: 'NETWORK', suggestion: 'is `sds serve` still running?' });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = /** @type {{ error?: { code?: string, message?: string, suggestion?: string } } | null} */ (body)?.error;
    throw new ApiError(e?.message ?? `${res.status} ${res.statusText} from ${url}`, { code: e?.code, suggestion: e?.suggestion, status: res.status });
  }
  return /** @type {T} */ (body);
}

/** `/api/analyses/<aid>/overlays/<key>` (the key's segments are URL-safe ids). @param {string} aid @param {string} key */
const overlayBase = (aid, key) => `/api/analyses/${encodeURIComponent(aid)}/overlays/${key.split('/').map(encodeURIComponent).join('/')}`;

/** @param {string} aid @returns {Promise<RegionsFileInfo[]>} */
export const listRegionFiles = (aid) => call(`/api/analyses/${encodeURIComponent(aid)}/regions`);

/** @param {string} url a RegionsFileInfo url @returns {Promise<{ features: RegionFeatureJson[] }>} */
export const getRegionFile = (url) => call(url);

/**
 * @param {string} aid
 * @param {string} key overlay key
 * @param {{ quantile?: number, threshold?: number, sign?: string }} q
 * @returns {Promise<RegionsResponse>}
 */
export function findRegions(aid, key, q) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  return call(`${overlayBase(aid, key)}/regions?${params}`);
}

/**
 * @param {string} aid
 * @param {string} key
 * @param {number[][][]} rings level-0 px, exterior first
 * @param {number | null} threshold null: the overlay's default
 * @returns {Promise<RegionStatsResponse>}
 */
export function shapeStats(aid, key, rings, threshold) {
  const body = { geometry: { type: 'Polygon', coordinates: rings }, ...(threshold === null ? {} : { threshold }) };
  return call(`${overlayBase(aid, key)}/stats`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}
