/**
 * What a MIRAX slide's Slidedat.ini says, as OpenSlide 3.4.1 reads it: the camera grid (GENERAL), the zoom levels
 * of the "Slide zoom level" hierarchy (HIER_0) with their image size, format, overlap and MPP, the data files, and
 * which non-hierarchical records hold the camera positions and the associated images. Keys OpenSlide requires are
 * required here, with the same checks (positive counts, known image formats), so a slide opens here iff it opens there.
 */
import { SdsError } from '../../core/errors.js';
import { describePixels, MAX_BLOCK_PIXELS } from '../limits.js';
import type { KeyFile } from './key-file.js';

export type ImageFormat = 'JPEG' | 'PNG' | 'BMP';

export interface ZoomSection {
  /** The Slidedat section describing this level (HIER_0_VAL_i_SECTION). */
  section: string;
  /** log2 of how many images of the level above one image of this level concatenates, per side. */
  concatExponent: number;
  overlapX: number;
  overlapY: number;
  mppX: number;
  mppY: number;
  /** IMAGE_FILL_COLOR_BGR turned into 0xRRGGBB. */
  fillRgb: number;
  format: ImageFormat;
  /** Pixels of every stored image of this level (DIGITIZER_WIDTH/HEIGHT). */
  imageWidth: number;
  imageHeight: number;
}

export type AssociatedName = 'macro' | 'label' | 'thumbnail';

export interface MiraxSettings {
  slideId: string;
  /** Images across and down at level 0 (not camera photos: each photo is divisions x divisions images). */
  imagesX: number;
  imagesY: number;
  /** CameraImageDivisionsPerSide (1 when absent). */
  divisions: number;
  objectiveMagnification: number;
  indexFile: string;
  /** Data file names, relative to the data folder, by file number. */
  dataFiles: string[];
  zoom: ZoomSection[];
  /** Non-hierarchical record of the camera positions: raw (VIMSLIDE_POSITION_BUFFER) or zlib (StitchingIntensityLayer). */
  positions?: { record: number; compressed: boolean };
  associated: { name: AssociatedName; record: number }[];
}

const GENERAL = 'GENERAL';
const HIER = 'HIERARCHICAL';
const DATAFILE = 'DATAFILE';

/** The associated images OpenSlide takes from the "Scan data layer", with the key naming their format. */
const ASSOCIATED: { name: AssociatedName; value: string; formatKey: string }[] = [
  { name: 'macro', value: 'ScanDataLayer_SlideThumbnail', formatKey: 'THUMBNAIL_IMAGE_TYPE' },
  { name: 'label', value: 'ScanDataLayer_SlideBarcode', formatKey: 'BARCODE_IMAGE_TYPE' },
  { name: 'thumbnail', value: 'ScanDataLayer_SlidePreview', formatKey: 'PREVIEW_IMAGE_TYPE' },
];

