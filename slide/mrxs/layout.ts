/**
 * Where every stored MIRAX image lands, level by level, as OpenSlide 3.4.1 places it. Level 0 holds one image per
 * camera-image cell; each photo (divisions x divisions images) sits at its camera position, its images edge to edge.
 * Level n+1 images concatenate 2^k x 2^k images of level n, downsampled: while an image stays within one photo it is
 * placed whole; once it spans several photos it is cut into one piece per photo, each placed at that photo's position
 * (pieces of photos never scanned are dropped). The result is a list of placements per level: a source rectangle of
 * one image and the level position it is drawn at, with the grid key (col, row) OpenSlide files it under. Where
 * placements overlap, OpenSlide's drawing order decides: it paints a region's tiles from the highest (row, col) key
 * down with cairo's SATURATE operator, so the first paint of a pixel stays. The placement with the highest
 * (row, col) wins; `placements` is sorted so that painting in order, each over the last, gives that result.
 */
import { SdsError } from '../../core/errors.js';
import { MAX_IMAGE_SIDE } from '../limits.js';
import type { ImageRecord } from './index-file.js';
import type { Positions } from './positions.js';
import type { ImageFormat, MiraxSettings } from './slidedat.js';

/** One piece of one stored image, drawn at (x, y) of its level (fractional where positions do not divide evenly). */
export interface Placement {
  /** Index into the level's `images`. */
  image: number;
  srcX: number;
  srcY: number;
  /** Size of the piece (OpenSlide's tile size; fractional when an image does not split evenly). */
  width: number;
  height: number;
  x: number;
  y: number;
  /** OpenSlide's grid key: a later image with the same key replaces an earlier one. */
  col: number;
  row: number;
}

export interface LevelLayout {
  width: number;
  height: number;
  downsample: number;
  format: ImageFormat;
  imageWidth: number;
  imageHeight: number;
  images: ImageRecord[];
  /** In painting order: a later placement covers an earlier one where they overlap. */
  placements: Placement[];
  /**
   * OpenSlide's tile size hint: the image size, where every level's images sit edge to edge on a regular grid
   * (no position record and no overlap); absent otherwise, as in OpenSlide's `openslide.level[i].tile-width`.
   */
  tileHint?: { width: number; height: number };
}

export interface SlideLayout {
  levels: LevelLayout[];
  /** Level-0 bounding box of everything placed at level 0 (OpenSlide's `openslide.bounds-*`), if anything is. */
  bounds?: { x: number; y: number; width: number; height: number };
}

/** Per-level numbers OpenSlide derives from the concat factors and divisions (see `layoutSlide`). */
interface LevelParams {
  concat: number;
  tileCountDivisor: number;
  tilesPerImage: number;
  positionsPerTile: number;
  tileWidth: number;
  tileHeight: number;
  advanceX: number;
  advanceY: number;
}

