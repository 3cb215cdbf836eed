/**
 * Camera positions of a MIRAX slide: where each photo (CameraImageDivisionsPerSide^2 stored images) lies at level 0.
 * Stored as 9-byte records (a flag byte, then int32 x and y, little-endian) in the VIMSLIDE_POSITION_BUFFER record,
 * or zlib-compressed in the StitchingIntensityLayer record; without either, OpenSlide lays photos on a regular grid
 * stepped by the photo size less the nominal overlap. Coordinates come out in level-0 pixels times the level-0
 * concat factor, as OpenSlide keeps them.
 */
import { inflateSync } from 'node:zlib';
import { SdsError } from '../../core/errors.js';

const RECORD_BYTES = 9;

/** Bytes of positions sds accepts (9 per photo: 64 MiB is 7 million photos; real slides have thousands). */
export const MAX_POSITION_BYTES = 64 * 2 ** 20;

/** Photo position lookup: [x, y] of photo `index` (row-major over photos), in level-0 pixels x level-0 concat. */
export type Positions = (index: number) => readonly [number, number];

function bad(what: string, problem: string): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${what}: ${problem}`, {
    suggestion: 'the MIRAX camera positions are damaged; copy the whole slide (the .mrxs file and its folder) again',
    context: { file: what },
  });
}

/** Bytes the position record must hold (decompressed) for `photos` photos, checked against the limit first. */
export function positionBytes(photos: number, what: string): number {
  const bytes = photos * RECORD_BYTES;
  if (bytes > MAX_POSITION_BYTES) {
    throw new SdsError('SLIDE_TOO_LARGE', `${what}: the slide declares ${photos} camera photos (${bytes} bytes of positions), more than sds reads (${MAX_POSITION_BYTES} bytes)`, {
      suggestion: 'the Slidedat.ini image counts are probably corrupt',
      context: { photos },
    });
  }
  return bytes;
}

/** Positions from the stored record: `raw` as read from the data file; `compressed` for StitchingIntensityLayer. */
export function storedPositions(raw: Uint8Array, compressed: boolean, photos: number, concat0: number, what: string): Positions {
  const expected = positionBytes(photos, what);
  let buffer = raw;
  if (compressed) {
    try {
      // One byte more than expected is enough to tell a long stream from an exact one, and bounds a zlib bomb.
      buffer = inflateSync(raw, { maxOutputLength: expected + 1 });
    } catch (cause) {
      const message = (cause as Error).message;
      if (/larger than|maxOutputLength|Cannot create a Buffer/i.test(message)) throw bad(what, `its compressed camera positions inflate to more than the ${expected} bytes ${photos} photos take`);
      throw bad(what, `its compressed camera positions cannot be inflated: ${message}`);
    }
  }
  if (buffer.length !== expected) {
    throw bad(what, `its camera positions hold ${buffer.length} bytes${compressed ? ' (inflated)' : ''}; ${photos} photos take ${expected}`);
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const xy = new Float64Array(photos * 2);
  for (let i = 0; i < photos; i++) {
    const flag = buffer[i * RECORD_BYTES]!;
    if (flag & 0xfe) throw bad(what, `camera position ${i} has the unknown flag value ${flag}`);
    xy[2 * i] = view.getInt32(i * RECORD_BYTES + 1, true) * concat0;
    xy[2 * i + 1] = view.getInt32(i * RECORD_BYTES + 5, true) * concat0;
  }
  return (index) => [xy[2 * index] ?? 0, xy[2 * index + 1] ?? 0];
}

/**
 * OpenSlide's stand-in without a position record: photo i at ((i mod across) * step x, (i div across) * step y),
 * step = photo size less the nominal overlap, truncated to whole pixels as OpenSlide's int conversion does.
 */
export function gridPositions(photosAcross: number, photoWidth: number, photoHeight: number, overlapX: number, overlapY: number): Positions {
  return (index) => [Math.trunc((index % photosAcross) * (photoWidth - overlapX)), Math.trunc(Math.floor(index / photosAcross) * (photoHeight - overlapY))];
}
