/**
 * Writes small 3DHISTECH MIRAX slides for tests, in the layout OpenSlide documents (openslide.org/formats/mirax):
 * `NAME.mrxs` beside a folder `NAME/` holding Slidedat.ini, Index.dat and Data*.dat. The camera takes photos of
 * `divisions x divisions` images each at the positions given (the VIMSLIDE_POSITION_BUFFER or, zlib-compressed, the
 * StitchingIntensityLayer record; or no record and OpenSlide's regular grid); level n+1 images concatenate 2x2
 * images of level n, each downsampled 2x, as the scanner does. Photo content is cut from a source picture at the
 * photo's position plus a per-photo `shift` (a stitching error), so overlapping photos disagree and the overlap
 * rule shows. Level-0 images and the positions go to Data0001.dat, the other levels and the associated JPEGs to
 * Data0000.dat. Nothing here is product code; the reader is checked against OpenSlide, not against this writer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

export interface Rgb {
  width: number;
  height: number;
  data: Uint8Array;
}

export type MiraxImageFormat = 'JPEG' | 'PNG' | 'BMP24';

export interface MiraxSpec {
  /** Folder to write into and the slide's stem: writes `${dir}/${name}.mrxs` and `${dir}/${name}/`. */
  dir: string;
  name: string;
  /** Level-0 image size (every level's images have this size). */
  imageWidth: number;
  imageHeight: number;
  /** CameraImageDivisionsPerSide. */
  divisions: number;
  photosAcross: number;
  photosDown: number;
  /** Level-0 position of each photo (row-major); undefined: never scanned (no images, position (0, 0)). */
  positions: ([number, number] | undefined)[];
  /** Per photo: where its content is cut from the source, relative to its position (a stitching error). */
  shift?: (photo: number) => [number, number];
  /** Picture the photos are cut from (at least as large as the slide). */
  source: Rgb;
  /** One entry per zoom level: the format of its images (level i concatenates 2^i level-0 images per side). */
  levels: MiraxImageFormat[];
  positionLayer: 'vimslide' | 'stitching' | 'none';
  /** Nominal OVERLAP_X / OVERLAP_Y of every level (OpenSlide sizes level 0 from those of level 0). */
  overlap: [number, number];
  mpp: number;
  objective: number;
  /** IMAGE_FILL_COLOR_BGR of level 0. */
  fillBgr?: number;
  associated?: Partial<Record<'label' | 'macro' | 'thumbnail', Rgb>>;
  /** Start Slidedat.ini with a UTF-8 byte-order mark (real ones do). */
  bom?: boolean;
  /** Level-0 images split over this many index pages (the reader must walk pages). */
  pages?: number;
}

export interface WrittenMirax {
  mrxs: string;
  folder: string;
  slideId: string;
  /** Where each stored image went, by level: image (x, y) in level-0 image units -> data file and byte range. */
  images: { level: number; x: number; y: number; file: string; offset: number; length: number }[];
  /** The associated JPEGs: name -> data file and byte range. */
  associated: Record<string, { file: string; offset: number; length: number }>;
}

const SLIDE_ID = '7c6b0e5a3f2d4e1b9a8c7d6e5f4a3b2c';

