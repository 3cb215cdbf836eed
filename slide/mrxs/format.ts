/**
 * 3DHISTECH MIRAX (.mrxs) as a slide format, after OpenSlide 3.4.1's mirax driver: `X.mrxs` beside a folder `X/`
 * holding Slidedat.ini (the settings), Index.dat (where each stored image lies) and Data*.dat (the images). Opening
 * reads the settings, the index and the camera positions, checks every image record against its data file's size
 * (a missing or truncated data file fails here, naming it), and lays out each zoom level (layout.ts). Levels are
 * served as regular grids of composed tiles (level-reader.ts); label, macro and thumbnail are the JPEGs of the
 * "Scan data layer". Properties: every Slidedat key as `mirax.GROUP.KEY`, plus OpenSlide's standard ones.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { frameSize } from '../decoders/jpeg.js';
import { FileSource } from '../file-source.js';
import { describePixels, MAX_ASSOCIATED_PIXELS } from '../limits.js';
import { assembleSource, type AssociatedReader } from '../source-parts.js';
import type { FolderClaim, SlideFormat, SlideSource, SourceOpenOptions } from '../source.js';
import { isTiffHead } from '../tiff/format.js';
import { decodeImage } from './images.js';
import { IndexFile, type DataRecord } from './index-file.js';
import { KeyFile } from './key-file.js';
import { layoutSlide } from './layout.js';
import { miraxLevelReader, type DataFiles } from './level-reader.js';
import { gridPositions, MAX_POSITION_BYTES, positionBytes, storedPositions, type Positions } from './positions.js';
import { readSettings, type MiraxSettings } from './slidedat.js';

const EXTENSION = '.mrxs';
const SLIDEDAT = 'Slidedat.ini';
/** OpenSlide's limit on Slidedat.ini. */
const MAX_SLIDEDAT_BYTES = 1 << 20;
/** Index.dat takes 16 bytes per stored image: 64 MiB is 4 million images, 20x a large real slide (~200k). */
const MAX_INDEX_BYTES = 64 * 2 ** 20;
/** Bytes read to find an associated JPEG's frame header (its size). */
const JPEG_HEAD_BYTES = 256 * 1024;

const COPY_AGAIN = 'copy the whole slide again: the .mrxs file and the folder of the same name beside it, with every file in it';

