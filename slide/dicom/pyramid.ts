/**
 * A series' instances as a slide: VOLUME instances (one per level, or one concatenation per level) become the
 * levels, largest first; LABEL, OVERVIEW and THUMBNAIL instances the associated images 'label', 'macro' and
 * 'thumbnail' (OpenSlide 4's names). Where a series holds several optical paths or focal planes, one is shown:
 * the first optical path of the largest image (the first item of its OpticalPathSequence), and of two images
 * of one size that both show it, the one whose file name sorts first.
 */
import { SdsError } from '../../core/errors.js';
import type { AssociatedReader, LevelReader } from '../source-parts.js';
import { compressionLabel } from './codecs.js';
import { associatedReader, levelReader, openImage, type DicomImage } from './image.js';
import type { WsiInstance } from './instance.js';

const ASSOCIATED_NAMES: Record<string, string> = { LABEL: 'label', OVERVIEW: 'macro', THUMBNAIL: 'thumbnail' };

export interface Pyramid {
  levels: LevelReader[];
  associated: AssociatedReader[];
  /** The first (or only) part of level 0: MPP, objective power and properties come from it. */
  level0: WsiInstance;
}

export async function buildPyramid(instances: WsiInstance[], name: string, concurrency: number): Promise<Pyramid> {
  const byName = (a: WsiInstance[], b: WsiInstance[]) => (a[0]!.file.name < b[0]!.file.name ? -1 : a[0]!.file.name > b[0]!.file.name ? 1 : 0);
  const volumes = images(instances.filter((i) => i.flavor === 'VOLUME')).sort((a, b) => b[0]!.width - a[0]!.width || byName(a, b));
  if (volumes.length === 0) {
    const kinds = [...new Set(instances.map((i) => i.imageType.join('\\') || '(no ImageType)'))].join(', ');
    throw new SdsError('SLIDE_UNREADABLE', `${name}: the series has no pyramid level (no instance with ImageType VOLUME); it holds ${kinds}`, {
      suggestion: 'copy the whole series into the folder; a slide needs its VOLUME instances',
      context: { files: instances.map((i) => i.file.path) },
    });
  }
  const opticalPath = volumes[0]![0]!.opticalPaths[0];
  const shows = (parts: WsiInstance[]) => opticalPath === undefined || parts[0]!.opticalPaths.length === 0 || parts[0]!.opticalPaths.includes(opticalPath);
  const chosen: WsiInstance[][] = [];
  for (const parts of volumes.filter(shows)) {
    const { width, height } = parts[0]!;
    if (!chosen.some((c) => c[0]!.width === width && c[0]!.height === height)) chosen.push(parts);
  }
  const levels: LevelReader[] = [];
  for (const parts of chosen) levels.push(levelReader(await openImage(parts, opticalPath), levels.length));
  const associated: AssociatedReader[] = [];
  for (const [flavor, label] of Object.entries(ASSOCIATED_NAMES)) {
    const found = images(instances.filter((i) => i.flavor === flavor)).sort(byName)[0];
    if (found) associated.push(lazyAssociated(found, label, concurrency));
  }
  return { levels, associated, level0: chosen[0]![0]! };
}

/** Instances grouped into images: the parts of one concatenation together, copies of one instance once. */
function images(instances: WsiInstance[]): WsiInstance[][] {
  const groups = new Map<string, WsiInstance[]>();
  for (const i of [...instances].sort((a, b) => (a.file.name < b.file.name ? -1 : 1))) {
    const key = i.concatenation ? `c:${i.concatenation.uid}` : `i:${i.sopInstanceUid}`;
    const group = groups.get(key) ?? [];
    // The same instance twice (a copied file): the first copy is enough.
    if (!group.some((g) => g.sopInstanceUid === i.sopInstanceUid)) group.push(i);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/**
 * An associated image is opened when read: a label in a syntax sds cannot decode should cost the label, not the
 * slide. Its size and compression are known from the header.
 */
function lazyAssociated(parts: WsiInstance[], name: string, concurrency: number): AssociatedReader {
  const first = parts[0]!;
  let image: Promise<DicomImage> | undefined;
  return {
    info: { name, width: first.width, height: first.height, compression: compressionLabel(first.format.transferSyntax) },
    read(signal) {
      image ??= openImage(parts, undefined);
      return image.then((i) => associatedReader(i, name, concurrency).read(signal));
    },
  };
}