/** Data file being written: appended bytes, the offset each starts at. */
class DataFile {
  private readonly chunks: Uint8Array[] = [];
  size = 0;
  constructor(readonly name: string) {}
  append(bytes: Uint8Array): { offset: number; length: number } {
    const offset = this.size;
    this.chunks.push(bytes);
    this.size += bytes.length;
    return { offset, length: bytes.length };
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

export async function writeMirax(spec: MiraxSpec): Promise<WrittenMirax> {
  const { imageWidth: iw, imageHeight: ih, divisions: d, photosAcross, photosDown } = spec;
  const imagesX = photosAcross * d;
  const imagesY = photosDown * d;
  const folder = join(spec.dir, spec.name);
  mkdirSync(folder, { recursive: true });
  const data = [new DataFile('Data0000.dat'), new DataFile('Data0001.dat')];
  const written: WrittenMirax['images'] = [];
  const associated: WrittenMirax['associated'] = {};

  // Level-0 images: image (xx, yy) is part (xx mod d, yy mod d) of photo (xx div d, yy div d); null: not scanned.
  const level0 = (xx: number, yy: number): Rgb | null => {
    const photo = Math.floor(yy / d) * photosAcross + Math.floor(xx / d);
    const at = spec.positions[photo];
    if (!at) return null;
    const [sx, sy] = spec.shift?.(photo) ?? [0, 0];
    return crop(spec.source, at[0] + sx + (xx % d) * iw, at[1] + sy + (yy % d) * ih, iw, ih);
  };

  // Hierarchical records: per level, the images (index, data file, byte range).
  const hier: { index: number; file: number; offset: number; length: number }[][] = [];
  for (const [level, format] of spec.levels.entries()) {
    const concat = 2 ** level;
    const file = level === 0 ? 1 : 0;
    const records: (typeof hier)[number] = [];
    for (let y = 0; y < imagesY; y += concat) {
      for (let x = 0; x < imagesX; x += concat) {
        // concat x concat level-0 images, each downsampled by concat, side by side.
        const parts: { image: Rgb; dx: number; dy: number }[] = [];
        for (let j = 0; j < concat && y + j < imagesY; j++) {
          for (let i = 0; i < concat && x + i < imagesX; i++) {
            const image = level0(x + i, y + j);
            if (image) parts.push({ image: downsample(image, concat), dx: (i * iw) / concat, dy: (j * ih) / concat });
          }
        }
        if (parts.length === 0) continue;
        const canvas = white(iw, ih);
        for (const { image, dx, dy } of parts) paste(canvas, image, dx, dy);
        const range = data[file]!.append(await encode(canvas, format));
        records.push({ index: y * imagesX + x, file, ...range });
        written.push({ level, x, y, file: data[file]!.name, ...range });
      }
    }
    hier.push(records);
  }

  // Non-hierarchical records: the associated images, then the positions.
  const nonhier: { layer: string; values: { name: string; section: string; keys: Record<string, string> }[] }[] = [];
  const nonhierData: { file: number; offset: number; length: number }[] = [];
  const assoc = spec.associated ?? {};
  const scanValues: (typeof nonhier)[number]['values'] = [];
  for (const [key, value, typeKey] of [
    ['macro', 'ScanDataLayer_SlideThumbnail', 'THUMBNAIL_IMAGE_TYPE'],
    ['label', 'ScanDataLayer_SlideBarcode', 'BARCODE_IMAGE_TYPE'],
    ['thumbnail', 'ScanDataLayer_SlidePreview', 'PREVIEW_IMAGE_TYPE'],
  ] as const) {
    const image = assoc[key];
    if (!image) continue;
    scanValues.push({ name: value, section: `NONHIERLAYER_0_LEVEL_${scanValues.length}_SECTION`, keys: { [typeKey]: 'JPEG' } });
    const range = data[0]!.append(await encode(image, 'JPEG'));
    nonhierData.push({ file: 0, ...range });
    associated[key] = { file: data[0]!.name, ...range };
  }
  if (scanValues.length) nonhier.push({ layer: 'Scan data layer', values: scanValues });
  if (spec.positionLayer !== 'none') {
    const buffer = Buffer.alloc(9 * spec.positions.length);
    spec.positions.forEach((p, i) => {
      buffer[i * 9] = p ? 1 : 0;
      buffer.writeInt32LE(p?.[0] ?? 0, i * 9 + 1);
      buffer.writeInt32LE(p?.[1] ?? 0, i * 9 + 5);
    });
    const n = nonhier.length;
    if (spec.positionLayer === 'vimslide') {
      nonhier.push({ layer: 'VIMSLIDE_POSITION_BUFFER', values: [{ name: 'default', section: `NONHIERLAYER_${n}_LEVEL_0_SECTION`, keys: { VIMSLIDE_POSITION_DATA_FORMAT_VERSION: '257' } }] });
      nonhierData.push({ file: 1, ...data[1]!.append(buffer) });
    } else {
      nonhier.push({ layer: 'StitchingIntensityLayer', values: [{ name: 'StitchingIntensityLevel', section: `NONHIERLAYER_${n}_LEVEL_0_SECTION`, keys: { COMPRESSSED_STITCHING_VERSION: '1' } }] });
      nonhierData.push({ file: 1, ...data[1]!.append(deflateSync(buffer)) });
    }
  }

  writeFileSync(join(folder, 'Index.dat'), indexFile(SLIDE_ID, hier, nonhierData, spec.pages ?? 1));
  for (const f of data) writeFileSync(join(folder, f.name), f.bytes());
  const ini = slidedat(spec, imagesX, imagesY, nonhier);
  writeFileSync(join(folder, 'Slidedat.ini'), spec.bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ini)]) : ini);
  // Real .mrxs files are small opaque blobs; OpenSlide only checks that it exists.
  const mrxs = join(spec.dir, `${spec.name}.mrxs`);
  writeFileSync(mrxs, Buffer.from('MIRAX test slide written by test/support/slide-writers/mrxs.ts\n'));
  return { mrxs, folder, slideId: SLIDE_ID, images: written, associated };
}

