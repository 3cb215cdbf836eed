/**
 * Leica SCN (OpenSlide 3.4.1's leica driver, https://openslide.org/formats/leica/): a tiled first directory whose
 * ImageDescription is an `<scn>` document in a Leica namespace. Its collection (the whole slide, in nm) holds
 * images, each a pyramid of `dimension`s naming TIFF directories. The macro image spans the collection and is
 * the associated 'macro'; the brightfield main images are composited into the collection at their offsets, level
 * by level, so a level is collection-sized and holds the scanned regions (`openslide.region[i]`,
 * `openslide.bounds-*`) on empty background. MPP is 10000 / XResolution where the unit is centimetres.
 */
import { SdsError } from '../../../core/errors.js';
import { MAX_IMAGE_SIDE } from '../../limits.js';
import type { AssociatedReader, LevelReader } from '../../source-parts.js';
import { tiffAssociatedReader, tiffCompressionName, tiffLevelReader } from '../blocks.js';
import type { TiffDirectory } from '../directory.js';
import { tiffProperties } from '../pyramid.js';
import type { TiffContext, TiffParts, TiffVendor } from '../vendor.js';
import { directoryPieces, placedLevelReader, TileMemo } from './placed-tiles.js';
import { children, descriptionXml, firstText, ownNamespace, parseIntegerLikeOpenSlide, select, type XmlElement } from './xml.js';

const LEICA_NAMESPACES = ['http://www.leica-microsystems.com/scn/2010/03/10', 'http://www.leica-microsystems.com/scn/2010/10/01'];

export const leicaVendor: TiffVendor = {
  name: 'leica',
  detect: ({ dirs }) => leicaRoot(dirs[0]!) !== undefined,
  open: (ctx) => openLeica(ctx, leicaRoot(ctx.dirs[0]!)!),
};

/** The `<scn>` root when OpenSlide would take the file for Leica (tiled first directory, well-formed XML in a Leica namespace). */
function leicaRoot(dir: TiffDirectory): XmlElement | undefined {
  const description = dir.description;
  if (!dir.tiled || !description || !LEICA_NAMESPACES.some((ns) => description.includes(ns))) return undefined;
  const parsed = descriptionXml(dir);
  if (!parsed || !('root' in parsed)) return undefined;
  return LEICA_NAMESPACES.includes(ownNamespace(parsed.root) ?? '') ? parsed.root : undefined;
}

interface Dimension {
  dir: number;
  width: number;
  nmPerPixel: number;
}

interface Image {
  creationDate?: string;
  deviceModel?: string;
  deviceVersion?: string;
  illumination?: string;
  objective?: string;
  aperture?: string;
  isMacro: boolean;
  nmOffsetX: number;
  nmOffsetY: number;
  /** z-plane 0 only, widest first. */
  dimensions: Dimension[];
}

interface Area {
  dir: TiffDirectory;
  /** Offset in this level's pixels. */
  x: number;
  y: number;
}

