/**
 * The slide formats sds reads, in detection order, and the questions asked of them all: which files are
 * slides (`batch`'s folder scan, the server's catalog, training data), and which format opens a path.
 * A new format is a SlideFormat module (slide/source.ts) and one line in SLIDE_FORMATS.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { SdsError } from '../core/errors.js';
import { FileSource } from './file-source.js';
import type { FolderClaim, FolderEntry, SlideFormat, SlideSource, SourceOpenOptions } from './source.js';
import { dicomFormat } from './dicom/format.js';
import { mrxsFormat } from './mrxs/format.js';
import { tiffFormat } from './tiff/format.js';

export const SLIDE_FORMATS: readonly SlideFormat[] = [mrxsFormat, dicomFormat, tiffFormat];

/** File extensions of slides, from every format (lower-case, with the dot). */
export const SLIDE_EXTENSIONS: readonly string[] = [...new Set(SLIDE_FORMATS.flatMap((f) => f.extensions))];

/** Whether a file name has a slide extension (a folder format's folders are found by `listSlides`). */
export function isSlidePath(path: string): boolean {
  return SLIDE_EXTENSIONS.includes(extname(path).toLowerCase());
}

/** Bytes of a file's start that formats see in `detect`. */
const HEAD_BYTES = 4096;

/**
 * Open `path` (a file, or a folder for folder formats) with the first format that recognises it. A file no format
 * recognises is opened by the format its extension names, so the error is that format's own (e.g. "not a TIFF file").
 */
export async function openSource(path: string, options: SourceOpenOptions): Promise<SlideSource> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SdsError('FILE_NOT_FOUND', `slide not found: ${path}`, { suggestion: 'check the path', cause });
    throw new SdsError('SLIDE_UNREADABLE', `cannot open ${path}: ${(cause as Error).message}`, { suggestion: 'check the file permissions', cause, context: { path } });
  }
  const head = isDir ? undefined : await readHead(path);
  for (const format of SLIDE_FORMATS) {
    if (await format.detect(path, head)) return format.open(path, options);
  }
  const ext = extname(path).toLowerCase();
  const byExtension = isDir ? undefined : SLIDE_FORMATS.find((f) => f.extensions.includes(ext));
  if (byExtension) return byExtension.open(path, options);
  throw new SdsError(isDir ? 'SLIDE_UNREADABLE' : 'SLIDE_UNSUPPORTED', isDir ? `${path} is a folder that holds no slide sds reads` : `${basename(path)} is not a slide format sds reads`, {
    suggestion: `sds reads ${SLIDE_FORMATS.map((f) => f.description).join('; ')}${isDir ? '; pass a slide file, or a folder holding one DICOM WSI series' : ''}`,
    context: { path },
  });
}

async function readHead(path: string): Promise<Uint8Array> {
  const file = await FileSource.open(path);
  try {
    return await file.read(0, Math.min(HEAD_BYTES, file.size), 'the file header');
  } finally {
    await file.close();
  }
}

/**
 * What the formats claim of one folder's listing: folder slides (a DICOM series folder, an MRXS file with its data
 * folder, a series of loose DICOM files) and the names that belong to them and are not slides on their own.
 */
export async function claimFolder(folder: string, entries: readonly FolderEntry[]): Promise<FolderClaim> {
  const slides = new Set<string>();
  const owned = new Set<string>();
  for (const format of SLIDE_FORMATS) {
    if (!format.claim) continue;
    const claim = await format.claim(folder, entries);
    claim.slides.forEach((s) => slides.add(s));
    claim.owned.forEach((n) => owned.add(n));
  }
  return { slides: [...slides], owned: [...owned] };
}

/**
 * The slides directly in `folder`, sorted: files with a slide extension, and what folder formats claim; names a
 * format owns (its data folders, the other files of a series) are not listed on their own.
 */
export async function listSlides(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const claim = await claimFolder(folder, entries);
  const owned = new Set(claim.owned);
  const slides = new Set(claim.slides);
  for (const entry of entries) {
    if (owned.has(entry.name) || entry.isDirectory() || !isSlidePath(entry.name)) continue;
    slides.add(join(folder, entry.name));
  }
  return [...slides].sort();
}
