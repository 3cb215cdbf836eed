/**
 * TIFF directories -> plain records. geotiff parses the bytes; this walks the IFD chain itself because
 * geotiff's getImageCount() follows `next` pointers without a cycle check (a looping file would hang).
 */
import { GeoTIFF, type ImageFileDirectory } from 'geotiff';
import { SdsError } from '../core/errors.js';
import type { FileSource } from './file-source.js';

/** No real slide has more; a larger chain means a corrupt file, not a big one. */
const MAX_DIRECTORIES = 1024;

/** A tag name or number, as geotiff accepts it. */
type Tag = Parameters<ImageFileDirectory['hasTag']>[0];

/** Everything the reader needs from one IFD, loaded once at open. */
export interface TiffDirectory {
  index: number;
  width: number;
  height: number;
  tiled: boolean;
  /** Tile size, or for strips the image width and rows per strip. */
  blockWidth: number;
  blockHeight: number;
  blocksAcross: number;
  blocksDown: number;
  compression: number;
  photometric: number;
  samplesPerPixel: number;
  bitsPerSample: number[];
  planarConfiguration: number;
  predictor: number;
  newSubfileType: number;
  description?: string;
  /** Pixels per ResolutionUnit. */
  xResolution?: number;
  yResolution?: number;
  resolutionUnit?: number;
  jpegTables?: Uint8Array;
  /** Byte ranges of the tiles or strips, row-major. */
  offsets: Float64Array;
  byteCounts: Float64Array;
}

export async function readDirectories(file: FileSource): Promise<TiffDirectory[]> {
  let tiff: GeoTIFF;
  try {
    // geotiff's parser only calls fetch() and close() on its source; BaseSource's other members are unused.
    tiff = await GeoTIFF.fromSource(file.asGeoTiffSource() as unknown as Parameters<typeof GeoTIFF.fromSource>[0]);
  } catch (cause) {
    if (cause instanceof SdsError) throw cause;
    throw new SdsError('SLIDE_UNREADABLE', `${file.name} is not a TIFF file (${(cause as Error).message})`, {
      suggestion: 'pass a pyramidal TIFF or Aperio SVS slide',
      context: { path: file.path },
      cause,
    });
  }
  const dirs: TiffDirectory[] = [];
  const seen = new Set<number>();
  let offset = tiff.firstIFDOffset;
  for (let index = 0; offset !== 0; index++) {
    if (seen.has(offset) || index >= MAX_DIRECTORIES) {
      throw new SdsError('SLIDE_UNREADABLE', `${file.name}: the TIFF directory chain loops or is implausibly long (> ${MAX_DIRECTORIES}); the file is corrupt`, {
        suggestion: 'copy or download the slide again',
        context: { path: file.path, offset },
      });
    }
    seen.add(offset);
    try {
      const ifd = await tiff.parser.parseFileDirectoryAt(offset);
      dirs.push(await describe(ifd, index, file));
      offset = ifd.nextIFDByteOffset;
    } catch (cause) {
      if (cause instanceof SdsError) throw cause;
      throw new SdsError('SLIDE_UNREADABLE', `${file.name}: TIFF directory ${index} cannot be parsed (${(cause as Error).message})`, {
        suggestion: 'the file is corrupt or truncated; copy or download it again',
        context: { path: file.path, directory: index, offset },
        cause,
      });
    }
  }
  if (dirs.length === 0) throw new SdsError('SLIDE_UNREADABLE', `${file.name} holds no TIFF directory`, { suggestion: 'the file is corrupt or truncated' });
  return dirs;
}

async function describe(ifd: ImageFileDirectory, index: number, file: FileSource): Promise<TiffDirectory> {
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
  if (!(width > 0 && height > 0 && blockWidth > 0 && blockHeight > 0)) {
    throw new SdsError('SLIDE_UNREADABLE', `${file.name}: TIFF directory ${index} has no valid size (${width}x${height}, blocks ${blockWidth}x${blockHeight})`, {
      suggestion: 'the file is corrupt',
    });
  }
  const blocksAcross = Math.ceil(width / blockWidth);
  const blocksDown = Math.ceil(height / blockHeight);
  const offsets = await numbers(tiled ? 'TileOffsets' : 'StripOffsets');
  const byteCounts = await numbers(tiled ? 'TileByteCounts' : 'StripByteCounts');
  const expected = blocksAcross * blocksDown;
  if (offsets.length < expected || byteCounts.length < expected) {
    throw new SdsError('SLIDE_UNREADABLE', `${file.name}: TIFF directory ${index} lists ${Math.min(offsets.length, byteCounts.length)} ${tiled ? 'tiles' : 'strips'} but needs ${expected}`, {
      suggestion: 'the file is corrupt',
    });
  }
  // Checked here, once, so a truncated file fails at open rather than somewhere in the middle of a run.
  for (let i = 0; i < expected; i++) {
    const end = offsets[i]! + byteCounts[i]!;
    if (byteCounts[i]! > 0 && end > file.size) {
      throw new SdsError('SLIDE_UNREADABLE', `${file.name} is truncated: ${tiled ? 'tile' : 'strip'} ${i} of TIFF directory ${index} ends at byte ${end}, the file has ${file.size}`, {
        suggestion: 'copy or download the slide again and compare its size with the original',
        context: { path: file.path, directory: index, block: i },
      });
    }
  }
  const bits = await numbers('BitsPerSample');
  const samplesPerPixel = (await num('SamplesPerPixel')) ?? 1;
  const description = ifd.hasTag('ImageDescription') ? String(await ifd.loadValue('ImageDescription')).replace(/\0+$/, '') : undefined;
  const tables = ifd.hasTag('JPEGTables') ? ((await ifd.loadValue('JPEGTables')) as ArrayLike<number>) : undefined;
  return {
    index,
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
    planarConfiguration: (await num('PlanarConfiguration')) ?? 1,
    predictor: (await num('Predictor')) ?? 1,
    newSubfileType: (await num('NewSubfileType')) ?? 0,
    description,
    xResolution: await rational('XResolution'),
    yResolution: await rational('YResolution'),
    resolutionUnit: await num('ResolutionUnit'),
    jpegTables: tables ? Uint8Array.from(tables) : undefined,
    offsets,
    byteCounts,
  };
}
