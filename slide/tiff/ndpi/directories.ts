/**
 * NDPI files enter the TIFF family here: `readDirectories` (../directory.ts) asks this first, and for an NDPI
 * gets its directories as parsed by the NDPI reader (64-bit offsets restored), in the shape every TIFF vendor
 * sees. The NDPI parse behind each directory stays reachable from it, so the Hamamatsu vendor both recognises
 * the file synchronously and reads the tags and offsets NDPI needs without parsing again.
 */
import type { TiffDirectory } from '../directory-record.js';
import type { ByteSource, NdpiFile } from './ifd.js';
import { ndpiPosition, NdpiTags, readNdpiFile } from './ifd.js';

/** NDPI directories make the same record as the TIFF reader's. */
export type NdpiTiffDirectory = TiffDirectory;

const parsed = new WeakMap<object, NdpiFile>();

/** The NDPI parse a directory record came from (undefined: the file is not an NDPI). */
export function ndpiFileOf(dir: object): NdpiFile | undefined {
  return parsed.get(dir);
}

/** The directories of `source` when it is an NDPI (OpenSlide's test: tag 65420 in NDPI mode), else undefined. */
export async function readNdpiTiffDirectories(source: ByteSource): Promise<NdpiTiffDirectory[] | undefined> {
  const file = await readNdpiFile(source);
  if (!file) return undefined;
  const out: NdpiTiffDirectory[] = [];
  for (const dir of file.dirs) {
    const tags = new NdpiTags(file, dir);
    const width = (await tags.uint(256)) ?? 0;
    const height = (await tags.uint(257)) ?? 0;
    const rowsPerStrip = Math.max(1, Math.min(height, (await tags.uint(278)) ?? height));
    // Strip offsets get the high bits of the directory's window (see ifd.ts); counts are read as stored.
    const offsets = Float64Array.from((await tags.uints(273, 1 << 16)) ?? [], (o) => ndpiPosition(dir, o));
    const byteCounts = (await tags.uints(279, 1 << 16)) ?? new Float64Array(0);
    const bits = await tags.uints(258, 16);
    const record: NdpiTiffDirectory = {
      index: dir.index,
      subIfds: [],
      width,
      height,
      tiled: false,
      blockWidth: width,
      blockHeight: rowsPerStrip,
      blocksAcross: 1,
      blocksDown: Math.max(1, Math.ceil(height / rowsPerStrip)),
      compression: (await tags.uint(259)) ?? 1,
      photometric: (await tags.uint(262)) ?? 2,
      samplesPerPixel: (await tags.uint(277)) ?? 1,
      bitsPerSample: bits ? Array.from(bits) : [1],
      planarConfiguration: (await tags.uint(284)) ?? 1,
      predictor: (await tags.uint(317)) ?? 1,
      newSubfileType: (await tags.uint(254)) ?? 0,
      description: await tags.text(270),
      xResolution: await tags.float(282),
      yResolution: await tags.float(283),
      resolutionUnit: await tags.uint(296),
      offsets,
      byteCounts,
      readTag: (tag) => tags.any(tag),
    };
    parsed.set(record, file);
    out.push(record);
  }
  return out;
}
