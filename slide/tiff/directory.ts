/**
 * TIFF directories -> plain records. geotiff parses the bytes; this walks the IFD chain itself because
 * geotiff's getImageCount() follows `next` pointers without a cycle check (a looping file would hang).
 * The SubIFDs (tag 330) of every directory are read the same way, with the same checks: OME-TIFF and
 * `vips tiffsave --subifd` keep their reduced resolutions there rather than in the main chain.
 */
import { GeoTIFF, type ImageFileDirectory } from 'geotiff';
import type { TiffDirectory } from './directory-record.js';
import { SdsError } from '../../core/errors.js';
import type { FileSource } from '../file-source.js';
import { MAX_IMAGE_SIDE, MAX_TILE_SIDE } from '../limits.js';
import { readNdpiTiffDirectories } from './ndpi/directories.js';

/** No real slide has more; a larger chain means a corrupt file, not a big one. */
const MAX_DIRECTORIES = 1024;
/** SubIFDs of one directory (a pyramid has tens of levels at most) and of all directories together. */
const MAX_SUBIFDS_PER_DIRECTORY = 64;
const MAX_SUBIFDS = 4096;
/** TIFF tag 330: offsets of child directories (reduced resolutions in OME-TIFF and libvips `--subifd`). */
const SUBIFDS_TAG = 330;

/** A tag name or number, as geotiff accepts it. */
type Tag = Parameters<ImageFileDirectory['hasTag']>[0];

export type { TiffDirectory } from './directory-record.js';

/** Bytes per value of the TIFF field types geotiff reads; other types are skipped by it, and here. */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };
/** LONG8, SLONG8, IFD8: geotiff turns them into Numbers and throws on values above 2^53. */
const WIDE_TYPES = new Set([16, 17, 18]);
/** The tags holding per-block tables: their values must each have bytes of their own in the file. */
const TABLE_TAGS = new Set([273, 279, 324, 325]);
const TAG_NAMES: Record<number, string> = {
  256: 'ImageWidth',
  257: 'ImageLength',
  258: 'BitsPerSample',
  270: 'ImageDescription',
  273: 'StripOffsets',
  279: 'StripByteCounts',
  322: 'TileWidth',
  323: 'TileLength',
  324: 'TileOffsets',
  325: 'TileByteCounts',
  330: 'SubIFDs',
  347: 'JPEGTables',
};

interface TiffFormat {
  littleEndian: boolean;
  bigTiff: boolean;
}

