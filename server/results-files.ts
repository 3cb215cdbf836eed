/**
 * Static files of an analysis folder (Deep Zoom pyramids, mask, manifest). Every path segment is
 * checked, the extension must be whitelisted, and the file's realpath must be a regular file inside
 * the analysis folder: all decided from metadata, before the file is opened.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Response } from 'express';
import { badRequest, notFound } from './http-error.js';
import { regularFileInside } from './safe-path.js';

export const RESULT_TYPES: Record<string, string> = {
  '.dzi': 'application/xml',
  '.png': 'image/png',
  '.jpeg': 'image/jpeg',
  '.jpg': 'image/jpeg',
  '.json': 'application/json',
  '.geojson': 'application/geo+json',
};

const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;

/** The checked relative path, or a 400 naming what is wrong with it. */
export function checkResultsPath(segments: string[]): string[] {
  if (segments.length === 0 || segments.length > 16) throw badRequest('give a file path inside the analysis folder', 'e.g. /results/<analysis id>/manifest.json');
  for (const s of segments) {
    // Express has already decoded each segment once: '%2F' arrives as '/', '%252e' as '%2e'; all refused here.
    if (!SEGMENT.test(s) || s === '.' || s === '..') {
      throw badRequest(`bad path segment "${s.slice(0, 100)}": file paths are letters, digits, '.', '_' and '-', without '.' or '..' steps`);
    }
  }
  const ext = extname(segments.at(-1)!).toLowerCase();
  if (!RESULT_TYPES[ext]) throw badRequest(`"${segments.at(-1)}": only ${Object.keys(RESULT_TYPES).join(', ')} files are served from results`);
  return segments;
}

export async function sendResultsFile(res: Response, dirReal: string, segments: string[]): Promise<void> {
  const rel = checkResultsPath(segments);
  const file = await regularFileInside(dirReal, join(dirReal, ...rel));
  // A link inside the folder must also end at a servable type.
  if (!file || !RESULT_TYPES[extname(file.real).toLowerCase()]) throw notFound(`no file ${rel.join('/')} in this analysis`);
  // O_NOFOLLOW and the inode check close the gap between the checks above and the open;
  // O_NONBLOCK keeps a FIFO swapped in meanwhile from blocking the open.
  const fh = await open(file.real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) throw notFound(`no file ${rel.join('/')} in this analysis`);
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== file.ino || st.dev !== file.dev) throw notFound(`no file ${rel.join('/')} in this analysis`);
    const body = await fh.readFile();
    res.set('Cache-Control', 'no-cache').type(RESULT_TYPES[extname(file.real).toLowerCase()]!).send(body);
  } finally {
    await fh.close();
  }
}
