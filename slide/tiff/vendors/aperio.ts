/**
 * Aperio SVS (OpenSlide's aperio driver): ImageDescription "Aperio Image Library ...|Key = Value|...", levels are
 * the tiled directories, the second directory is the thumbnail, stripped ones are the label and macro.
 */
import { tiffAssociatedReader, tiffLevelReader } from '../blocks.js';
import type { TiffDirectory } from '../directory.js';
import { pyramidLevels, resolutionMpp, tiffProperties } from '../pyramid.js';
import type { TiffVendor } from '../vendor.js';
import type { AssociatedReader } from '../../source-parts.js';

export const aperioVendor: TiffVendor = {
  name: 'aperio',
  detect: ({ dirs }) => parseAperioDescription(dirs[0]!.description) !== undefined,
  async open({ file, dirs, concurrency }) {
    const description = parseAperioDescription(dirs[0]!.description) ?? {};
    const levels = pyramidLevels(dirs);
    const associated: AssociatedReader[] = [];
    for (const dir of dirs) {
      if (dir.tiled) continue;
      const name = dir.index === 1 ? 'thumbnail' : aperioAssociatedName(dir);
      if (name && !associated.some((a) => a.info.name === name)) associated.push(tiffAssociatedReader(file, name, dir, concurrency));
    }
    const mpp = Number(description.MPP);
    const appMag = Number(description.AppMag);
    const properties: Record<string, string> = { ...tiffProperties(dirs[0]!) };
    for (const [key, value] of Object.entries(description)) properties[`aperio.${key}`] = value;
    return {
      vendor: 'aperio',
      levels: levels.map((dir, index) => tiffLevelReader(file, dir, { index })),
      associated,
      mpp: mpp > 0 ? { x: mpp, y: mpp } : levels[0] ? resolutionMpp(levels[0]) : undefined,
      objectivePower: appMag > 0 ? appMag : undefined,
      properties,
    };
  },
};

/**
 * Aperio's ImageDescription: "Aperio Image Library vX\r\n<geometry>|Key = Value|Key = Value...".
 * Undefined when the description is not Aperio's.
 */
export function parseAperioDescription(description: string | undefined): Record<string, string> | undefined {
  if (!description?.startsWith('Aperio')) return undefined;
  const props: Record<string, string> = {};
  for (const field of description.split('|').slice(1)) {
    const eq = field.indexOf('=');
    if (eq < 0) continue;
    const key = field.slice(0, eq).trim();
    if (key && !(key in props)) props[key] = field.slice(eq + 1).trim();
  }
  return props;
}

/** Label or macro: named on the description's second line ("label 387x463"), else by NewSubfileType as Aperio writes it. */
function aperioAssociatedName(dir: TiffDirectory): string | undefined {
  const word = dir.description?.split('\n')[1]?.trim().split(/\s+/)[0];
  if (word === 'label' || word === 'macro') return word;
  if (dir.newSubfileType === 9) return 'macro';
  if (dir.newSubfileType === 1) return 'label';
  return undefined;
}
