/**
 * Finding DICOM WSI series on disk: which files of a folder are DICOM (the 'DICM' magic), which are whole-slide
 * images, and which series each belongs to, from a cheap peek at the start of each header (identification and
 * size, before the large functional-group sequences). Every scan is bounded in files and bytes.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { FileSource } from '../file-source.js';
import { WSI_SOP_CLASS } from './instance.js';
import { isDicomHead, readDicomHeader, readFileMeta } from './parser.js';
import { str, strings, ul } from './tags.js';

/** Files of one folder that a scan looks at; a series folder holds tens, a study folder a few hundred. */
export const MAX_FOLDER_FILES = 4096;

/** Peeks stop before this tag: after TotalPixelMatrixRows (0048,0007), before the optical path / ICC profile. */
const PEEK_STOP = 0x00480100;

/**
 * Extensions of companion and data files that are never DICOM (not even their first bytes are read). Other slide
 * files cost one 132-byte read for the magic; their extensions stay stated by their own formats.
 */
const NOT_DICOM = new Set(['.dat', '.ini', '.png', '.jpg', '.jpeg', '.json', '.txt', '.xml', '.csv', '.md', '.zip', '.gz', '.safetensors', '.pt', '.onnx']);

export interface Peek {
  path: string;
  name: string;
  /** MediaStorageSOPClassUID of the file meta. */
  sopClass: string;
  /** Why its header could not be read (a WSI file that opening must report). */
  error?: unknown;
  /** For WSI files only. */
  seriesUid?: string;
  flavor?: string;
  width?: number;
  height?: number;
}

/** Whether a listing entry may be a DICOM file (regular file or link, not of a known other type). */
export function mayBeDicom(entry: Pick<Dirent, 'name' | 'isFile' | 'isSymbolicLink'>): boolean {
  return (entry.isFile() || entry.isSymbolicLink()) && !entry.name.startsWith('.') && !NOT_DICOM.has(extname(entry.name).toLowerCase());
}

/** A look at one file: undefined when it is not a DICOM file (or not a regular file, or unreadable). */
export async function peekFile(path: string, name: string): Promise<Peek | undefined> {
  let file: FileSource;
  try {
    file = await FileSource.open(path);
  } catch {
    return undefined;
  }
  try {
    if (file.size < 132 || !isDicomHead(await file.read(0, 132, 'the DICOM preamble'))) return undefined;
    const start = await file.read(0, Math.min(file.size, 4096), 'the DICOM file meta information');
    let header;
    try {
      header = await readDicomHeader(file, PEEK_STOP);
    } catch (error) {
      // DICM but a header sds cannot read: kept with its error, which opening the series reports.
      return { path, name, sopClass: readFileMeta(start)?.sopClass ?? '', error };
    }
    const sopClass = str(header.meta, 'MediaStorageSOPClassUID') ?? str(header.dataSet, 'SOPClassUID') ?? '';
    if (sopClass !== WSI_SOP_CLASS) return { path, name, sopClass };
    const ds = header.dataSet;
    return {
      path,
      name,
      sopClass,
      seriesUid: str(ds, 'SeriesInstanceUID') ?? '',
      flavor: strings(ds, 'ImageType')[2]?.toUpperCase(),
      width: ul(ds, 'TotalPixelMatrixColumns'),
      height: ul(ds, 'TotalPixelMatrixRows'),
    };
  } finally {
    await file.close().catch(() => undefined);
  }
}

/** Peeks of the DICOM files among `entries` of `folder` (sorted by name, at most MAX_FOLDER_FILES looked at). */
export async function peekFolder(folder: string, entries?: readonly Pick<Dirent, 'name' | 'isFile' | 'isSymbolicLink'>[], limit = MAX_FOLDER_FILES): Promise<Peek[]> {
  const listing = entries ?? (await readdir(folder, { withFileTypes: true }));
  const names = listing.filter(mayBeDicom).map((e) => e.name).sort().slice(0, limit);
  const out: Peek[] = [];
  // A few at a time: enough to hide latency, few enough not to exhaust file handles.
  for (let i = 0; i < names.length; i += 16) {
    const peeks = await Promise.all(names.slice(i, i + 16).map((n) => peekFile(join(folder, n), n)));
    for (const p of peeks) if (p) out.push(p);
  }
  return out;
}

/** WSI peeks grouped by SeriesInstanceUID, in order of first appearance. */
export function groupBySeries(peeks: readonly Peek[]): Map<string, Peek[]> {
  const out = new Map<string, Peek[]>();
  for (const p of peeks) {
    if (p.sopClass !== WSI_SOP_CLASS || p.error !== undefined) continue;
    const list = out.get(p.seriesUid ?? '') ?? [];
    list.push(p);
    out.set(p.seriesUid ?? '', list);
  }
  return out;
}

/** The file to name a series by: its largest VOLUME instance (level 0), else its first file. */
export function seriesMainFile(peeks: readonly Peek[]): Peek {
  const volumes = peeks.filter((p) => p.flavor === 'VOLUME');
  const pool = volumes.length ? volumes : peeks;
  return [...pool].sort((a, b) => (b.width ?? 0) - (a.width ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0]!;
}

/** The folder's one WSI series; SdsErrors for none, only other SOP classes, or several series. */
export function singleSeries(folder: string, peeks: readonly Peek[]): Peek[] {
  const series = groupBySeries(peeks);
  if (series.size === 1) return [...series.values()][0]!;
  if (series.size === 0) {
    const other = peeks.find((p) => p.sopClass);
    throw new SdsError(other ? 'SLIDE_UNSUPPORTED' : 'SLIDE_UNREADABLE', other
      ? `${folder} holds DICOM files, but none is a VL Whole Slide Microscopy Image (e.g. ${other.name} is of SOP class ${other.sopClass})`
      : `${folder} holds no DICOM whole-slide image file`, {
      suggestion: `sds reads DICOM WSI series (SOP class ${WSI_SOP_CLASS}): pass the folder of one series, or one of its files`,
      context: { path: folder },
    });
  }
  const list = [...series.entries()].map(([uid, files]) => `${uid || '(no SeriesInstanceUID)'}: ${files.length} file${files.length > 1 ? 's' : ''}, e.g. ${seriesMainFile(files).name}`);
  throw new SdsError('SLIDE_UNREADABLE', `${folder} holds ${series.size} DICOM WSI series, so it is not one slide (${list.join('; ')})`, {
    suggestion: 'open one file of the series you want (its series is then read from the folder), or put each series in a folder of its own',
    context: { path: folder, series: [...series.keys()] },
  });
}
