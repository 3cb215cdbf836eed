/**
 * Philips TIFF (OpenSlide 3.4.1's philips driver, https://openslide.org/formats/philips/): Software starts with
 * "Philips" and the first ImageDescription is Philips' DICOM-like XML (`<DataObject ObjectType="DPUfsImport">`).
 * The tiled directories are the levels, but their TIFF sizes are padded: each level's downsample is its
 * DICOM_PIXEL_SPACING over level 0's (rounded to a whole number) and its size level 0's divided by that.
 * Tiles with no bytes are sparse (background). Label and macro are stripped directories described "Label..." /
 * "Macro...", else base64 JPEGs in the XML. The XML's attributes become `philips.*` properties, as OpenSlide names them.
 */
import { SdsError } from '../../../core/errors.js';
import { createTileDecoder } from '../../decoders/index.js';
import { frameSize } from '../../decoders/jpeg.js';
import { describePixels, MAX_ASSOCIATED_PIXELS } from '../../limits.js';
import type { AssociatedReader, LevelReader } from '../../source-parts.js';
import { tiffAssociatedReader, tiffLevelReader } from '../blocks.js';
import type { TiffDirectory } from '../directory.js';
import { tiffProperties } from '../pyramid.js';
import type { TiffContext, TiffParts, TiffVendor } from '../vendor.js';
import { genericTiffVendor } from './generic.js';
import { children, descriptionXml, parseDoubleLikeOpenSlide, textContent, type XmlElement } from './xml.js';

const TAG_SOFTWARE = 305;
/** NewSubfileType bit 0: a reduced-resolution image, which every level after the first must be. */
const REDUCED_IMAGE = 1;

export const philipsVendor: TiffVendor = {
  name: 'philips',
  detect: ({ dirs }) => philipsRoot(dirs[0]!) !== undefined,
  async open(ctx) {
    // Software is a second condition of OpenSlide's detection; without it the file is a generic TIFF to OpenSlide.
    const software = await ctx.dirs[0]!.readTag(TAG_SOFTWARE);
    if (!(typeof software === 'string' && software.startsWith('Philips'))) return genericTiffVendor.open(ctx);
    return openPhilips(ctx, philipsRoot(ctx.dirs[0]!)!);
  },
};

/** The XML root when the description is Philips' `<DataObject ObjectType="DPUfsImport">`; broken XML is not Philips (OpenSlide: generic TIFF). */
function philipsRoot(dir: TiffDirectory): XmlElement | undefined {
  if (!dir.description?.includes('DPUfsImport')) return undefined;
  const parsed = descriptionXml(dir);
  if (!parsed || !('root' in parsed)) return undefined;
  const { root } = parsed;
  return root.local === 'DataObject' && root.attributes.ObjectType === 'DPUfsImport' ? root : undefined;
}