function bad(what: string, problem: string): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${what}: ${problem}`, {
    suggestion: 'the MIRAX index does not fit the Slidedat.ini; copy the whole slide (the .mrxs file and its folder) again',
    context: { file: what },
  });
}

/** `records[i]`: the images of zoom level i from the index; `what` names the index for messages. */
export function layoutSlide(settings: MiraxSettings, positions: Positions, records: ImageRecord[][], what: string): SlideLayout {
  const { imagesX, imagesY, divisions, zoom } = settings;
  const z0 = zoom[0]!;
  const subtiles = settings.positions !== undefined || z0.overlapX !== 0 || z0.overlapY !== 0;

  const baseW = levelZeroSide(imagesX, divisions, z0.imageWidth, z0.overlapX, what);
  const baseH = levelZeroSide(imagesY, divisions, z0.imageHeight, z0.overlapY, what);
  let budget = MAX_PIECE_VISITS;

  let exponent = 0;
  const params = zoom.map((z): LevelParams => {
    exponent += z.concatExponent; // at most 30 (readSettings)
    const concat = 2 ** exponent;
    const positionsPerImage = Math.max(1, Math.trunc(concat / divisions));
    // With positions or overlaps, an image spanning several photos is cut per photo; without, it is placed whole.
    const tileCountDivisor = subtiles ? Math.min(concat, divisions) : concat;
    const tilesPerImage = subtiles ? positionsPerImage : 1;
    const positionsPerTile = subtiles ? 1 : positionsPerImage;
    const tileWidth = z.imageWidth / tilesPerImage;
    const tileHeight = z.imageHeight / tilesPerImage;
    const imagesPerPosition = Math.max(1, Math.trunc(divisions / concat));
    return {
      concat,
      tileCountDivisor,
      tilesPerImage,
      positionsPerTile,
      tileWidth,
      tileHeight,
      advanceX: tileWidth - z.overlapX / imagesPerPosition,
      advanceY: tileHeight - z.overlapY / imagesPerPosition,
    };
  });

  const photosAcross = Math.trunc(imagesX / divisions);
  const photosDown = Math.trunc(imagesY / divisions);
  // Photos with a level-0 image: only their pieces are placed at the other levels.
  const active = new Set<number>();
  let left = Infinity;
  let top = Infinity;
  let right = -Infinity;
  let bottom = -Infinity;

  const levels = zoom.map((z, level): LevelLayout => {
    const p = params[level]!;
    const byKey = new Map<string, Placement>();
    // OpenSlide's hint rule: whole advances equal to the piece size, and no piece off its grid place.
    let regular = Number.isInteger(p.advanceX) && Number.isInteger(p.advanceY) && p.advanceX === p.tileWidth && p.advanceY === p.tileHeight;
    const images = records[level]!;
    images.forEach((record, imageNo) => {
      const x = record.index % imagesX;
      const y = Math.floor(record.index / imagesX);
      if (y >= imagesY) throw bad(what, `image ${record.index} of zoom level ${level} lies below the ${imagesX}x${imagesY} image grid`);
      if (x % p.concat || y % p.concat) throw bad(what, `image (${x}, ${y}) of zoom level ${level} is not at a multiple of its concat factor ${p.concat}`);
      for (let yi = 0; yi < p.tilesPerImage && y + yi * divisions < imagesY; yi++) {
        for (let xi = 0; xi < p.tilesPerImage && x + xi * divisions < imagesX; xi++) {
          if (--budget < 0) {
            throw new SdsError('SLIDE_TOO_LARGE', `${what.split('/')[0]}: its zoom levels cut images into more than ${MAX_PIECE_VISITS} pieces; real slides have about a million`, {
              suggestion: 'the Slidedat.ini concat factors or image counts are probably corrupt',
              context: { level },
            });
          }
          const xx = x + xi * divisions;
          const yy = y + yi * divisions;
          const xp = Math.trunc(xx / divisions);
          const yp = Math.trunc(yy / divisions);
          const photo = yp * photosAcross + xp;
          // A cell past the last whole photo (image counts not a multiple of divisions) has no position.
          if (xp >= photosAcross || yp >= photosDown) continue;
          const [px, py] = positions(photo);
          if (level === 0) {
            // Position (0, 0) for any photo but the first means "not scanned" (OpenSlide's rule).
            if (px === 0 && py === 0 && (xp !== 0 || yp !== 0)) continue;
            active.add(photo);
          } else if (!anyActive(active, xp, yp, p.positionsPerTile, photosAcross)) {
            continue;
          }
          const col = Math.trunc(x / p.tileCountDivisor) + xi;
          const row = Math.trunc(y / p.tileCountDivisor) + yi;
          const placement: Placement = {
            image: imageNo,
            srcX: p.tileWidth * xi,
            srcY: p.tileHeight * yi,
            width: p.tileWidth,
            height: p.tileHeight,
            // OpenSlide files the piece at col * advance + (position - col * advance): the same double arithmetic.
            x: col * p.advanceX + ((px + z0.imageWidth * (xx - xp * divisions)) / p.concat - col * p.advanceX),
            y: row * p.advanceY + ((py + z0.imageHeight * (yy - yp * divisions)) / p.concat - row * p.advanceY),
            col,
            row,
          };
          byKey.set(`${col},${row}`, placement);
          if (placement.x - col * p.advanceX !== 0 || placement.y - row * p.advanceY !== 0) regular = false;
          if (level === 0) {
            left = Math.min(left, placement.x);
            top = Math.min(top, placement.y);
            right = Math.max(right, placement.x + placement.width);
            bottom = Math.max(bottom, placement.y + placement.height);
          }
        }
      }
    });
    const width = Math.trunc(baseW / p.concat);
    const height = Math.trunc(baseH / p.concat);
    if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
      throw new SdsError('SLIDE_TOO_LARGE', `zoom level ${level} of ${what.split('/')[0]} would be ${width}x${height} px, more than the ${MAX_IMAGE_SIDE} px a side sds reads`, {
        suggestion: 'the Slidedat.ini image counts or sizes are probably corrupt',
        context: { level, width, height },
      });
    }
    const placements = [...byKey.values()].sort((a, b) => a.row - b.row || a.col - b.col);
    return {
      width,
      height,
      downsample: p.concat / params[0]!.concat,
      format: z.format,
      imageWidth: z.imageWidth,
      imageHeight: z.imageHeight,
      images,
      placements,
      tileHint: regular ? { width: p.advanceX, height: p.advanceY } : undefined,
    };
  });
  // A hint holds only if every level has one.
  if (levels.some((l) => !l.tileHint)) for (const l of levels) delete l.tileHint;

  const bounds = Number.isFinite(left)
    ? { x: Math.floor(left), y: Math.floor(top), width: Math.ceil(right) - Math.floor(left), height: Math.ceil(bottom) - Math.floor(top) }
    : undefined;
  return { levels, bounds };
}

/** Pieces sds places over all levels: bounds the work a few bytes of Slidedat.ini can ask for. */
const MAX_PIECE_VISITS = 2 ** 24;

/**
 * Level-0 side as OpenSlide sums it: every image full, except the last image of each photo (not the slide's last)
 * less the overlap, added in int64 += double (truncating each step). In closed form, since a count can be 2^31.
 */
function levelZeroSide(images: number, divisions: number, image: number, overlap: number, what: string): number {
  if (overlap > image) {
    throw new SdsError('SLIDE_UNREADABLE', `${what.split('/')[0]}/Slidedat.ini: the overlap (${overlap}) is larger than an image (${image})`, {
      suggestion: 'the Slidedat.ini is corrupt; copy the whole slide again',
    });
  }
  // Images i with i mod divisions = divisions - 1, but not the last one, lose the overlap.
  const reduced = Math.floor(images / divisions) - ((images - 1) % divisions === divisions - 1 ? 1 : 0);
  // Partial sums stay non-negative, so each truncation is a floor of (whole + image - overlap).
  return (images - reduced) * image + reduced * Math.floor(image - overlap);
}

/**
 * Whether a photo of this level's piece was scanned: OpenSlide checks positions (xp..xp+n-1, yp..yp+n-1) by
 * their row-major index, without clamping to the row (a check past the right edge looks at the next row's start).
 */
function anyActive(active: ReadonlySet<number>, xp: number, yp: number, n: number, photosAcross: number): boolean {
  for (let y = yp; y < yp + n; y++) for (let x = xp; x < xp + n; x++) if (active.has(y * photosAcross + x)) return true;
  return false;
}