function slidedat(spec: MiraxSpec, imagesX: number, imagesY: number, nonhier: { layer: string; values: { name: string; section: string; keys: Record<string, string> }[] }[]): string {
  const lines: string[] = [];
  const group = (name: string, entries: Record<string, string | number>) => {
    lines.push(`[${name}]`, ...Object.entries(entries).map(([k, v]) => `${k} = ${v}`), '');
  };
  lines.push('# written by the sds MIRAX test writer');
  group('GENERAL', {
    SLIDE_NAME: spec.name,
    SLIDE_ID: SLIDE_ID,
    SLIDE_VERSION: '01.03',
    SLIDE_CREATIONDATETIME: '18/11/2011 14:08:33',
    IMAGENUMBER_X: imagesX,
    IMAGENUMBER_Y: imagesY,
    OBJECTIVE_NAME: 'Plan-Apochromat',
    OBJECTIVE_MAGNIFICATION: spec.objective,
    CameraImageDivisionsPerSide: spec.divisions,
  });
  const hier: Record<string, string | number> = { HIER_COUNT: 1, HIER_0_NAME: 'Slide zoom level', HIER_0_COUNT: spec.levels.length };
  spec.levels.forEach((_, i) => {
    hier[`HIER_0_VAL_${i}`] = `ZoomLevel_${i}`;
    hier[`HIER_0_VAL_${i}_SECTION`] = `LAYER_0_LEVEL_${i}_SECTION`;
  });
  hier.HIER_0_SECTION = 'LAYER_0_SECTION';
  hier.NONHIER_COUNT = nonhier.length;
  nonhier.forEach((layer, i) => {
    hier[`NONHIER_${i}_NAME`] = layer.layer;
    hier[`NONHIER_${i}_COUNT`] = layer.values.length;
    layer.values.forEach((v, j) => {
      hier[`NONHIER_${i}_VAL_${j}`] = v.name;
      hier[`NONHIER_${i}_VAL_${j}_SECTION`] = v.section;
    });
  });
  hier.INDEXFILE = 'Index.dat';
  group('HIERARCHICAL', hier);
  group('DATAFILE', { FILE_COUNT: 2, FILE_0: 'Data0000.dat', FILE_1: 'Data0001.dat' });
  spec.levels.forEach((format, i) => {
    const scale = 2 ** i;
    group(`LAYER_0_LEVEL_${i}_SECTION`, {
      OVERLAP_X: spec.overlap[0],
      OVERLAP_Y: spec.overlap[1],
      MICROMETER_PER_PIXEL_X: spec.mpp * scale,
      MICROMETER_PER_PIXEL_Y: spec.mpp * scale,
      IMAGE_FORMAT: format,
      IMAGE_QUALITY: 85,
      IMAGE_FILL_COLOR_BGR: spec.fillBgr ?? 16777215,
      DIGITIZER_WIDTH: spec.imageWidth,
      DIGITIZER_HEIGHT: spec.imageHeight,
      IMAGE_CONCAT_FACTOR: i === 0 ? 0 : 1,
    });
  });
  for (const layer of nonhier) for (const v of layer.values) group(v.section, v.keys);
  return lines.join('\r\n');
}

/**
 * Index.dat: "01.02" + SLIDE_ID, the two root pointers, the two tables, then per record a list head (0, pointer)
 * and its data pages (item count, next pointer, items), stored one after the other.
 */
