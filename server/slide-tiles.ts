/**
 * Pixels of a slide for the viewer, read straight from the TIFF's own pyramid: Deep Zoom tiles
 * (from the stored level nearest at or above the needed resolution, resized), the thumbnail and the
 * associated images, each encoded as JPEG.
 */
import sharp from 'sharp';
import { SdsError } from '../core/errors.js';
import type { RgbImage, Slide, SlideLevel } from '../slide/index.js';
import type { DzTile } from './deep-zoom.js';

/** Deep Zoom layout of slide tiles (server/API.md). */
export const SLIDE_TILE_SIZE = 254;
export const SLIDE_TILE_OVERLAP = 1;
export const THUMBNAIL_MAX = 512;

/**
 * The level with the largest downsample not above `scale` (level 0 when none is). Downsamples are
 * averaged over both axes (4.0003 for a 4x level of an odd-sized slide): a 0.1% tolerance keeps such
 * a level usable for a 4x tile rather than falling back to one 4x larger.
 */
export function pickLevel(levels: SlideLevel[], scale: number): SlideLevel {
  let best = levels[0]!;
  for (const l of levels) if (l.downsample <= scale * 1.001 && l.downsample > best.downsample) best = l;
  return best;
}

/** One Deep Zoom tile of the slide as JPEG. */
export async function renderSlideTile(slide: Slide, t: DzTile, quality: number): Promise<Buffer> {
  const x0 = t.x * t.scale;
  const y0 = t.y * t.scale;
  const level = pickLevel(slide.levels, t.scale);
  const ds = level.downsample;
  // The same level-0 area at the chosen level, clipped to that level's edge (the DZ level's last
  // pixel may reach past the slide's).
  const lx = Math.round(x0 / ds);
  const ly = Math.round(y0 / ds);
  const rw = Math.max(1, Math.min(Math.round((t.width * t.scale) / ds), level.width - lx));
  const rh = Math.max(1, Math.min(Math.round((t.height * t.scale) / ds), level.height - ly));
  const rgb = await slide.readRegion(level.index, x0, y0, rw, rh);
  let img = sharp(rgb, { raw: { width: rw, height: rh, channels: 3 } });
  if (rw !== t.width || rh !== t.height) img = img.resize(t.width, t.height, { fit: 'fill' });
  return img.jpeg({ quality }).toBuffer();
}

/**
 * At most THUMBNAIL_MAX px: the slide's own thumbnail image when it has one and it can be read, else its
 * smallest level of at least THUMBNAIL_MAX px. A thumbnail image the reader refuses (larger than its budget for associated images, or
 * undecodable: a hostile or broken file) falls back to the smallest level, so the slide still gets a
 * thumbnail and the route caches it; the reader remembers the refusal, so it is not retried per request.
 */
/** The most pixels read to make a thumbnail from a level (4096 x 4096). */
const THUMBNAIL_SOURCE_PIXELS = 2 ** 24;

export async function renderThumbnail(slide: Slide, quality: number): Promise<Buffer> {
  let image: RgbImage | undefined;
  if (slide.associated.some((a) => a.name === 'thumbnail')) {
    try {
      image = await slide.readAssociated('thumbnail');
    } catch (err) {
      if (!(err instanceof SdsError) || err.code === 'ABORTED') throw err;
    }
  }
  if (!image) {
    // The smallest level still at least thumbnail-sized (NDPI and virtual pyramids go down to a few pixels, which
    // would be blown up into a blur), unless that one is too large to read whole; then the smallest.
    const fits = slide.levels.filter((l) => Math.max(l.width, l.height) >= THUMBNAIL_MAX && l.width * l.height <= THUMBNAIL_SOURCE_PIXELS);
    const level = fits.at(-1) ?? slide.levels.at(-1)!;
    image = { width: level.width, height: level.height, data: await slide.readRegion(level.index, 0, 0, level.width, level.height) };
  }
  const { width, height, data } = image;
  return sharp(data, { raw: { width, height, channels: 3 } })
    .resize(THUMBNAIL_MAX, THUMBNAIL_MAX, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality })
    .toBuffer();
}

/** An associated image ('label', 'macro', 'thumbnail') at its own size. */
export async function renderAssociated(slide: Slide, name: string, quality: number): Promise<Buffer> {
  const { width, height, data } = await slide.readAssociated(name);
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
