/**
 * OME-TIFF (vendor 'ome-tiff'; OpenSlide 3.4.1 has no driver and reads such files as generic-tiff, level 0 only).
 * Detected by OME-XML in the first ImageDescription. The slide is the OME document's first Image:
 * - level 0: the directory holding its plane (Z=0, T=0), or for 3-channel brightfield kept as three single-sample
 *   planes (SizeC=3, one directory per channel), those three read as R, G, B; RGB with PlanarConfiguration 2 in one
 *   directory (Interleaved="false") is read as RGB too; tiled or stripped;
 * - reduced levels: the SubIFDs of that directory (OME-TIFF 6 pyramids; per channel where channels are planes), or
 *   where it has none the older layout, reductions kept as separate directories of the main chain (further Images
 *   of the same aspect, or directories no Image claims), largest first;
 * - associated images: further Images named like an associated image ('label', 'macro', 'thumbnail'; Bio-Formats
 *   writes 'label image', 'macro image');
 * - MPP: Pixels PhysicalSizeX/PhysicalSizeY in their PhysicalSizeXUnit/YUnit (µm when not stated; nm, mm, cm, m, Å,
 *   in ...); a size that is absent falls back to the resolution tags, one that is there but not a plausible
 *   length (0, negative, garbage, 'pixel') gives no MPP; objective power: the Image's Objective NominalMagnification;
 * - properties: `ome.<attribute>` for every attribute of the first Image's Pixels (`ome.PhysicalSizeX`,
 *   `ome.PhysicalSizeXUnit`, `ome.SizeC`, `ome.DimensionOrder`, ...), `ome.Image.Name`, `ome.Image.AcquisitionDate`,
 *   `ome.Creator`, `ome.ImageCount`, `ome.Objective.NominalMagnification`, `ome.Objective.Model`, and the `tiff.*`
 *   of the first directory.
 * OME-XML that cannot be parsed is reported in `ome.error` and the file read as its first directory and SubIFDs.
 */
import { SdsError } from '../../../core/errors.js';
import type { FileSource } from '../../file-source.js';
import type { AssociatedReader, LevelReader } from '../../source-parts.js';
import type { Mpp } from '../../types.js';
import { tiffCompressionName } from '../blocks.js';
import type { TiffDirectory } from '../directory.js';
import { isOmeXml, parseOmeXml, physicalSizeMicrons, planeDirectory, type OmeDocument, type OmeImage, type OmeTiffData } from '../ome-xml.js';
import { directoryLevelReader, levelAsAssociated, rgbPlanesReader } from '../planes.js';
import { isPlausibleMpp, resolutionMpp, tiffProperties } from '../pyramid.js';
import type { TiffVendor } from '../vendor.js';

/** NewSubfileType bit 2: a transparency mask, never image content. */
const SUBFILE_MASK = 4;

/** One level or associated image: one directory (interleaved or planar RGB, or grey), or three single-sample R, G, B directories. */
type Planes = TiffDirectory[];

export const omeTiffVendor: TiffVendor = {
  name: 'ome-tiff',
  detect: ({ dirs }) => isOmeXml(dirs[0]!.description),
  async open({ file, dirs, concurrency }) {
    const parsed = parseOmeXml(dirs[0]!.description ?? '');
    const doc = 'error' in parsed ? undefined : parsed;
    const image = doc?.images[0];
    const inThisFile = (td: OmeTiffData) => !doc?.uuid || !td.uuid || td.uuid === doc.uuid;
    const base = (image && imagePlanes(file, image, dirs, inThisFile, true)) ?? [dirs[0]!];
    const claimed = claimedDirectories(doc, dirs, inThisFile);
    const levels = [base, ...reducedLevels(file, base, doc, dirs, claimed, inThisFile)];
    const stated = omeMpp(image);
    const properties: Record<string, string> = { ...tiffProperties(dirs[0]!), ...omeProperties(doc, image) };
    if ('error' in parsed) properties['ome.error'] = parsed.error;
    return {
      vendor: 'ome-tiff',
      levels: levels.map((planes, index) => levelReader(file, planes, index)),
      associated: associatedImages(file, doc, dirs, inThisFile, concurrency),
      mpp: stated.stated ? stated.mpp : resolutionMpp(base[0]!),
      objectivePower: image?.objectiveSettingsId ? doc?.objectives.get(image.objectiveSettingsId)?.nominalMagnification : undefined,
      properties,
    };
  },
};