async function openPhilips({ file, dirs, concurrency }: TiffContext, root: XmlElement): Promise<TiffParts> {
  const unreadable = (problem: string, context: Record<string, unknown> = {}) =>
    new SdsError('SLIDE_UNREADABLE', `${file.name}: ${problem}; OpenSlide refuses it too`, {
      suggestion: 'the Philips metadata does not match the pyramid (the file is corrupt, or a tool rewrote the TIFF but kept the XML); copy it again, or convert it to a generic pyramidal TIFF',
      context: { path: file.path, ...context },
    });

  const wsiCount = scannedImages(root, 'WSI').flat().length;
  if (wsiCount !== 1) throw unreadable(`its Philips XML describes ${wsiCount} WSI images (PIM_DP_SCANNED_IMAGES), not one`);
  const wsi = scannedImages(root, 'WSI').flatMap((array) => array.slice(0, 1))[0]!;

  const levelDirs: TiffDirectory[] = [];
  const associatedDirs = new Map<string, TiffDirectory>();
  for (const dir of dirs) {
    if (dir.tiled) {
      const prev = levelDirs.at(-1);
      if (prev && !(dir.newSubfileType & REDUCED_IMAGE)) throw unreadable(`tiled TIFF directory ${dir.index} follows level 0 but is not marked reduced-resolution`, { directory: dir.index });
      if (prev && (dir.width > prev.width || dir.height > prev.height)) throw unreadable(`tiled TIFF directory ${dir.index} (${dir.width}x${dir.height}) is larger than the level before it`, { directory: dir.index });
      levelDirs.push(dir);
    } else if (dir.description?.startsWith('Label')) associatedDirs.set('label', dir);
    else if (dir.description?.startsWith('Macro')) associatedDirs.set('macro', dir);
  }
  if (levelDirs.length === 0) return { vendor: 'philips', levels: [] };

  // One pixel spacing per level, from the WSI's pixel data representations.
  const spacings = attributesNamed(wsi, 'PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE')
    .flatMap((a) => children(a, 'Array'))
    .flatMap((a) => children(a, 'DataObject'))
    .filter((d) => d.attributes.ObjectType === 'PixelDataRepresentation')
    .flatMap((d) => attributesNamed(d, 'DICOM_PIXEL_SPACING'))
    .flatMap((a) => a.texts);
  if (spacings.length !== levelDirs.length) throw unreadable(`its Philips XML gives ${spacings.length} pixel spacings (DICOM_PIXEL_SPACING) for ${levelDirs.length} tiled levels`);
  const parsedSpacings = spacings.map((s, i) => {
    const spacing = parsePixelSpacing(s);
    if (!spacing) throw unreadable(`level ${i}: its pixel spacing "${s}" is not two numbers`, { level: i });
    return spacing;
  });

  const base = levelDirs[0]!;
  const levels: LevelReader[] = levelDirs.map((dir, index) => {
    if (index === 0) return tiffLevelReader(file, dir, { index });
    const s = parsedSpacings[index]!;
    const s0 = parsedSpacings[0]!;
    // Whole downsamples, as OpenSlide assumes, so floating-point noise in the spacings does not leak into sizes.
    const downsample = Math.round((s.width / s0.width + s.height / s0.height) / 2);
    if (!(Number.isFinite(downsample) && downsample >= 1)) throw unreadable(`level ${index}: its pixel spacing gives downsample ${downsample}`, { level: index });
    // The TIFF sizes are padded to whole tiles; the real size is level 0's divided by the downsample.
    return clippedLevel(tiffLevelReader(file, dir, { index, downsample }), dir, Math.trunc(base.width / downsample), Math.trunc(base.height / downsample));
  });

  const associated: AssociatedReader[] = [...associatedDirs].map(([name, dir]) => tiffAssociatedReader(file, name, dir, concurrency));
  for (const [name, type] of [['label', 'LABELIMAGE'], ['macro', 'MACROIMAGE']] as const) {
    if (associatedDirs.has(name)) continue;
    const reader = xmlAssociatedReader(file.name, file.path, name, root, type);
    if (reader) associated.push(reader);
  }

  const properties: Record<string, string> = { ...tiffProperties(dirs[0]!) };
  // The description is the XML document, given below as properties.
  delete properties['tiff.ImageDescription'];
  addProperties(properties, 'philips', children(root, 'Attribute'));
  const pixelSpacing = parsePixelSpacing(properties['philips.DICOM_PIXEL_SPACING']);
  const mpp = pixelSpacing && pixelSpacing.width > 0 && pixelSpacing.height > 0 ? { x: 1e3 * pixelSpacing.width, y: 1e3 * pixelSpacing.height } : undefined;
  return { vendor: 'philips', levels, associated, mpp, properties };
}

/** A level whose real size is smaller than its padded TIFF size; tiles outside the TIFF grid are empty. */
function clippedLevel(reader: LevelReader, dir: TiffDirectory, width: number, height: number): LevelReader {
  const inGrid = (col: number, row: number) => col >= 0 && row >= 0 && col < dir.blocksAcross && row < dir.blocksDown;
  return {
    level: { ...reader.level, width, height },
    isEmpty: (col, row) => !inGrid(col, row) || reader.isEmpty(col, row),
    readTile: async (col, row, signal) => (inGrid(col, row) ? reader.readTile(col, row, signal) : undefined),
  };
}

/** `Attribute` children of `el` named `name`. */
function attributesNamed(el: XmlElement, name: string): XmlElement[] {
  return children(el, 'Attribute').filter((a) => a.attributes.Name === name);
}

/**
 * The DPScannedImage objects of a type ('WSI', 'LABELIMAGE', 'MACROIMAGE'), per Array of PIM_DP_SCANNED_IMAGES.
 * OpenSlide's XPath test: some Attribute child is named PIM_DP_IMAGE_TYPE and some Attribute child's text is the type.
 */
