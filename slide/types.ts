/** Shared shapes of the slide reader: what a slide is (levels, MPP, associated images) and what a read returns. */

/** One pyramid level. Coordinates into it are level pixels; `downsample` maps them to level 0. */
export interface SlideLevel {
  index: number;
  width: number;
  height: number;
  /** Level-0 size / level size, averaged over both axes as OpenSlide does. */
  downsample: number;
  tileWidth: number;
  tileHeight: number;
  /** How the stored tiles are compressed ('JPEG', 'WebP', ...); for a virtual level, that of the level it is made from. */
  compression: string;
  /** Made by 2x2 box-averaging the level above, because the file's own pyramid stops too early. */
  virtual: boolean;
}

export interface AssociatedImageInfo {
  /** OpenSlide's names: 'thumbnail', 'label', 'macro'. */
  name: string;
  width: number;
  height: number;
  compression: string;
}

/** Microns per pixel at level 0. */
export interface Mpp {
  x: number;
  y: number;
}

export interface SlideInfo {
  path: string;
  /** OpenSlide's vendor name ('aperio', 'hamamatsu', 'mirax', 'generic-tiff', ...), or ours where OpenSlide has none ('ome-tiff', 'dicom'). */
  vendor: string;
  levels: SlideLevel[];
  mpp?: Mpp;
  /** Objective power (Aperio AppMag); undefined when the file does not say. */
  magnification?: number;
  associated: AssociatedImageInfo[];
  /** OpenSlide-named properties: the vendor's and `openslide.*` (vendor, mpp-x/y, objective-power, level sizes, bounds). */
  properties: Record<string, string>;
}

/** Interleaved 8-bit RGB, row-major: data.length === width * height * 3. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface ReadOptions {
  signal?: AbortSignal;
}
