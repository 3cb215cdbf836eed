/**
 * DICOM WSI (VL Whole Slide Microscopy Image Storage, SOP class 1.2.840.10008.5.1.4.1.1.77.1.6) as a slide format.
 * A slide is a series: open its folder, or any file of it (the series is then the files of that folder with
 * the same SeriesInstanceUID, as OpenSlide 4 does). Folder scans claim series folders, and group loose DICOM
 * files of a folder by series, one slide per series named by its level-0 file.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { FileSource } from '../file-source.js';
import { assembleSource } from '../source-parts.js';
import type { FolderClaim, FolderEntry, SlideFormat } from '../source.js';
import { isTiffHead } from '../tiff/format.js';
import { describeInstance, WSI_SOP_CLASS, type WsiInstance } from './instance.js';
import { isDicomHead, readDicomHeader } from './parser.js';
import { dicomProperties } from './properties.js';
import { buildPyramid } from './pyramid.js';
import { groupBySeries, mayBeDicom, peekFolder, seriesMainFile, singleSeries, type Peek } from './series.js';

/** Files of a folder that `detect` looks at for the DICOM magic. */
const DETECT_FILES = 32;
/** Files of a subfolder that `claim` peeks at to tell a series folder. */
const CLAIM_PEEK_FILES = 16;
/** Subfolders of one folder that `claim` looks into. */
const CLAIM_SUBFOLDERS = 512;

export const dicomFormat: SlideFormat = {
  name: 'dicom',
  description: 'DICOM WSI (VL Whole Slide Microscopy Image series: a folder, or any of its files)',
  extensions: ['.dcm'],
  async detect(path, head) {
    // A dual-personality DICOM-TIFF named .tif/.tiff is left to the TIFF reader, as OpenSlide 4 does.
    if (head) return isDicomHead(head) && !(isTiffHead(head) && /\.tiff?$/i.test(path));
    return folderHasDicom(path);
  },
  async open(path, { concurrency }) {
    const isDir = (await stat(path)).isDirectory();
    const instances: WsiInstance[] = [];
    const closeAll = () => Promise.all(instances.map((i) => i.file.close().catch(() => undefined)));
    try {
      if (isDir) {
        const peeks = await peekFolder(path);
        const broken = peeks.find((p) => p.sopClass === WSI_SOP_CLASS && p.error !== undefined);
        if (broken) throw broken.error;
        for (const p of singleSeries(path, peeks)) instances.push(await openInstance(p.path));
      } else {
        const own = await openInstance(path);
        instances.push(own);
        // The rest of its series: files of the same folder with its SeriesInstanceUID (unreadable ones are skipped: their series is unknown).
        const folder = dirname(path);
        const series = groupBySeries(await peekFolder(folder)).get(own.seriesUid) ?? [];
        for (const p of series) if (p.name !== basename(path)) instances.push(await openInstance(p.path));
      }
      const name = basename(path);
      const { levels, associated, level0 } = await buildPyramid(instances, name, concurrency);
      const properties = dicomProperties(level0.meta!, level0.dataSet!);
      // Parsed headers can be megabytes (per-frame groups); what is needed has been taken from them.
      for (const i of instances) i.dataSet = i.meta = undefined;
      return assembleSource({
        name,
        vendor: 'dicom',
        levels,
        associated,
        mpp: level0.mpp,
        objectivePower: level0.objectivePower,
        properties,
        close: async () => {
          await closeAll();
        },
      });
    } catch (err) {
      await closeAll();
      throw err;
    }
  },
  async claim(folder, entries): Promise<FolderClaim> {
    const slides: string[] = [];
    const owned = new Set<string>();
    for (const entry of entries.filter((e) => e.isDirectory()).slice(0, CLAIM_SUBFOLDERS)) {
      if (await isSeriesFolder(join(folder, entry.name))) slides.push(join(folder, entry.name));
    }
    const peeks = await peekFolder(folder, entries.filter((e) => !e.isDirectory()));
    for (const files of groupBySeries(peeks).values()) {
      if (!files.some((f) => f.flavor === 'VOLUME')) continue;
      slides.push(join(folder, seriesMainFile(files).name));
    }
    // Every other DICOM file is part of a series (another level, a label) or not a slide at all (another SOP
    // class: annotations, segmentations, radiology): none is listed on its own.
    const slideNames = new Set(slides.map((s) => basename(s)));
    for (const p of peeks) if (!slideNames.has(p.name) && p.error === undefined) owned.add(p.name);
    return { slides, owned: [...owned] };
  },
};

/** One file of the series, parsed up to its pixel data; other SOP classes are refused naming their class. */
async function openInstance(path: string): Promise<WsiInstance> {
  const file = await FileSource.open(path);
  try {
    const header = await readDicomHeader(file);
    return describeInstance(file, header);
  } catch (err) {
    await file.close().catch(() => undefined);
    if (err instanceof SdsError) throw err;
    throw new SdsError('SLIDE_UNREADABLE', `${file.name} cannot be read as DICOM: ${(err as Error)?.message ?? String(err)}`, {
      suggestion: 'the file is corrupt or not DICOM',
      context: { path },
      cause: err,
    });
  }
}

/** Whether a folder holds a DICOM file among its first few entries (magic bytes only). */
async function folderHasDicom(path: string): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return false;
  }
  const names = entries.filter(mayBeDicom).map((e) => e.name).sort().slice(0, DETECT_FILES);
  for (const name of names) {
    try {
      const file = await FileSource.open(join(path, name));
      try {
        if (file.size >= 132 && isDicomHead(await file.read(0, 132, 'the DICOM preamble'))) return true;
      } finally {
        await file.close();
      }
    } catch {
      // not a readable regular file: not DICOM
    }
  }
  return false;
}

/** A folder whose first files are DICOM WSI of one series (and of no other). */
async function isSeriesFolder(path: string): Promise<boolean> {
  let listing: FolderEntry[];
  try {
    listing = await readdir(path, { withFileTypes: true });
  } catch {
    return false;
  }
  const peeks: Peek[] = await peekFolder(path, listing, CLAIM_PEEK_FILES);
  const series = groupBySeries(peeks);
  return series.size === 1 && [...series.values()][0]!.some((p) => p.flavor === 'VOLUME');
}