async function openLeica({ file, dirs, concurrency }: TiffContext, root: XmlElement): Promise<TiffParts> {
  const corrupt = (problem: string) =>
    new SdsError('SLIDE_UNREADABLE', `${file.name}: its Leica SCN XML ${problem}`, {
      suggestion: 'the file is corrupt or not a Leica SCN slide; copy it again',
      context: { path: file.path },
    });
  const refused = (problem: string) =>
    new SdsError('SLIDE_UNSUPPORTED', `${file.name}: ${problem}; OpenSlide does not read such SCN slides either`, {
      suggestion: 'export the main image from Leica software as a pyramidal TIFF',
      context: { path: file.path },
    });
  const int = (el: XmlElement, name: string): number => {
    const value = parseIntegerLikeOpenSlide(el.attributes[name]);
    if (value === undefined) throw corrupt(`has no integer "${name}" on <${el.local}> (found ${JSON.stringify(el.attributes[name] ?? null)})`);
    return value;
  };
  const directory = (index: number): TiffDirectory => {
    const dir = dirs[index];
    if (!dir) throw corrupt(`names TIFF directory ${index}, but the file has ${dirs.length}`);
    if (!dir.tiled) throw corrupt(`names TIFF directory ${index}, which is not tiled`);
    return dir;
  };

  const collections = root.local === 'scn' ? children(root, 'collection') : [];
  if (collections.length !== 1) throw corrupt('has no single <collection> under <scn>');
  const collection = collections[0]!;
  const nmAcross = int(collection, 'sizeX');
  const nmDown = int(collection, 'sizeY');
  const imageNodes = children(collection, 'image');
  if (imageNodes.length === 0) throw corrupt('lists no <image>');
  const images = imageNodes.map((node): Image => {
    const views = children(node, 'view');
    if (views.length !== 1) throw corrupt('has an <image> without a single <view>');
    const view = views[0]!;
    const [viewX, viewY, nmOffsetX, nmOffsetY] = [int(view, 'sizeX'), int(view, 'sizeY'), int(view, 'offsetX'), int(view, 'offsetY')];
    const dimensionNodes = select(node, ['pixels', 'dimension']);
    if (dimensionNodes.length === 0) throw corrupt('has an <image> without <pixels><dimension>');
    // Other focal planes are left out, as OpenSlide does.
    const dimensions = dimensionNodes
      .filter((d) => d.attributes.z === undefined || d.attributes.z === '0')
      .map((d) => ({ dir: int(d, 'ifd'), width: int(d, 'sizeX'), height: int(d, 'sizeY') }))
      .map((d) => {
        if (d.width <= 0 || d.height <= 0) throw corrupt(`gives TIFF directory ${d.dir} a size of ${d.width}x${d.height}`);
        return d;
      })
      .map((d) => ({ dir: d.dir, width: d.width, nmPerPixel: viewX / d.width }))
      .sort((a, b) => b.width - a.width);
    if (dimensions.length === 0) throw corrupt('has an <image> with no dimension in focal plane 0');
    return {
      creationDate: firstText(node, ['creationDate']),
      deviceModel: children(node, 'device').find((d) => d.attributes.model !== undefined)?.attributes.model,
      deviceVersion: children(node, 'device').find((d) => d.attributes.version !== undefined)?.attributes.version,
      illumination: firstText(node, ['scanSettings', 'illuminationSettings', 'illuminationSource']),
      objective: firstText(node, ['scanSettings', 'objectiveSettings', 'objective']),
      aperture: firstText(node, ['scanSettings', 'illuminationSettings', 'numericalAperture']),
      isMacro: nmOffsetX === 0 && nmOffsetY === 0 && viewX === nmAcross && viewY === nmDown,
      nmOffsetX,
      nmOffsetY,
      dimensions,
    };
  });

  // Main images: brightfield, not the macro; all of them are composited, level by level.
  const mains = images.filter((i) => !i.isMacro && i.illumination === 'brightfield');
  const first = mains[0];
  if (!first) throw refused('it has no brightfield main image (fluorescence slides are not read)');
  const levelNm: number[] = first.dimensions.map((d) => d.nmPerPixel);
  for (const image of mains.slice(1)) {
    if (image.objective !== first.objective || image.dimensions.length !== first.dimensions.length) throw refused('its main images differ in objective or pyramid depth');
    image.dimensions.forEach((d, k) => {
      const similarity = 1 - Math.abs(d.nmPerPixel - first.dimensions[k]!.nmPerPixel) / first.dimensions[k]!.nmPerPixel;
      if (similarity < 0.98) throw refused('its main images have inconsistent resolutions');
      // The densest image sets the level's pixel size.
      levelNm[k] = Math.min(levelNm[k]!, d.nmPerPixel);
    });
  }
  const levelAreas: Area[][] = levelNm.map((nm, k) =>
    mains.map((image) => ({ dir: directory(image.dimensions[k]!.dir), x: Math.trunc(image.nmOffsetX / nm), y: Math.trunc(image.nmOffsetY / nm) })),
  );

  const memo = new TileMemo(file);
  const levels: LevelReader[] = levelAreas.map((areas, index) => {
    const width = Math.ceil(nmAcross / levelNm[index]!);
    const height = Math.ceil(nmDown / levelNm[index]!);
    if (!(width >= 1 && height >= 1)) throw corrupt(`makes level ${index} ${width}x${height} px (collection ${nmAcross}x${nmDown} nm at ${levelNm[index]} nm per pixel)`);
    if (!(width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE)) {
      throw new SdsError('SLIDE_TOO_LARGE', `${file.name}: its Leica XML makes level ${index} ${width}x${height} px, beyond the ${MAX_IMAGE_SIDE} px per side sds reads`, {
        suggestion: 'the collection size or pixel sizes in the XML are corrupt',
        context: { path: file.path, level: index, width, height },
      });
    }
    const only = areas.length === 1 ? areas[0]! : undefined;
    // The whole level is one directory where it lies: its own tiles, no compositing.
    if (only && only.x === 0 && only.y === 0 && only.dir.width === width && only.dir.height === height) return tiffLevelReader(file, only.dir, { index });
    const grid = areas[0]!.dir;
    return placedLevelReader(memo, {
      index,
      width,
      height,
      tileWidth: grid.blockWidth,
      tileHeight: grid.blockHeight,
      compression: tiffCompressionName(grid),
      // OpenSlide paints the main images in XML order, the first keeping overlapping pixels.
      pieces: areas.flatMap((a) => directoryPieces(a.dir, a.x, a.y)),
    });
  });

  const macros = images.filter((i) => i.isMacro && i.illumination === 'brightfield');
  if (macros.length > 1) throw refused('it has several brightfield macro images');
  const associated: AssociatedReader[] = macros.map((m) => tiffAssociatedReader(file, 'macro', directory(m.dimensions[0]!.dir), concurrency));

  const propertyDir = levelAreas[0]![0]!.dir;
  const properties: Record<string, string> = { ...tiffProperties(propertyDir) };
  delete properties['tiff.ImageDescription'];
  const barcode = collectionBarcode(collection);
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) properties[name] = value;
  };
  set('leica.barcode', barcode);
  set('leica.aperture', first.aperture);
  set('leica.creation-date', first.creationDate);
  set('leica.device-model', first.deviceModel);
  set('leica.device-version', first.deviceVersion);
  set('leica.illumination-source', first.illumination);
  set('leica.objective', first.objective);

  // The scanned regions of level 0 and the rectangle around them.
  const level0 = levelAreas[0]!;
  level0.forEach((a, i) => {
    properties[`openslide.region[${i}].x`] = String(a.x);
    properties[`openslide.region[${i}].y`] = String(a.y);
    properties[`openslide.region[${i}].width`] = String(a.dir.width);
    properties[`openslide.region[${i}].height`] = String(a.dir.height);
  });
  const x0 = Math.min(...level0.map((a) => a.x));
  const y0 = Math.min(...level0.map((a) => a.y));
  const x1 = Math.max(...level0.map((a) => a.x + a.dir.width));
  const y1 = Math.max(...level0.map((a) => a.y + a.dir.height));

  const objective = parseIntegerLikeOpenSlide(first.objective);
  return {
    vendor: 'leica',
    levels,
    associated,
    mpp: centimetreMpp(propertyDir),
    objectivePower: objective !== undefined && objective > 0 ? objective : undefined,
    properties,
    bounds: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
  };
}

/** 10000 / resolution when the unit is centimetres; libtiff hands OpenSlide the resolution as a float. */
function centimetreMpp(dir: TiffDirectory): { x: number; y: number } | undefined {
  if (dir.resolutionUnit !== 3 || !dir.xResolution || !dir.yResolution) return undefined;
  return { x: 10000 / Math.fround(dir.xResolution), y: 10000 / Math.fround(dir.yResolution) };
}

/** The 2010/10/01 namespace's base64 `<barcode>` decoded (up to a NUL, as a C string), else the 2010/03/10 `barcode` attribute as stored. */
function collectionBarcode(collection: XmlElement): string | undefined {
  const encoded = firstText(collection, ['barcode']);
  if (encoded === undefined) return collection.attributes.barcode;
  const bytes = Buffer.from(encoded, 'base64');
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}