function levelReader(file: FileSource, planes: Planes, index: number): LevelReader {
  return planes.length === 3 ? rgbPlanesReader(file, planes, { index }) : directoryLevelReader(file, planes[0]!, { index, rgb: true });
}

/**
 * The directories of an Image's Z=0, T=0 plane: one (RGB in one directory, or grey), or three (SizeC=3 as single
 * samples). Undefined when the XML maps it to no directory of this file. Other channel counts are fluorescence,
 * which sds does not read (`strict`: refused; else the Image is skipped).
 */
function imagePlanes(file: FileSource, image: OmeImage, dirs: TiffDirectory[], inThisFile: (td: OmeTiffData) => boolean, strict: boolean): Planes | undefined {
  const pixels = image.pixels;
  if (!pixels) return undefined;
  const at = (c: number) => {
    const ifd = planeDirectory(pixels, c, 0, 0, inThisFile, strict);
    return ifd === undefined ? undefined : dirs[ifd];
  };
  const first = at(0);
  if (!first) {
    if (!strict) return undefined;
    throw new SdsError('SLIDE_UNSUPPORTED', `${file.name}: its OME-XML puts the first plane of Image "${image.name ?? image.id ?? 0}" in no directory of this file (a multi-file OME-TIFF set, or a TiffData that points past its ${dirs.length} directories)`, {
      suggestion: 'open a single-file OME-TIFF, e.g. convert the set with `bfconvert -noflat -pyramid-resolutions 4 in.ome.tif out.ome.tif`',
      context: { path: file.path },
    });
  }
  // One channel of 3 samples (RGB), or SizeC=3 whose directory turns out to hold all three samples itself.
  if (pixels.effectiveSizeC === 1 || (pixels.effectiveSizeC === 3 && first.samplesPerPixel >= 3)) return [first];
  if (pixels.effectiveSizeC === 3) {
    const planes = [first, at(1), at(2)];
    if (planes.every((p): p is TiffDirectory => p !== undefined)) return planes;
  }
  if (!strict) return undefined;
  throw new SdsError('SLIDE_UNSUPPORTED', `${file.name} is an OME-TIFF with ${pixels.sizeC} channels of ${pixels.samplesPerPixel} sample(s) each (fluorescence or multiplexed); sds reads brightfield RGB: one RGB channel or three single-sample channels`, {
    suggestion: 'export an RGB rendering of the image, e.g. with QuPath or `bfconvert -channel 0`',
    context: { path: file.path, sizeC: pixels.sizeC, samplesPerPixel: pixels.samplesPerPixel },
  });
}

/** Main-chain directories any TiffData run of this file names (bounded by the directory count per run). */
function claimedDirectories(doc: OmeDocument | undefined, dirs: TiffDirectory[], inThisFile: (td: OmeTiffData) => boolean): Set<number> {
  const claimed = new Set<number>();
  for (const image of doc?.images ?? []) {
    const pixels = image.pixels;
    if (!pixels) continue;
    const planes = pixels.effectiveSizeC * pixels.sizeZ * pixels.sizeT;
    for (const td of pixels.tiffData) {
      if (!inThisFile(td)) continue;
      const start = td.ifd ?? 0;
      const run = Math.min(td.planeCount ?? (td.ifd !== undefined ? 1 : planes), dirs.length);
      for (let k = start; k < Math.min(start + run, dirs.length); k++) claimed.add(k);
    }
  }
  return claimed;
}

/**
 * The reduced levels below `base`: its SubIFDs (per plane), else the older layout's reductions in the main chain.
 * Each is strictly narrower than the one above, of level 0's aspect ratio (within rounding) and plane count.
 */
function reducedLevels(file: FileSource, base: Planes, doc: OmeDocument | undefined, dirs: TiffDirectory[], claimed: Set<number>, inThisFile: (td: OmeTiffData) => boolean): Planes[] {
  const candidates: Planes[] = [];
  const subLevels = Math.min(...base.map((p) => p.subIfds.length));
  if (subLevels > 0) {
    for (let k = 0; k < subLevels; k++) candidates.push(base.map((p) => p.subIfds[k]!));
  } else {
    // Older layout, 1: further Images that are reductions (not named as associated images).
    for (const image of doc?.images.slice(1) ?? []) {
      if (associatedName(image.name)) continue;
      const planes = imagePlanes(file, image, dirs, inThisFile, false);
      if (planes) candidates.push(planes);
    }
    // 2: directories no Image claims (without TiffData no directory is claimed), in runs of as many planes as level 0 has.
    const free = dirs.filter((d) => !claimed.has(d.index) && !base.includes(d));
    for (let i = 0; i + base.length <= free.length; i += base.length) candidates.push(free.slice(i, i + base.length));
  }
  const [top] = base;
  const fits = (planes: Planes) =>
    planes.length === base.length &&
    planes.every((p) => !(p.newSubfileType & SUBFILE_MASK) && p.width === planes[0]!.width && p.height === planes[0]!.height) &&
    sameAspect(top!, planes[0]!);
  const levels = candidates.filter(fits).sort((a, b) => b[0]!.width - a[0]!.width);
  const out: Planes[] = [];
  let last = top!;
  for (const planes of levels) {
    if (planes[0]!.width >= last.width || planes[0]!.height > last.height) continue;
    out.push(planes);
    last = planes[0]!;
  }
  return out;
}