export async function readDirectories(file: FileSource): Promise<TiffDirectory[]> {
  if (file.size < 8) {
    throw new SdsError('SLIDE_UNREADABLE', `${file.name} is not a TIFF file: it has ${file.size} bytes, fewer than a TIFF header (8); it is empty or truncated`, {
      suggestion: 'pass a pyramidal TIFF or Aperio SVS slide; if this is one, copy or download it again',
      context: { path: file.path, fileSize: file.size },
    });
  }
  // Hamamatsu NDPI: a classic TIFF with 64-bit offsets that geotiff cannot follow; parsed by its own reader.
  const ndpi = await readNdpiTiffDirectories(file);
  if (ndpi) return ndpi;
  let tiff: GeoTIFF;
  try {
    // geotiff's parser only calls fetch() and close() on its source; BaseSource's other members are unused.
    tiff = await GeoTIFF.fromSource(file.asGeoTiffSource() as unknown as Parameters<typeof GeoTIFF.fromSource>[0]);
  } catch (cause) {
    if (cause instanceof SdsError) throw cause;
    const beyond = /exceeds MAX_SAFE_INTEGER/.test(String((cause as Error).message));
    throw new SdsError('SLIDE_UNREADABLE', beyond ? `${file.name}: its BigTIFF header points to a first directory beyond byte 2^53, past the end of any file; the file is corrupt` : `${file.name} is not a TIFF file (${(cause as Error).message})`, {
      suggestion: beyond ? 'copy or download the slide again' : 'pass a pyramidal TIFF or Aperio SVS slide',
      context: { path: file.path },
      cause,
    });
  }
  const format: TiffFormat = { littleEndian: tiff.littleEndian, bigTiff: tiff.bigTiff };
  const dirs: TiffDirectory[] = [];
  const seen = new Set<number>();
  // `scope` names the directories read so far, for the message when their tables together exceed the file.
  const tables = { bytes: 0, scope: '' };
  const parse = async (offset: number, index: number, label: string, subIfdOf?: number): Promise<{ dir: TiffDirectory; next: number }> => {
    // Our own pass over the entries first: geotiff allocates each array tag's values at parse time from the
    // count the file claims, so a lying count must be caught before geotiff sees it.
    tables.scope = subIfdOf === undefined ? `TIFF directories 0..${index}` : `the TIFF directories and SubIFDs up to ${label}`;
    const next = await checkDirectory(file, format, offset, label, tables);
    try {
      const ifd = await tiff.parser.parseFileDirectoryAt(offset);
      return { dir: await describe(ifd, index, label, file, subIfdOf), next };
    } catch (cause) {
      if (cause instanceof SdsError) throw cause;
      const message = String((cause as Error).message);
      const wide = /exceeds MAX_SAFE_INTEGER/.test(message);
      throw new SdsError('SLIDE_UNREADABLE', `${file.name}: ${label} cannot be parsed (${wide ? 'a 64-bit value beyond 2^53, e.g. an offset past the end of any file' : message})`, {
        suggestion: 'the file is corrupt or truncated; copy or download it again',
        context: { path: file.path, directory: label, offset },
        cause,
      });
    }
  };
  let offset = tiff.firstIFDOffset;
  for (let index = 0; offset !== 0; index++) {
    if (seen.has(offset) || index >= MAX_DIRECTORIES) {
      throw new SdsError('SLIDE_UNREADABLE', `${file.name}: the TIFF directory chain loops or is implausibly long (> ${MAX_DIRECTORIES}); the file is corrupt`, {
        suggestion: 'copy or download the slide again',
        context: { path: file.path, offset },
      });
    }
    seen.add(offset);
    const { dir, next } = await parse(offset, index, `TIFF directory ${index}`);
    dirs.push(dir);
    offset = next;
  }
  if (dirs.length === 0) throw new SdsError('SLIDE_UNREADABLE', `${file.name} holds no TIFF directory`, { suggestion: 'the file is corrupt or truncated' });
  // SubIFDs after the whole main chain, so `seen` knows every main directory: a SubIFD may not be one of them.
  const budget = { left: MAX_SUBIFDS };
  for (const dir of dirs) dir.subIfds = await readSubIfds(file, dir, seen, budget, parse);
  return dirs;
}

type ParseAt = (offset: number, index: number, label: string, subIfdOf?: number) => Promise<{ dir: TiffDirectory; next: number }>;

/**
 * The SubIFDs of `parent`: each offset its tag 330 lists, and the directories chained after it by `next` (writers
 * use either form, some both). A chain that reaches an offset the list names stops there (that one is read in its
 * turn); any other offset read before (a main directory, another SubIFD, a loop) means a corrupt file.
 */