function scannedImages(root: XmlElement, type: string): XmlElement[][] {
  return attributesNamed(root, 'PIM_DP_SCANNED_IMAGES')
    .flatMap((a) => children(a, 'Array'))
    .map((array) => scannedImagesIn(array, type));
}

function scannedImagesIn(array: XmlElement, type: string): XmlElement[] {
  return children(array, 'DataObject').filter((d) => {
    const attrs = children(d, 'Attribute');
    return attrs.some((a) => a.attributes.Name === 'PIM_DP_IMAGE_TYPE') && attrs.some((a) => a.texts.includes(type));
  });
}

/** `"row spacing" "column spacing"` in mm, as width (column) and height (row) spacing; undefined unless two numbers. */
function parsePixelSpacing(value: string | undefined): { width: number; height: number } | undefined {
  const parts = value?.split(' ');
  if (!parts || parts.length !== 2) return undefined;
  const [row, col] = parts.map((p) => parseDoubleLikeOpenSlide(p.replaceAll('"', ' ').trim()));
  return row === undefined || col === undefined ? undefined : { width: col, height: row };
}

/**
 * OpenSlide's `philips.*` properties: every leaf Attribute as `prefix.Name`; into the first WSI image's attributes
 * (same prefix), and into each pixel data representation as `prefix.PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE[i]`.
 * A later attribute of the same name replaces an earlier one.
 */
function addProperties(props: Record<string, string>, prefix: string, attributes: XmlElement[]): void {
  for (const attr of attributes) {
    const name = attr.attributes.Name;
    if (name === undefined) continue;
    if (name === 'PIM_DP_SCANNED_IMAGES') {
      const firstWsi = children(attr, 'Array').flatMap((array) => scannedImagesIn(array, 'WSI').slice(0, 1));
      addProperties(props, prefix, firstWsi.flatMap((d) => children(d, 'Attribute')));
    } else if (name === 'PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE') {
      children(attr, 'Array')
        .flatMap((a) => children(a, 'DataObject'))
        .forEach((d, i) => addProperties(props, `${prefix}.${name}[${i}]`, children(d, 'Attribute')));
    } else if (attr.children.length === 0) {
      props[`${prefix}.${name}`] = textContent(attr);
    }
  }
}

/**
 * Label or macro stored in the XML as a base64 JPEG (PIM_DP_IMAGE_DATA of the first image of that type), as
 * OpenSlide adds it: only when its JPEG header can be read (otherwise the image is left out, not an error).
 */
function xmlAssociatedReader(fileName: string, path: string, name: string, root: XmlElement, type: string): AssociatedReader | undefined {
  const image = scannedImages(root, type).flatMap((array) => array.slice(0, 1));
  const base64 = image.flatMap((d) => attributesNamed(d, 'PIM_DP_IMAGE_DATA')).find((a) => a.texts.length)?.texts[0];
  if (!base64) return undefined;
  // Node's base64 decoding skips characters outside the alphabet (line breaks), as GLib's does.
  const jpeg = new Uint8Array(Buffer.from(base64, 'base64'));
  const size = frameSize(jpeg);
  if (!size || size.width === 0 || size.height === 0) return undefined;
  const { width, height } = size;
  return {
    info: { name, width, height, compression: 'JPEG' },
    async read(signal) {
      signal?.throwIfAborted();
      if (width * height > MAX_ASSOCIATED_PIXELS) {
        throw new SdsError('SLIDE_TOO_LARGE', `${fileName}: its ${name} image declares ${width}x${height} px (${describePixels(width * height)}), more than the ${describePixels(MAX_ASSOCIATED_PIXELS)} sds decodes for an associated image`, {
          suggestion: 'the file is probably corrupt; its pyramid levels can still be read',
          context: { path, image: name, width, height, budget: MAX_ASSOCIATED_PIXELS },
        });
      }
      const decoder = createTileDecoder({ compression: 7, photometric: 6, blockWidth: width, blockHeight: height, samplesPerPixel: 3, bitsPerSample: [8, 8, 8], planarConfiguration: 1, predictor: 1 }, fileName);
      try {
        return await decoder.decode(jpeg);
      } catch (cause) {
        throw new SdsError('SLIDE_UNREADABLE', `${fileName}: its ${name} image (a JPEG in the Philips XML) cannot be decoded: ${(cause as Error).message}`, {
          suggestion: 'the slide is corrupt; its pyramid levels can still be read',
          context: { path, image: name, block: 0 },
          cause,
        });
      }
    },
  };
}