/** The .mrxs file and its data folder, from either path. */
function slidePaths(path: string, isFolder: boolean): { mrxs: string; folder: string } {
  if (isFolder) {
    const folder = path.replace(/[\\/]+$/, '');
    return { mrxs: `${folder}${EXTENSION}`, folder };
  }
  return { mrxs: path, folder: path.slice(0, path.length - extname(path).length) };
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/** A part of the slide that must exist: a clear error naming it when it does not. */
function missing(slide: string, part: string, what: string): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${slide}: ${part} is missing (${what})`, { suggestion: COPY_AGAIN, context: { part } });
}

async function openPart(path: string, slide: string, part: string, what: string): Promise<FileSource> {
  try {
    return await FileSource.open(path);
  } catch (err) {
    if (err instanceof SdsError && err.code === 'FILE_NOT_FOUND') throw missing(slide, part, what);
    throw err;
  }
}

/** A whole small file (Slidedat.ini, Index.dat), within `limit` bytes. */
async function readWhole(path: string, slide: string, part: string, what: string, limit: number): Promise<Uint8Array> {
  const file = await openPart(path, slide, part, what);
  try {
    if (file.size > limit) {
      throw new SdsError('SLIDE_TOO_LARGE', `${slide}: ${part} is ${file.size} bytes, more than the ${limit} sds reads for it`, { suggestion: 'the slide is probably corrupt', context: { part, size: file.size } });
    }
    if (file.size === 0) throw new SdsError('SLIDE_UNREADABLE', `${slide}: ${part} is empty`, { suggestion: COPY_AGAIN, context: { part } });
    return await file.read(0, file.size, part);
  } finally {
    await file.close();
  }
}

export const mrxsFormat: SlideFormat = {
  name: 'mrxs',
  description: '3DHISTECH MIRAX (.mrxs with its data folder)',
  extensions: [EXTENSION],
  async detect(path, head) {
    if (head !== undefined) return extname(path).toLowerCase() === EXTENSION && !isTiffHead(head);
    // A folder: the data folder of a slide, with its .mrxs beside it.
    const { mrxs, folder } = slidePaths(path, true);
    return (await statOrUndefined(join(folder, SLIDEDAT)))?.isFile() === true && (await statOrUndefined(mrxs))?.isFile() === true;
  },
  async open(path, options) {
    const isFolder = (await statOrUndefined(path))?.isDirectory() === true;
    return openMirax(slidePaths(path, isFolder), options);
  },
  async claim(folder, entries): Promise<FolderClaim> {
    const claim: FolderClaim = { slides: [], owned: [] };
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const entry of entries) {
      if (extname(entry.name).toLowerCase() !== EXTENSION || entry.isDirectory()) continue;
      const stem = entry.name.slice(0, entry.name.length - EXTENSION.length);
      const data = byName.get(stem);
      if (!data) continue;
      const isFolder = data.isDirectory() || (data.isSymbolicLink() && (await statOrUndefined(join(folder, stem)))?.isDirectory() === true);
      if (!isFolder) continue;
      claim.slides.push(join(folder, entry.name));
      claim.owned.push(stem);
    }
    return claim;
  },
};

async function openMirax({ mrxs, folder }: { mrxs: string; folder: string }, { cache, concurrency }: SourceOpenOptions): Promise<SlideSource> {
  const slide = basename(mrxs);
  const stem = basename(folder);
  const partName = (name: string) => `${stem}/${name}`;
  if ((await statOrUndefined(mrxs))?.isFile() !== true) {
    throw new SdsError('FILE_NOT_FOUND', `slide not found: ${mrxs}`, { suggestion: 'check the path; a MIRAX slide is opened by its .mrxs file', context: { path: mrxs } });
  }
  if ((await statOrUndefined(folder))?.isDirectory() !== true) {
    throw new SdsError('SLIDE_UNREADABLE', `${slide} has no data folder: a MIRAX slide is the .mrxs file plus the folder ${stem}/ beside it (Slidedat.ini, Index.dat, Data*.dat), and ${folder} is not there`, {
      suggestion: COPY_AGAIN,
      context: { path: mrxs, folder },
    });
  }

  const ini = KeyFile.parse(await readWhole(join(folder, SLIDEDAT), slide, partName(SLIDEDAT), 'the slide settings', MAX_SLIDEDAT_BYTES), partName(SLIDEDAT));
  const settings = readSettings(ini);
  // The index and data files are the slide's own: a name reaching out of the data folder is refused (OpenSlide
  // would follow it), so a slide cannot make sds read and serve other files.
  for (const name of [settings.indexFile, ...settings.dataFiles]) {
    const inside = relative(folder, resolve(folder, name));
    if (name === '' || inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      throw new SdsError('SLIDE_UNREADABLE', `${partName(SLIDEDAT)} names the file ${JSON.stringify(name)}, which is not inside the data folder ${stem}/`, {
        suggestion: 'the Slidedat.ini is corrupt or was edited; MIRAX index and data files lie in the data folder',
        context: { name },
      });
    }
  }
  const properties: Record<string, string> = {};
  for (const [group, keys] of ini.groups) for (const [key, value] of keys) properties[`mirax.${group}.${key}`] = value;
  const fill = settings.zoom[0]!.fillRgb;
  properties['openslide.background-color'] = fill.toString(16).toUpperCase().padStart(6, '0');

  const indexName = partName(settings.indexFile);
  const index = new IndexFile(await readWhole(join(folder, settings.indexFile), slide, indexName, 'the image index', MAX_INDEX_BYTES), indexName, settings.slideId, settings.dataFiles.length);
  const files = dataFiles(folder, stem, slide, settings);
  try {
    const positions = await readPositions(settings, index, files, indexName);
    // One after the other: a failure leaves no read in flight that could open a file after the close below.
    const associated: AssociatedReader[] = [];
    for (const { name, record } of settings.associated) associated.push(await associatedReader(name, index.data(record, `${name} image`), files));
    const records = settings.zoom.map((_, level) => index.images(level));
    // Every image must lie inside its data file: a missing or cut data file fails now, naming the file.
    const used = [...new Set(records.flatMap((images) => images.map((r) => r.fileNumber)))];
    const sizes = new Map(await Promise.all(used.map(async (n) => [n, await files.size(n)] as const)));
    for (const [level, images] of records.entries()) {
      for (const r of images) files.assertInside(r, sizes.get(r.fileNumber)!, `image (${r.index % settings.imagesX}, ${Math.floor(r.index / settings.imagesX)}) of zoom level ${level}`);
    }
    const layout = layoutSlide(settings, positions, records, indexName);
    const levels = layout.levels.map((l, level) => miraxLevelReader(l, { level, imagesX: settings.imagesX, files, cache, concurrency }));
    const z0 = settings.zoom[0]!;
    return assembleSource({
      name: slide,
      vendor: 'mirax',
      levels,
      associated,
      mpp: z0.mppX > 0 && z0.mppY > 0 ? { x: z0.mppX, y: z0.mppY } : undefined,
      objectivePower: settings.objectiveMagnification > 0 ? settings.objectiveMagnification : undefined,
      properties,
      bounds: layout.bounds,
      close: () => files.close(),
    });
  } catch (err) {
    await files.close().catch(() => undefined);
    throw err;
  }
}

interface SlideDataFiles extends DataFiles {
  /** Bytes of data file `n`; a clear error when it is missing. */
  size(n: number): Promise<number>;
  /** The record lies inside its data file of `bytes` bytes, else a clear error naming both. */
  assertInside(record: DataRecord, bytes: number, what: string): void;
  /** As assertInside, with the size looked up. */
  check(record: DataRecord, what: string): Promise<void>;
  read(record: DataRecord, what: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The data files, each stat-ed once and opened on first read. */
function dataFiles(folder: string, stem: string, slide: string, settings: MiraxSettings): SlideDataFiles {
  const sizes = new Map<number, Promise<number>>();
  const opened = new Map<number, Promise<FileSource>>();
  const name = (n: number) => `${stem}/${settings.dataFiles[n]}`;
  const path = (n: number) => join(folder, settings.dataFiles[n]!);
  const size = (n: number) => {
    let s = sizes.get(n);
    if (!s) {
      s = stat(path(n)).then(
        (st) => {
          if (!st.isFile()) throw new SdsError('SLIDE_UNREADABLE', `${slide}: ${name(n)} is not a regular file`, { suggestion: COPY_AGAIN, context: { part: name(n) } });
          return st.size;
        },
        () => {
          throw missing(slide, name(n), `data file ${n} of ${settings.dataFiles.length} in Slidedat.ini`);
        },
      );
      sizes.set(n, s);
    }
    return s;
  };
  let closed = false;
  const open = (n: number) => {
    if (closed) return Promise.reject(new SdsError('SLIDE_UNREADABLE', `${slide} was closed`, { suggestion: 'open the slide again' }));
    let f = opened.get(n);
    if (!f) {
      f = openPart(path(n), slide, name(n), `data file ${n} of ${settings.dataFiles.length} in Slidedat.ini`);
      opened.set(n, f);
    }
    return f;
  };
  return {
    name,
    open,
    size,
    async check(record, what) {
      this.assertInside(record, await size(record.fileNumber), what);
    },
    assertInside(record, bytes, what) {
      if (record.offset + record.length > bytes) {
        throw new SdsError('SLIDE_UNREADABLE', `${name(record.fileNumber)} is truncated: ${what} lies at bytes ${record.offset}..${record.offset + record.length}, the file has ${bytes}`, {
          suggestion: COPY_AGAIN,
          context: { part: name(record.fileNumber), offset: record.offset, length: record.length, fileSize: bytes },
        });
      }
    },
    async read(record, what) {
      await this.check(record, what);
      return (await open(record.fileNumber)).read(record.offset, record.length, what);
    },
    async close() {
      closed = true;
      const files = await Promise.allSettled(opened.values());
      opened.clear();
      await Promise.all(files.map((f) => (f.status === 'fulfilled' ? f.value.close() : undefined)));
    },
  };
}

async function readPositions(settings: MiraxSettings, index: IndexFile, files: SlideDataFiles, indexName: string): Promise<Positions> {
  const { imagesX, imagesY, divisions, zoom } = settings;
  const photosAcross = Math.trunc(imagesX / divisions);
  const photos = photosAcross * Math.trunc(imagesY / divisions);
  if (!settings.positions) return gridPositions(photosAcross, zoom[0]!.imageWidth * divisions, zoom[0]!.imageHeight * divisions, zoom[0]!.overlapX, zoom[0]!.overlapY);
  const { record, compressed } = settings.positions;
  const what = 'the camera position record';
  const data = index.data(record, 'camera position record');
  positionBytes(photos, indexName);
  if (data.length > MAX_POSITION_BYTES) {
    throw new SdsError('SLIDE_TOO_LARGE', `${files.name(data.fileNumber)}: ${what} is ${data.length} bytes, more than the ${MAX_POSITION_BYTES} sds reads`, { suggestion: 'the slide is probably corrupt' });
  }
  const raw = await files.read(data, what);
  return storedPositions(raw, compressed, photos, 2 ** zoom[0]!.concatExponent, files.name(data.fileNumber));
}

/** An associated JPEG: its size from the frame header now, its pixels when asked. */
async function associatedReader(name: string, data: DataRecord, files: SlideDataFiles): Promise<AssociatedReader> {
  const what = `the ${name} image`;
  await files.check(data, what);
  const file = await files.open(data.fileNumber);
  const head = await file.read(data.offset, Math.min(data.length, JPEG_HEAD_BYTES), what);
  const frame = head[0] === 0xff && head[1] === 0xd8 ? frameSize(head) : undefined;
  if (!frame || frame.width === 0 || frame.height === 0) {
    throw new SdsError('SLIDE_UNREADABLE', `${files.name(data.fileNumber)}: ${what} (bytes ${data.offset}..${data.offset + data.length}) is not a JPEG with a frame header`, {
      suggestion: COPY_AGAIN,
      context: { part: files.name(data.fileNumber), image: name },
    });
  }
  return {
    info: { name, width: frame.width, height: frame.height, compression: 'JPEG' },
    async read(signal) {
      signal?.throwIfAborted();
      const pixels = frame.width * frame.height;
      if (pixels > MAX_ASSOCIATED_PIXELS) {
        throw new SdsError('SLIDE_TOO_LARGE', `${files.name(data.fileNumber)}: ${what} declares ${frame.width}x${frame.height} px (${describePixels(pixels)}), more than the ${describePixels(MAX_ASSOCIATED_PIXELS)} sds decodes for an associated image`, {
          suggestion: 'the file is probably corrupt; its pyramid levels can still be read',
          context: { part: files.name(data.fileNumber), image: name, width: frame.width, height: frame.height },
        });
      }
      const bytes = await files.read(data, what);
      try {
        return await decodeImage(bytes, 'JPEG', frame.width, frame.height);
      } catch (cause) {
        throw new SdsError(cause instanceof SdsError ? cause.code : 'SLIDE_UNREADABLE', `${files.name(data.fileNumber)}: ${what} cannot be decoded (JPEG): ${(cause as Error).message}`, {
          suggestion: 'the slide is corrupt; copy it again',
          // `block` marks an undecodable image, which Slide remembers instead of decoding again.
          context: { part: files.name(data.fileNumber), image: name, block: 0 },
          cause,
        });
      }
    },
  };
}
