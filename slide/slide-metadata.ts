/**
 * Which TIFF directories are pyramid levels and which are associated images, and the slide's MPP and
 * magnification: the same decisions OpenSlide's aperio and generic-tiff drivers make.
 */
import type { Mpp } from './types.js';
import type { TiffDirectory } from './tiff-directory.js';

export interface SlideLayout {
  vendor: 'aperio' | 'generic-tiff';
  /** Tiled full-image directories, largest first. */
  levels: TiffDirectory[];
  associated: { name: string; dir: TiffDirectory }[];
  mpp?: Mpp;
  magnification?: number;
  /** Aperio's `key = value` properties, when present. */
  properties: Record<string, string>;
}

/** NewSubfileType bit 2: a transparency mask, never image content. */
const SUBFILE_MASK = 4;
/** Microns per pixel a slide can plausibly have; 72 or 96 dpi "defaults" (~250-350 µm) fall outside. */
const PLAUSIBLE_MPP = [0.01, 100] as const;

export function layoutSlide(dirs: TiffDirectory[]): SlideLayout {
  const first = dirs[0]!;
  const properties = parseAperioDescription(first.description);
  const vendor = properties ? 'aperio' : 'generic-tiff';
  const tiled = dirs.filter((d) => d.tiled && !(d.newSubfileType & SUBFILE_MASK)).sort((a, b) => b.width - a.width || b.height - a.height);
  // Each level strictly smaller than the one above (a second tiled page of the same size is not a level).
  const levels = tiled.filter((d, i) => i === 0 || d.width < tiled[i - 1]!.width);
  const associated: SlideLayout['associated'] = [];
  if (vendor === 'aperio') {
    for (const dir of dirs) {
      if (dir.tiled) continue;
      const name = dir.index === 1 ? 'thumbnail' : aperioAssociatedName(dir);
      if (name && !associated.some((a) => a.name === name)) associated.push({ name, dir });
    }
  }
  const aperioMpp = Number(properties?.MPP);
  const mpp = aperioMpp > 0 ? { x: aperioMpp, y: aperioMpp } : levels[0] ? resolutionMpp(levels[0]) : undefined;
  const appMag = Number(properties?.AppMag);
  return { vendor, levels, associated, mpp, magnification: appMag > 0 ? appMag : undefined, properties: properties ?? {} };
}

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

/** MPP from XResolution/YResolution (pixels per inch or per cm), as libvips stores it. */
export function resolutionMpp(dir: TiffDirectory): Mpp | undefined {
  const micronsPerUnit = dir.resolutionUnit === 2 ? 25_400 : dir.resolutionUnit === 3 ? 10_000 : undefined;
  if (!micronsPerUnit || !dir.xResolution || !dir.yResolution) return undefined;
  const x = micronsPerUnit / dir.xResolution;
  const y = micronsPerUnit / dir.yResolution;
  const plausible = (v: number) => Number.isFinite(v) && v >= PLAUSIBLE_MPP[0] && v <= PLAUSIBLE_MPP[1];
  return plausible(x) && plausible(y) ? { x, y } : undefined;
}