async function readSubIfds(file: FileSource, parent: TiffDirectory, seen: Set<number>, budget: { left: number }, parse: ParseAt): Promise<TiffDirectory[]> {
  const raw = await parent.readTag(SUBIFDS_TAG);
  if (raw === undefined) return [];
  const listed = (typeof raw === 'number' || typeof raw === 'bigint' ? [raw] : Array.from(raw as ArrayLike<number | bigint>)).map(Number);
  const where = `the SubIFDs (tag 330) of TIFF directory ${parent.index}`;
  const corrupt = (problem: string, context: Record<string, unknown> = {}) =>
    new SdsError('SLIDE_UNREADABLE', `${file.name} is corrupt: ${where} ${problem}`, {
      suggestion: 'copy or download the slide again; if it was written by a converter, convert it again',
      context: { path: file.path, directory: parent.index, fileSize: file.size, ...context },
    });
  if (listed.length > MAX_SUBIFDS_PER_DIRECTORY) throw corrupt(`list ${listed.length} directories; a pyramid has at most ${MAX_SUBIFDS_PER_DIRECTORY}`);
  const named = new Set(listed);
  const out: TiffDirectory[] = [];
  for (const first of listed) {
    let offset = first;
    let chained = false;
    while (offset !== 0) {
      if (!Number.isSafeInteger(offset) || offset < 0) throw corrupt(`point to byte ${offset}, not a file offset`);
      if (chained && named.has(offset)) break;
      if (seen.has(offset)) throw corrupt(`point back to a directory already read (byte ${offset}): the chain loops`, { offset });
      if (out.length >= MAX_SUBIFDS_PER_DIRECTORY || budget.left <= 0) throw corrupt(`chain more than ${MAX_SUBIFDS_PER_DIRECTORY} directories (or the file more than ${MAX_SUBIFDS} SubIFDs)`);
      seen.add(offset);
      budget.left--;
      const { dir, next } = await parse(offset, out.length, `SubIFD ${out.length} of TIFF directory ${parent.index}`, parent.index);
      out.push(dir);
      offset = next;
      chained = true;
    }
  }
  return out;
}

/**
 * Reads the entry table of the directory at `offset` and checks every claim it makes about the file: the entries
 * lie inside it, each tag's values lie inside it, 64-bit values fit a Number, the tile/strip tables of all
 * directories together fit in the file (so directories cannot share one table a thousand times), and the next
 * directory starts inside it. Returns the next directory's offset (0: none).
 */
