/**
 * What a slide file may declare before sds refuses it (issue #14): every size in a TIFF is a claim made by the
 * file, and a few bytes can claim terabytes. Reads allocate only what these bounds allow; anything above them
 * is a clear SdsError, never an allocation attempt.
 */

/** Pixels per side of any TIFF image; BigTIFF can say 2^64, no scanner needs more than 2^31 - 1. */
export const MAX_IMAGE_SIDE = 2 ** 31 - 1;

/** Pixels per side of a declared tile (JPEG cannot hold more than 65535; real slides use 240..1024). */
export const MAX_TILE_SIDE = 65_536;

/**
 * Pixels of one tile that is decoded (4096 x 4096, 48 MiB as RGB): the most one tile decode allocates. Slides
 * use 240..1024 px tiles; a file whose few bytes claim more is refused rather than decoded.
 */
export const MAX_BLOCK_PIXELS = 2 ** 24;

/**
 * Pixels of an associated image (thumbnail, label, macro), decoded whole, strips included (16.8 Mpx, e.g.
 * 4096 x 4096 or 8000 x 2000; Aperio's are about 1 Mpx).
 */
export const MAX_ASSOCIATED_PIXELS = 2 ** 24;

/** Tile sides of virtual levels: their parent's, clamped to this range, so a virtual tile never covers a huge area and a level never has millions of tiny tiles. */
export const VIRTUAL_TILE_MAX = 1024;
export const VIRTUAL_TILE_MIN = 64;

/** A pixel count for messages: `67.1 Mpx`, `9e+17 px`. */
export function describePixels(pixels: number): string {
  if (pixels >= 1e12) return `${pixels.toPrecision(2)} px`;
  return pixels >= 1e5 ? `${(pixels / 1e6).toFixed(1)} Mpx` : `${pixels} px`;
}
