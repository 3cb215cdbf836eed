/**
 * Building blocks for formats: a source assembled from one reader per level and per associated image, with the
 * standard `openslide.*` properties filled in from what the format found. Formats implement readers; this
 * states once how those become a SlideSource.
 */
import { SdsError } from '../core/errors.js';
import type { SlideSource, SourceLevel } from './source.js';
import type { AssociatedImageInfo, Mpp, RgbImage } from './types.js';

export interface LevelReader {
  level: SourceLevel;
  readTile(col: number, row: number, signal?: AbortSignal): Promise<RgbImage | undefined>;
  isEmpty(col: number, row: number): boolean;
}

export interface AssociatedReader {
  info: AssociatedImageInfo;
  read(signal?: AbortSignal): Promise<RgbImage>;
}

export interface SourceParts {
  /** The file or folder, for messages. */
  name: string;
  vendor: string;
  levels: LevelReader[];
  associated?: AssociatedReader[];
  mpp?: Mpp;
  objectivePower?: number;
  /** The vendor's properties, already prefixed (`hamamatsu.SourceLens`); the `openslide.*` ones are added here. */
  properties?: Record<string, string>;
  /** `openslide.bounds-*` (level-0 pixels) where the format has a non-empty area smaller than level 0 (MRXS, BIF). */
  bounds?: { x: number; y: number; width: number; height: number };
  close(): Promise<void>;
}

export function assembleSource(parts: SourceParts): SlideSource {
  if (parts.levels.length === 0) throw new SdsError('SLIDE_UNSUPPORTED', `${parts.name} has no pyramid level sds can read`, { suggestion: 'see `sds info --help` for the formats sds reads' });
  const associated = parts.associated ?? [];
  const byName = new Map(associated.map((a) => [a.info.name, a]));
  const levelReader = (level: number): LevelReader => {
    const reader = parts.levels[level];
    if (!reader) throw new SdsError('BAD_ARGUMENT', `${parts.name} has no stored level ${level}`, { suggestion: 'see `sds info <slide>`' });
    return reader;
  };
  return {
    vendor: parts.vendor,
    levels: parts.levels.map((l) => l.level),
    mpp: parts.mpp,
    objectivePower: parts.objectivePower,
    properties: standardProperties(parts),
    associated: associated.map((a) => a.info),
    readTile: (level, col, row, signal) => levelReader(level).readTile(col, row, signal),
    isEmpty: (level, col, row) => levelReader(level).isEmpty(col, row),
    readAssociated: (name, signal) => {
      const a = byName.get(name);
      if (!a) {
        throw new SdsError('BAD_ARGUMENT', `${parts.name} has no associated image "${name}"${byName.size ? ` (it has: ${[...byName.keys()].join(', ')})` : ''}`, {
          suggestion: 'see `sds info <slide>`',
        });
      }
      return a.read(signal);
    },
    close: () => parts.close(),
  };
}

/** OpenSlide's standard property names, from the parts (the vendor's own properties come first, unchanged). */
function standardProperties(parts: SourceParts): Record<string, string> {
  const props: Record<string, string> = { ...parts.properties };
  props['openslide.vendor'] = parts.vendor;
  if (parts.mpp) {
    props['openslide.mpp-x'] = String(parts.mpp.x);
    props['openslide.mpp-y'] = String(parts.mpp.y);
  }
  if (parts.objectivePower !== undefined) props['openslide.objective-power'] = String(parts.objectivePower);
  if (parts.bounds) {
    props['openslide.bounds-x'] = String(parts.bounds.x);
    props['openslide.bounds-y'] = String(parts.bounds.y);
    props['openslide.bounds-width'] = String(parts.bounds.width);
    props['openslide.bounds-height'] = String(parts.bounds.height);
  }
  const base = parts.levels[0]!.level;
  props['openslide.level-count'] = String(parts.levels.length);
  parts.levels.forEach(({ level }, i) => {
    props[`openslide.level[${i}].width`] = String(level.width);
    props[`openslide.level[${i}].height`] = String(level.height);
    props[`openslide.level[${i}].downsample`] = String(level.downsample ?? (base.width / level.width + base.height / level.height) / 2);
    props[`openslide.level[${i}].tile-width`] = String(level.tileWidth);
    props[`openslide.level[${i}].tile-height`] = String(level.tileHeight);
  });
  return props;
}