export function readSettings(ini: KeyFile): MiraxSettings {
  const bad = (problem: string, context?: Record<string, unknown>) =>
    new SdsError('SLIDE_UNREADABLE', `${ini.what}: ${problem}`, {
      suggestion: 'the MIRAX Slidedat.ini is damaged or incomplete; copy the whole slide (the .mrxs file and its folder) again',
      context,
    });
  const positive = (group: string, key: string, n: number, min = 1) => {
    if (n < min) throw bad(`[${group}] ${key} is ${n}; it must be ${min === 1 ? 'positive' : `at least ${min}`}`, { group, key });
    return n;
  };

  ini.requireGroup(GENERAL);
  ini.string(GENERAL, 'SLIDE_VERSION');
  const slideId = ini.string(GENERAL, 'SLIDE_ID');
  const imagesX = positive(GENERAL, 'IMAGENUMBER_X', ini.integer(GENERAL, 'IMAGENUMBER_X'));
  const imagesY = positive(GENERAL, 'IMAGENUMBER_Y', ini.integer(GENERAL, 'IMAGENUMBER_Y'));
  const objectiveMagnification = ini.integer(GENERAL, 'OBJECTIVE_MAGNIFICATION');
  // OpenSlide: an absent or unparsable CameraImageDivisionsPerSide means 1.
  let divisions = 1;
  if (ini.value(GENERAL, 'CameraImageDivisionsPerSide') !== undefined) {
    try {
      divisions = ini.integer(GENERAL, 'CameraImageDivisionsPerSide');
    } catch {
      divisions = 1;
    }
  }
  positive(GENERAL, 'CameraImageDivisionsPerSide', divisions);

  ini.requireGroup(HIER);
  const hierCount = positive(HIER, 'HIER_COUNT', ini.integer(HIER, 'HIER_COUNT'));
  const nonhierCount = positive(HIER, 'NONHIER_COUNT', ini.integer(HIER, 'NONHIER_COUNT'), 0);
  let zoomHier = -1;
  for (let i = 0; i < hierCount && zoomHier < 0; i++) if (ini.string(HIER, `HIER_${i}_NAME`) === 'Slide zoom level') zoomHier = i;
  if (zoomHier < 0) throw bad('no HIER_i_NAME is "Slide zoom level": the slide has no zoom levels');
  if (zoomHier !== 0) throw bad(`"Slide zoom level" is HIER_${zoomHier}; OpenSlide and sds read it only as HIER_0`);
  const indexFile = ini.string(HIER, 'INDEXFILE');
  const levelCount = positive(HIER, 'HIER_0_COUNT', ini.integer(HIER, 'HIER_0_COUNT'));
  const sections: string[] = [];
  for (let i = 0; i < levelCount; i++) sections.push(ini.string(HIER, `HIER_0_VAL_${i}_SECTION`));

  ini.requireGroup(DATAFILE);
  const fileCount = positive(DATAFILE, 'FILE_COUNT', ini.integer(DATAFILE, 'FILE_COUNT'));
  const dataFiles: string[] = [];
  for (let i = 0; i < fileCount; i++) dataFiles.push(ini.string(DATAFILE, `FILE_${i}`));

  const zoom = sections.map((section, i): ZoomSection => {
    ini.requireGroup(section);
    const concatExponent = ini.integer(section, 'IMAGE_CONCAT_FACTOR');
    const overlapX = ini.double(section, 'OVERLAP_X');
    const overlapY = ini.double(section, 'OVERLAP_Y');
    const mppX = ini.double(section, 'MICROMETER_PER_PIXEL_X');
    const mppY = ini.double(section, 'MICROMETER_PER_PIXEL_Y');
    const bgr = ini.integer(section, 'IMAGE_FILL_COLOR_BGR') >>> 0;
    const imageWidth = positive(section, 'DIGITIZER_WIDTH', ini.integer(section, 'DIGITIZER_WIDTH'));
    const imageHeight = positive(section, 'DIGITIZER_HEIGHT', ini.integer(section, 'DIGITIZER_HEIGHT'));
    positive(section, 'IMAGE_CONCAT_FACTOR', concatExponent, i === 0 ? 0 : 1);
    const formatName = ini.string(section, 'IMAGE_FORMAT');
    const format = formatName === 'JPEG' ? 'JPEG' : formatName === 'PNG' ? 'PNG' : formatName === 'BMP24' ? 'BMP' : undefined;
    if (!format) {
      throw new SdsError('SLIDE_UNSUPPORTED', `${ini.what}: [${section}] IMAGE_FORMAT is ${JSON.stringify(formatName)}; MIRAX images are JPEG, PNG or BMP24`, {
        suggestion: 'sds (like OpenSlide) reads MIRAX levels stored as JPEG, PNG or BMP24 only',
        context: { section },
      });
    }
    if (imageWidth * imageHeight > MAX_BLOCK_PIXELS) {
      throw new SdsError('SLIDE_TOO_LARGE', `${ini.what}: [${section}] declares ${imageWidth}x${imageHeight} px images (${describePixels(imageWidth * imageHeight)}), more than the ${describePixels(MAX_BLOCK_PIXELS)} sds decodes at once`, {
        suggestion: 'the Slidedat.ini is probably corrupt; MIRAX camera images are about 1 Mpx',
        context: { section, imageWidth, imageHeight },
      });
    }
    const fillRgb = ((bgr << 16) & 0xff0000) | (bgr & 0xff00) | ((bgr >>> 16) & 0xff);
    return { section, concatExponent, overlapX, overlapY, mppX, mppY, fillRgb, format, imageWidth, imageHeight };
  });

  const exponents = zoom.reduce((sum, z) => sum + z.concatExponent, 0);
  if (exponents > 30) throw bad(`the zoom levels' IMAGE_CONCAT_FACTOR values add up to ${exponents}; more than 30 (a 2^30 downsample) is not a slide`);

  // Non-hierarchical records are numbered across all NONHIER_i layers in order: layer i's values follow layer i-1's.
  const layers: { name: string; count: number; first: number }[] = [];
  const layer = (name: string) => {
    let first = 0;
    for (let i = 0; i < nonhierCount; i++) {
      if (!layers[i]) {
        const layerName = ini.string(HIER, `NONHIER_${i}_NAME`);
        const count = ini.value(HIER, `NONHIER_${i}_COUNT`) === undefined ? 0 : ini.integer(HIER, `NONHIER_${i}_COUNT`);
        if (count === 0) throw bad(`NONHIER_${i}_COUNT is missing or 0`, { layer: i });
        layers[i] = { name: layerName, count, first };
      }
      if (layers[i]!.name === name) return { index: i, ...layers[i]! };
      first += layers[i]!.count;
    }
    return undefined;
  };
  const vimslide = layer('VIMSLIDE_POSITION_BUFFER');
  const stitching = vimslide ? undefined : layer('StitchingIntensityLayer');
  const positionLayer = vimslide ?? stitching;
  const positions = positionLayer ? { record: positionLayer.first, compressed: !vimslide } : undefined;

  const associated: MiraxSettings['associated'] = [];
  const scanData = layer('Scan data layer');
  if (scanData) {
    for (const { name, value, formatKey } of ASSOCIATED) {
      for (let v = 0; v < scanData.count; v++) {
        if (ini.string(HIER, `NONHIER_${scanData.index}_VAL_${v}`) !== value) continue;
        const section = ini.string(HIER, `NONHIER_${scanData.index}_VAL_${v}_SECTION`);
        const format = ini.string(section, formatKey);
        if (format !== 'JPEG') {
          throw new SdsError('SLIDE_UNSUPPORTED', `${ini.what}: the ${name} image is stored as ${JSON.stringify(format)}; MIRAX associated images are JPEG`, {
            suggestion: 'sds (like OpenSlide) reads MIRAX associated images stored as JPEG only',
            context: { section, image: name },
          });
        }
        associated.push({ name, record: scanData.first + v });
        break;
      }
    }
  }

  return { slideId, imagesX, imagesY, divisions, objectiveMagnification, indexFile, dataFiles, zoom, positions, associated };
}
