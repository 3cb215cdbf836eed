/**
 * Hamamatsu NDPI (OpenSlide 3.4.1's hamamatsu driver, https://openslide.org/formats/hamamatsu/): every directory
 * is one JPEG in one strip. Directories with a positive SourceLens (tag 65421) are pyramid levels, largest first,
 * those of focal planes other than 0 (tag 65424) ignored; SourceLens -1 is the macro image; anything else (the
 * map, -2) is not shown. Levels with restart markers are read one restart interval at a time (ndpi/level-jpeg.ts),
 * and OpenSlide's libjpeg-scaled levels are added (ndpi/levels.ts). The directories come from the NDPI parser
 * (ndpi/ifd.ts: 64-bit offsets restored), which also tells this vendor the file is an NDPI.
 */
import { SdsError } from '../../../core/errors.js';
import { describePixels, MAX_ASSOCIATED_PIXELS, MAX_IMAGE_SIDE } from '../../limits.js';
import type { AssociatedReader, LevelReader } from '../../source-parts.js';
import { ndpiFileOf } from '../ndpi/directories.js';
import { ndpiPosition, NdpiTags, type ByteSource, type NdpiFile } from '../ndpi/ifd.js';
import { readJpegHeader } from '../ndpi/jpeg-header.js';
import { decodeJpeg, LevelJpeg } from '../ndpi/level-jpeg.js';
import { openslideLevels, type NdpiLevelPlan } from '../ndpi/levels.js';
import { ndpiMetadata, NDPI_SOURCE_LENS } from '../ndpi/properties.js';
import type { TiffParts, TiffVendor } from '../vendor.js';

const NDPI_FOCAL_PLANE = 65424;
const NDPI_MCU_STARTS = 65426;
const NDPI_MCU_STARTS_HIGH = 65432;

export const hamamatsuVendor: TiffVendor = {
  name: 'hamamatsu',
  detect: ({ dirs }) => dirs[0] !== undefined && ndpiFileOf(dirs[0]) !== undefined,
  open: async ({ dirs }) => openNdpi(ndpiFileOf(dirs[0]!)!),
};

/** The source parts of a parsed NDPI (any ByteSource: the tests read files beyond 4 GiB that exist only in memory). */
export async function openNdpi(file: NdpiFile): Promise<TiffParts> {
  const { source } = file;
  const stored: { jpeg: LevelJpeg; width: number; height: number }[] = [];
  const associated: AssociatedReader[] = [];
  let minWidth = Infinity;
  for (const dir of file.dirs) {
    const tags = new NdpiTags(file, dir);
    const required = async (tag: number, name: string): Promise<number> => {
      const v = await tags.uint(tag);
      if (v === undefined) throw unreadable(source, `NDPI directory ${dir.index} has no ${name} (tag ${tag})`, { directory: dir.index });
      return v;
    };
    const width = await required(256, 'ImageWidth');
    const height = await required(257, 'ImageLength');
    const rowsPerStrip = await required(278, 'RowsPerStrip');
    const start = ndpiPosition(dir, await required(273, 'StripOffsets'));
    const length = await required(279, 'StripByteCounts');
    const lens = await tags.float(NDPI_SOURCE_LENS);
    if (lens === undefined) throw unreadable(source, `NDPI directory ${dir.index} has no SourceLens (tag ${NDPI_SOURCE_LENS})`, { directory: dir.index });
    if (height !== rowsPerStrip) throw unreadable(source, `NDPI directory ${dir.index} has ${rowsPerStrip} rows per strip for ${height} rows; NDPI images are one strip`, { directory: dir.index });
    if (width < 1 || height < 1 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) throw unreadable(source, `NDPI directory ${dir.index} declares ${width}x${height} px`, { directory: dir.index });
    if (lens > 0) {
      const plane = await tags.sint(NDPI_FOCAL_PLANE);
      if (plane === undefined) throw unreadable(source, `NDPI directory ${dir.index} has no signed focal plane (tag ${NDPI_FOCAL_PLANE})`, { directory: dir.index });
      if (plane !== 0) continue; // other focal planes: OpenSlide shows plane 0 only
      if (!(width < minWidth)) throw unreadable(source, `its levels are not stored largest first (directory ${dir.index} is ${width} px wide after one of ${minWidth} px)`, { directory: dir.index });
      minWidth = width;
      const jpeg = await LevelJpeg.open(source, {
        what: `level directory ${dir.index}`,
        start,
        length,
        width,
        height,
        // As OpenSlide 3.4.1: a table of another length is ignored (the markers are then found by scanning).
        mcuStarts: (count) =>
          tags.count(NDPI_MCU_STARTS) === count && tags.isUnsigned(NDPI_MCU_STARTS)
            ? {
                low: (first, n) => tags.uintRange(NDPI_MCU_STARTS, first, n),
                high: tags.count(NDPI_MCU_STARTS_HIGH) === count && tags.isUnsigned(NDPI_MCU_STARTS_HIGH) ? (first, n) => tags.uintRange(NDPI_MCU_STARTS_HIGH, first, n) : undefined,
              }
            : undefined,
      });
      stored.push({ jpeg, width, height });
    } else if (lens === -1) {
      // A later macro directory replaces an earlier one, as in OpenSlide's table of associated images.
      associated.splice(0, associated.length, await macroReader(source, start, length, dir.index));
    }
  }
  if (stored.length === 0) throw unreadable(source, 'it has no pyramid level (no directory with a positive SourceLens in focal plane 0)', {});
  const metadata = await ndpiMetadata(new NdpiTags(file, file.dirs[0]!));
  return {
    vendor: 'hamamatsu',
    levels: openslideLevels(stored).map((plan, index) => levelReader(plan, index)),
    associated,
    mpp: metadata.mpp,
    objectivePower: metadata.objectivePower,
    properties: metadata.properties,
  };
}