/** Whether `small` is `big` reduced: either side predicts the other within rounding. */
function sameAspect(big: TiffDirectory, small: TiffDirectory): boolean {
  return Math.abs((small.width * big.height) / big.width - small.height) <= 1.5 || Math.abs((small.height * big.width) / big.height - small.width) <= 1.5;
}

/** OpenSlide's associated-image name for an Image name ('label image' -> 'label'), or undefined. */
function associatedName(name: string | undefined): 'label' | 'macro' | 'thumbnail' | undefined {
  const n = name?.toLowerCase() ?? '';
  if (/\blabel\b/.test(n)) return 'label';
  if (/\b(macro|overview)\b/.test(n)) return 'macro';
  if (/\bthumbnail\b/.test(n)) return 'thumbnail';
  return undefined;
}

/** Further Images named as associated images; each read lazily (its codec is only needed when it is shown). */
function associatedImages(file: FileSource, doc: OmeDocument | undefined, dirs: TiffDirectory[], inThisFile: (td: OmeTiffData) => boolean, concurrency: number): AssociatedReader[] {
  const out: AssociatedReader[] = [];
  for (const image of doc?.images.slice(1) ?? []) {
    const name = associatedName(image.name);
    if (!name || out.some((a) => a.info.name === name)) continue;
    const planes = imagePlanes(file, image, dirs, inThisFile, false);
    if (!planes) continue;
    const [first] = planes;
    let reader: AssociatedReader | undefined;
    out.push({
      info: { name, width: first!.width, height: first!.height, compression: tiffCompressionName(first!) },
      read: (signal) => {
        reader ??= levelAsAssociated(file, name, levelReader(file, planes, 0), concurrency);
        return reader.read(signal);
      },
    });
  }
  return out;
}

/**
 * MPP from the Image's PhysicalSizeX/Y. `stated: false` when the XML gives neither (the caller falls back to the
 * resolution tags); stated but not a plausible length in both axes: no MPP at all, since a writer's resolution
 * tags are filled from the same wrong value.
 */
function omeMpp(image: OmeImage | undefined): { stated: boolean; mpp?: Mpp } {
  const a = image?.pixels?.attributes;
  if (!a || (a.PhysicalSizeX === undefined && a.PhysicalSizeY === undefined)) return { stated: false };
  const x = physicalSizeMicrons(a.PhysicalSizeX, a.PhysicalSizeXUnit);
  const y = physicalSizeMicrons(a.PhysicalSizeY, a.PhysicalSizeYUnit);
  return { stated: true, mpp: x !== undefined && y !== undefined && isPlausibleMpp(x) && isPlausibleMpp(y) ? { x, y } : undefined };
}

function omeProperties(doc: OmeDocument | undefined, image: OmeImage | undefined): Record<string, string> {
  const props: Record<string, string> = {};
  if (!doc) return props;
  if (doc.creator !== undefined) props['ome.Creator'] = doc.creator;
  props['ome.ImageCount'] = String(doc.images.length);
  if (image?.name !== undefined) props['ome.Image.Name'] = image.name;
  if (image?.acquisitionDate !== undefined) props['ome.Image.AcquisitionDate'] = image.acquisitionDate;
  for (const [key, value] of Object.entries(image?.pixels?.attributes ?? {})) if (value !== undefined) props[`ome.${key}`] = value;
  const objective = image?.objectiveSettingsId ? doc.objectives.get(image.objectiveSettingsId) : undefined;
  if (objective?.nominalMagnification !== undefined) props['ome.Objective.NominalMagnification'] = String(objective.nominalMagnification);
  if (objective?.model !== undefined) props['ome.Objective.Model'] = objective.model;
  return props;
}