async function checkDirectory(file: FileSource, format: TiffFormat, offset: number, label: string, tables: { bytes: number; scope: string }): Promise<number> {
  const tablesScope = tables.scope;
  const { bigTiff, littleEndian } = format;
  const countSize = bigTiff ? 8 : 2;
  const entrySize = bigTiff ? 20 : 12;
  const pointerSize = bigTiff ? 8 : 4;
  const corrupt = (problem: string, context: Record<string, unknown> = {}) =>
    new SdsError('SLIDE_UNREADABLE', `${file.name} is truncated or corrupt: ${problem}`, {
      suggestion: 'copy or download the slide again and compare its size with the original',
      context: { path: file.path, directory: label, fileSize: file.size, ...context },
    });
  if (offset >= file.size) throw corrupt(`${label} would start at byte ${offset}, past the end of the file (${file.size} bytes)`);
  if (offset + countSize > file.size) throw corrupt(`${label} at byte ${offset} is cut off by the end of the file (${file.size} bytes)`);
  const head = new DataView(toArrayBuffer(await file.read(offset, countSize, `the entry count of ${label}`)));
  const count = bigTiff ? head.getBigUint64(0, littleEndian) : BigInt(head.getUint16(0, littleEndian));
  // A classic TIFF cannot say more than 65535 (a 16-bit count); no writer needs more in a BigTIFF either.
  if (count > 0xffffn) throw corrupt(`${label} claims ${count} entries`);
  const n = Number(count);
  const table = new DataView(toArrayBuffer(await file.read(offset + countSize, n * entrySize + pointerSize, `${label} (${n} entries)`)));
  const word = (at: number): bigint => (bigTiff ? table.getBigUint64(at, littleEndian) : BigInt(table.getUint32(at, littleEndian)));
  const size = BigInt(file.size);
  for (let e = 0; e < n; e++) {
    const at = e * entrySize;
    const tag = table.getUint16(at, littleEndian);
    const type = table.getUint16(at + 2, littleEndian);
    const typeSize = TYPE_SIZE[type];
    if (typeSize === undefined) continue; // geotiff skips tags of unknown types until asked for them; so do we
    const values = word(at + 4);
    const bytes = values * BigInt(typeSize);
    const name = TAG_NAMES[tag] ? `${TAG_NAMES[tag]} (tag ${tag})` : `tag ${tag}`;
    if (TABLE_TAGS.has(tag)) tables.bytes += Number(bytes > size ? size + 1n : bytes);
    // The value field: the value itself when it fits there, else where the values are.
    const field = word(at + (bigTiff ? 12 : 8));
    if (bytes <= BigInt(pointerSize)) {
      if (WIDE_TYPES.has(type) && values === 1n && field > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw corrupt(`${name} of ${label} holds ${field}, beyond 2^53 (an offset past the end of any file)`, { tag });
      }
      continue;
    }
    if (field + bytes > size) {
      throw corrupt(`${name} of ${label} has ${values} values at bytes ${field}..${field + bytes}, past the end of the file (${file.size} bytes)`, { tag });
    }
  }
  if (tables.bytes > file.size) {
    throw corrupt(`the tile and strip tables of ${tablesScope} need ${tables.bytes} bytes, more than the file's ${file.size}: directories share tables`);
  }
  const next = word(n * entrySize);
  if (next > size) throw corrupt(`${label} says the next directory starts at byte ${next}, past the end of the file (${file.size} bytes)`);
  return Number(next);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function describe(ifd: ImageFileDirectory, index: number, label: string, file: FileSource, subIfdOf?: number): Promise<TiffDirectory> {
  const num = async (tag: Tag, fallback?: number): Promise<number | undefined> => {
    if (!ifd.hasTag(tag)) return fallback;
    const v: unknown = await ifd.loadValue(tag);
    const first = Array.isArray(v) || ArrayBuffer.isView(v) ? (v as ArrayLike<number | bigint>)[0] : v;
    return first === undefined ? fallback : Number(first);
  };
  const rational = async (tag: Tag): Promise<number | undefined> => {
    if (!ifd.hasTag(tag)) return undefined;
    const v = (await ifd.loadValue(tag)) as ArrayLike<number> | number;
    if (typeof v === 'number') return v;
    return v.length >= 2 && v[1] ? v[0]! / v[1] : undefined;
  };
  const numbers = async (tag: Tag): Promise<Float64Array> => {
    if (!ifd.hasTag(tag)) return new Float64Array(0);
    const v = (await ifd.loadValue(tag)) as ArrayLike<number | bigint> | number;
    return typeof v === 'number' ? Float64Array.of(v) : Float64Array.from(v as ArrayLike<number>, Number);
  };

  const width = (await num('ImageWidth')) ?? 0;
  const height = (await num('ImageLength')) ?? 0;
  const tiled = ifd.hasTag('TileWidth') && ifd.hasTag('TileOffsets');
  const blockWidth = tiled ? ((await num('TileWidth')) ?? 0) : width;
  const blockHeight = tiled ? ((await num('TileLength')) ?? 0) : Math.min(height, (await num('RowsPerStrip')) ?? height);
  const whole = (v: number) => Number.isSafeInteger(v) && v > 0;
  if (!(whole(width) && whole(height) && whole(blockWidth) && whole(blockHeight))) {
    throw new SdsError('SLIDE_UNREADABLE', `${file.name}: ${label} has no valid size (${width}x${height}, blocks ${blockWidth}x${blockHeight})`, {
      suggestion: 'the file is corrupt',
      context: { path: file.path, directory: label },
    });
  }
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new SdsError('SLIDE_TOO_LARGE', `${file.name}: ${label} declares ${width}x${height} px, beyond the ${MAX_IMAGE_SIDE} px per side sds reads`, {
      suggestion: 'no scanner makes such an image: the file is corrupt or was made to exhaust memory',
      context: { path: file.path, directory: label, width, height, maxSide: MAX_IMAGE_SIDE },
    });
  }
  if (tiled && (blockWidth > MAX_TILE_SIDE || blockHeight > MAX_TILE_SIDE)) {
    throw new SdsError('SLIDE_TOO_LARGE', `${file.name}: ${label} declares ${blockWidth}x${blockHeight} px tiles, beyond the ${MAX_TILE_SIDE} px per side sds reads`, {
      suggestion: 'the file is corrupt; if it is not, re-tile it, e.g. `vips tiffsave in out.tif --tile --tile-width 512 --tile-height 512 --pyramid`',
      context: { path: file.path, directory: label, tileWidth: blockWidth, tileHeight: blockHeight, maxTileSide: MAX_TILE_SIDE },
    });
  }
  const blocksAcross = Math.ceil(width / blockWidth);
  const blocksDown = Math.ceil(height / blockHeight);
  const samplesPerPixel = (await num('SamplesPerPixel')) ?? 1;
  const planarConfiguration = (await num('PlanarConfiguration')) ?? 1;
  // PlanarConfiguration 2: one set of blocks per sample (all of sample 0's, then sample 1's, ...).
  const expected = blocksAcross * blocksDown * (planarConfiguration === 2 ? Math.max(1, samplesPerPixel) : 1);
  const offsets = await numbers(tiled ? 'TileOffsets' : 'StripOffsets');
  const byteCounts = await numbers(tiled ? 'TileByteCounts' : 'StripByteCounts');
  if (offsets.length < expected || byteCounts.length < expected) {
    throw new SdsError('SLIDE_UNREADABLE', `${file.name}: ${label} lists ${Math.min(offsets.length, byteCounts.length)} ${tiled ? 'tiles' : 'strips'} but needs ${expected}`, {
      suggestion: 'the file is corrupt',
      context: { path: file.path, directory: label },
    });
  }
  // Checked here, once, so a truncated file fails at open rather than somewhere in the middle of a run.
  for (let i = 0; i < expected; i++) {
    const start = offsets[i]!;
    const count = byteCounts[i]!;
    const end = start + count;
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(count) && start >= 0 && count >= 0) || (count > 0 && end > file.size)) {
      throw new SdsError('SLIDE_UNREADABLE', `${file.name} is truncated: ${tiled ? 'tile' : 'strip'} ${i} of ${label} ends at byte ${end}, the file has ${file.size}`, {
        suggestion: 'copy or download the slide again and compare its size with the original',
        context: { path: file.path, directory: label, block: i },
      });
    }
  }
  const bits = await numbers('BitsPerSample');
  const description = ifd.hasTag('ImageDescription') ? String(await ifd.loadValue('ImageDescription')).replace(/\0+$/, '') : undefined;
  const tables = ifd.hasTag('JPEGTables') ? ((await ifd.loadValue('JPEGTables')) as ArrayLike<number>) : undefined;
  return {
    index,
    subIfdOf,
    subIfds: [],
    width,
    height,
    tiled,
    blockWidth,
    blockHeight,
    blocksAcross,
    blocksDown,
    compression: (await num('Compression')) ?? 1,
    photometric: (await num('PhotometricInterpretation')) ?? (samplesPerPixel >= 3 ? 2 : 1),
    samplesPerPixel,
    bitsPerSample: bits.length ? Array.from(bits) : [1],
    planarConfiguration,
    predictor: (await num('Predictor')) ?? 1,
    newSubfileType: (await num('NewSubfileType')) ?? 0,
    description,
    xResolution: await rational('XResolution'),
    yResolution: await rational('YResolution'),
    resolutionUnit: await num('ResolutionUnit'),
    jpegTables: tables ? Uint8Array.from(tables) : undefined,
    offsets,
    byteCounts,
    readTag: async (tag) => (ifd.hasTag(tag as Tag) ? ifd.loadValue(tag as Tag) : undefined),
  };
}