function indexFile(slideId: string, hier: { index: number; file: number; offset: number; length: number }[][], nonhier: { file: number; offset: number; length: number }[], pages: number): Uint8Array {
  const words: number[] = [];
  const header = Buffer.from(`01.02${slideId}`, 'latin1');
  const at = () => header.length + words.length * 4;
  const rootAt = words.length;
  words.push(0, 0);
  const hierTable = at();
  words.push(...hier.map(() => 0));
  const nonhierTable = at();
  words.push(...nonhier.map(() => 0));
  words[rootAt] = hierTable;
  words[rootAt + 1] = nonhierTable;
  const slot = (byteOffset: number) => (byteOffset - header.length) / 4;
  hier.forEach((records, level) => {
    words[slot(hierTable) + level] = at();
    const head = words.length;
    words.push(0, 0);
    words[head + 1] = at();
    const n = level === 0 ? pages : 1;
    const per = Math.ceil(records.length / n);
    for (let p = 0; p < n; p++) {
      const items = records.slice(p * per, (p + 1) * per);
      const pageAt = words.length;
      words.push(items.length, 0);
      for (const r of items) words.push(r.index, r.offset, r.length, r.file);
      if (p < n - 1) words[pageAt + 1] = at();
    }
  });
  nonhier.forEach((r, i) => {
    words[slot(nonhierTable) + i] = at();
    const head = words.length;
    words.push(0, 0);
    words[head + 1] = at();
    words.push(1, 0, 0, 0, r.offset, r.length, r.file);
  });
  const body = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => body.writeInt32LE(w, i * 4));
  return Buffer.concat([header, body]);
}

async function encode(image: Rgb, format: MiraxImageFormat): Promise<Uint8Array> {
  if (format === 'BMP24') return bmp24(image);
  const s = sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } });
  return new Uint8Array(format === 'JPEG' ? await s.jpeg({ quality: 85 }).toBuffer() : await s.png().toBuffer());
}

/** Uncompressed 24-bit Windows bitmap, bottom-up, rows padded to 4 bytes. */
export function bmp24(image: Rgb): Uint8Array {
  const stride = Math.ceil((image.width * 3) / 4) * 4;
  const out = Buffer.alloc(54 + stride * image.height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(image.width, 18);
  out.writeInt32LE(image.height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(stride * image.height, 34);
  out.writeInt32LE(2835, 38);
  out.writeInt32LE(2835, 42);
  for (let y = 0; y < image.height; y++) {
    const row = 54 + (image.height - 1 - y) * stride;
    for (let x = 0; x < image.width; x++) {
      const s = (y * image.width + x) * 3;
      out[row + x * 3] = image.data[s + 2]!;
      out[row + x * 3 + 1] = image.data[s + 1]!;
      out[row + x * 3 + 2] = image.data[s]!;
    }
  }
  return out;
}

function white(width: number, height: number): Rgb {
  return { width, height, data: new Uint8Array(width * height * 3).fill(255) };
}

/** A width x height cut of `src` at (x, y); pixels outside it are white. */
export function crop(src: Rgb, x: number, y: number, width: number, height: number): Rgb {
  const out = white(width, height);
  for (let j = 0; j < height; j++) {
    const sy = y + j;
    if (sy < 0 || sy >= src.height) continue;
    for (let i = 0; i < width; i++) {
      const sx = x + i;
      if (sx < 0 || sx >= src.width) continue;
      out.data.set(src.data.subarray((sy * src.width + sx) * 3, (sy * src.width + sx) * 3 + 3), (j * width + i) * 3);
    }
  }
  return out;
}

function paste(dst: Rgb, src: Rgb, x: number, y: number): void {
  for (let j = 0; j < src.height; j++) dst.data.set(src.data.subarray(j * src.width * 3, (j + 1) * src.width * 3), ((y + j) * dst.width + x) * 3);
}

/** Box average by an integer factor (the scanner's 2x per level, applied `factor` times at once). */
function downsample(src: Rgb, factor: number): Rgb {
  if (factor === 1) return src;
  const width = src.width / factor;
  const height = src.height / factor;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let j = 0; j < factor; j++) for (let i = 0; i < factor; i++) sum += src.data[((y * factor + j) * src.width + x * factor + i) * 3 + c]!;
        out[(y * width + x) * 3 + c] = Math.round(sum / (factor * factor));
      }
    }
  }
  return { width, height, data: out };
}
