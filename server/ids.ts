/**
 * URL ids for slides, analyses and models (server/API.md): a path relative to its folder with the
 * extension dropped, `/` -> `__`, anything outside [A-Za-z0-9._-] -> `_`; clashes get -2, -3, ...
 * Ids are only ever looked up in a catalog, never turned back into paths.
 */
import { badRequest } from './http-error.js';

export const ID_PATTERN = /^[A-Za-z0-9._-]+$/;

/** The id of a relative path (already without extension), per the API rule. */
export function idFromRelative(relNoExt: string): string {
  const id = relNoExt.split(/[\\/]/).join('__').replace(/[^A-Za-z0-9._-]/g, '_');
  // '.', '..' and '' are never valid ids: they would read as path steps.
  return id === '' || id === '.' || id === '..' ? `_${id}` : id;
}

/** Gives each key a unique id: the first keeps the plain id, later clashes get -2, -3, ... */
export function assignIds<T>(items: T[], plainId: (item: T) => string): Map<string, T> {
  const out = new Map<string, T>();
  for (const item of items) {
    const base = plainId(item);
    let id = base;
    for (let n = 2; out.has(id); n++) id = `${base}-${n}`;
    out.set(id, item);
  }
  return out;
}

export type IdKind = 'slide' | 'analysis' | 'model' | 'job' | 'export';

const WHERE_IDS: Record<IdKind, string> = {
  slide: 'GET /api/slides lists the slide ids',
  analysis: "a slide's analyses are listed by GET /api/slides/<id>",
  model: 'GET /api/models lists the model ids',
  job: 'POST /api/analyses returns the job id',
  export: 'POST /api/analyses/<id>/exports returns the export id',
};

/** A URL id that may be looked up; throws 400 otherwise. */
export function checkId(value: unknown, what: IdKind): string {
  if (typeof value !== 'string' || value.length > 512 || !ID_PATTERN.test(value) || value === '.' || value === '..') {
    throw badRequest(`bad ${what} id "${String(value).slice(0, 100)}": ids are letters, digits, '.', '_' and '-' (not '.' or '..')`, WHERE_IDS[what]);
  }
  return value;
}
