/**
 * Which TIFF directories form the pyramid (in the main chain, or in the SubIFDs of the full-size image), and the
 * MPP libvips-style writers store as resolution tags.
 */
import type { Mpp } from '../types.js';
import type { TiffDirectory } from './directory.js';

/** NewSubfileType bit 2: a transparency mask, never image content. */
const SUBFILE_MASK = 4;
/** Microns per pixel a slide can plausibly have; 72 or 96 dpi "defaults" (~250-350 µm) fall outside. */
const PLAUSIBLE_MPP = [0.01, 100] as const;

/** Tiled full-image directories, largest first, each strictly narrower than the one above (a second page of one size is not a level). */
export function pyramidLevels(dirs: readonly TiffDirectory[]): TiffDirectory[] {
  const tiled = dirs.filter((d) => d.tiled && !(d.newSubfileType & SUBFILE_MASK)).sort((a, b) => b.width - a.width || b.height - a.height);
  return tiled.filter((d, i) => i === 0 || d.width < tiled[i - 1]!.width);
}

/**
 * As pyramidLevels, but where the main chain holds a single full-size tiled image that has SubIFDs (`vips tiffsave
 * --subifd`, OME-TIFF), the pyramid is that image and its SubIFDs. OpenSlide 3.4.1 does not read SubIFDs (it
 * shows level 0 alone); the reduced levels are the writer's own, so they are used.
 */
export function pyramidWithSubIfds(dirs: readonly TiffDirectory[]): TiffDirectory[] {
  const main = pyramidLevels(dirs);
  const [base] = main;
  if (main.length === 1 && base && base.subIfds.length > 0) return pyramidLevels([base, ...base.subIfds]);
  return main;
}

/** MPP from XResolution/YResolution (pixels per inch or per cm), as libvips stores it. */
export function resolutionMpp(dir: TiffDirectory): Mpp | undefined {
  const micronsPerUnit = dir.resolutionUnit === 2 ? 25_400 : dir.resolutionUnit === 3 ? 10_000 : undefined;
  if (!micronsPerUnit || !dir.xResolution || !dir.yResolution) return undefined;
  const x = micronsPerUnit / dir.xResolution;
  const y = micronsPerUnit / dir.yResolution;
  return isPlausibleMpp(x) && isPlausibleMpp(y) ? { x, y } : undefined;
}

export function isPlausibleMpp(v: number): boolean {
  return Number.isFinite(v) && v >= PLAUSIBLE_MPP[0] && v <= PLAUSIBLE_MPP[1];
}

/** The `tiff.*` properties OpenSlide reports for a directory (those sds reads). */
export function tiffProperties(dir: TiffDirectory): Record<string, string> {
  const props: Record<string, string> = {};
  if (dir.description !== undefined) props['tiff.ImageDescription'] = dir.description;
  if (dir.xResolution !== undefined) props['tiff.XResolution'] = String(dir.xResolution);
  if (dir.yResolution !== undefined) props['tiff.YResolution'] = String(dir.yResolution);
  if (dir.resolutionUnit !== undefined) props['tiff.ResolutionUnit'] = dir.resolutionUnit === 2 ? 'inch' : dir.resolutionUnit === 3 ? 'centimeter' : 'none';
  return props;
}
