/**
 * Regions of interest sent inline with an analysis request (POST /api/analyses `roi`: the GeoJSON
 * QuPath exports, contracts/roi.ts). The analysis spec names its ROI by path (queue payloads and
 * manifests stay small; workers read it where the results are), so the server checks the regions
 * (400 naming the problem: a bad field, regions off the slide) and writes them once to
 * `<results>/.sds-roi/<digest>.geojson`: the same regions sent again name the same file, and the
 * plan's fingerprint and the manifest's `roiIdentity` are the geometry's digest, as with `--roi`.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseRoi } from '../contracts/roi.js';
import { SdsError } from '../core/errors.js';
import { checkRoiOnSlide } from '../slide/roi.js';
import { badRequest } from './http-error.js';

/** The folder under the results folder that holds ROIs sent with requests. */
export const ROI_FOLDER = '.sds-roi';

/** Checks the regions against a `width` x `height` slide; throws 400 "roi: <problem>". */
export function checkRequestRoi(value: unknown, width: number, height: number): void {
  try {
    const roi = parseRoi(value, 'request');
    checkRoiOnSlide(roi, width, height, 'request');
  } catch (err) {
    if (err instanceof SdsError) throw badRequest(err.message.replace(/^ROI request: /, 'roi: '), err.suggestion);
    throw err;
  }
}

/** Writes the regions (already checked) under `results`; the absolute path of the file. */
export async function storeRequestRoi(results: string, value: unknown): Promise<string> {
  const text = `${JSON.stringify(value)}\n`;
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 24);
  const dir = resolve(results, ROI_FOLDER);
  const path = join(dir, `${digest}.geojson`);
  if (await stat(path).then((s) => s.isFile(), () => false)) return path;
  await mkdir(dir, { recursive: true });
  // whole or not at all: a job reading it never sees half a file
  const tmp = `${path}.partial-${process.pid}-${Date.now()}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
  return path;
}