function levelReader(plan: NdpiLevelPlan, index: number): LevelReader {
  const empty = (col: number, row: number) => col >= plan.tilesAcross || row >= plan.tilesDown;
  return {
    level: { width: plan.width, height: plan.height, tileWidth: plan.tileWidth, tileHeight: plan.tileHeight, compression: 'JPEG' },
    // Past the stored level's whole tiles OpenSlide draws nothing (it divides the size by the tile and drops the rest).
    isEmpty: empty,
    async readTile(col, row, signal) {
      if (empty(col, row)) return undefined;
      signal?.throwIfAborted();
      return plan.jpeg.tile(row * plan.tilesAcross + col, plan.denom, `tile (${col}, ${row}) of level ${index}`);
    },
  };
}

/** The macro image: a whole JPEG, its size from its own header as OpenSlide takes it. */
async function macroReader(source: ByteSource, start: number, length: number, directory: number): Promise<AssociatedReader> {
  const what = `the macro image (NDPI directory ${directory})`;
  if (length < 4 || start + length > source.size) throw unreadable(source, `${what} (bytes ${start}..${start + length}) lies outside the file (${source.size} bytes)`, { directory });
  const header = await readJpegHeader(source, start, length, what);
  const { width, height } = header;
  return {
    info: { name: 'macro', width, height, compression: 'JPEG' },
    async read(signal) {
      if (width * height > MAX_ASSOCIATED_PIXELS || width === 0 || height === 0) {
        throw new SdsError('SLIDE_TOO_LARGE', `${source.name}: ${what} declares ${width}x${height} px (${describePixels(width * height)}), outside the 1..${describePixels(MAX_ASSOCIATED_PIXELS)} sds decodes for an associated image`, {
          suggestion: 'the file is probably corrupt; its pyramid levels can still be read',
          context: { path: source.path, image: 'macro', width, height, directory, block: 0 },
        });
      }
      signal?.throwIfAborted();
      const bytes = await source.read(start, length, what, signal);
      try {
        return await decodeJpeg(bytes, width, height);
      } catch (cause) {
        throw new SdsError('SLIDE_UNREADABLE', `${source.name}: ${what} cannot be decoded (JPEG): ${(cause as Error).message}`, {
          suggestion: 'the slide is corrupt; copy or download it again',
          context: { path: source.path, directory, block: 0 },
          cause,
        });
      }
    },
  };
}

function unreadable(source: ByteSource, problem: string, context: Record<string, unknown>): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${source.name}: ${problem}; OpenSlide cannot open it either`, {
    suggestion: 'the file is corrupt or not a complete NDPI; copy or download it again',
    context: { path: source.path, ...context },
  });
}
