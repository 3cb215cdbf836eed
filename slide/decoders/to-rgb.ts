/** Interleaved 8-bit samples -> RGB, for the photometric interpretations slides use. */
import { SdsError } from '../../core/errors.js';

/**
 * `photometric` 0 = WhiteIsZero, 1 = BlackIsZero (grey, optional alpha), 2 = RGB (optional alpha).
 * Extra samples (alpha) are dropped, not composited: slide writers store opaque tissue.
 */
export function samplesToRgb(samples: Uint8Array, pixels: number, samplesPerPixel: number, photometric: number): Uint8Array {
  if (samplesPerPixel === 3 && photometric === 2) return samples.length === pixels * 3 ? samples : samples.subarray(0, pixels * 3);
  const out = new Uint8Array(pixels * 3);
  if (photometric === 2 && samplesPerPixel > 3) {
    for (let p = 0, s = 0, o = 0; p < pixels; p++, s += samplesPerPixel, o += 3) {
      out[o] = samples[s]!;
      out[o + 1] = samples[s + 1]!;
      out[o + 2] = samples[s + 2]!;
    }
    return out;
  }
  if ((photometric === 0 || photometric === 1) && samplesPerPixel >= 1) {
    const invert = photometric === 0 ? 255 : 0;
    for (let p = 0, s = 0, o = 0; p < pixels; p++, s += samplesPerPixel, o += 3) {
      const v = invert ^ samples[s]!;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
    return out;
  }
  throw new SdsError('SLIDE_UNSUPPORTED', `photometric interpretation ${photometric} with ${samplesPerPixel} samples per pixel is not supported`, {
    suggestion: 'convert the slide to RGB',
    context: { photometric, samplesPerPixel },
  });
}

/** Undo TIFF predictor 2 (horizontal differencing) in place, 8-bit samples, one block of `rows` rows. */
export function undoHorizontalDifferencing(data: Uint8Array, width: number, rows: number, samplesPerPixel: number): void {
  const rowBytes = width * samplesPerPixel;
  for (let r = 0; r < rows; r++) {
    const start = r * rowBytes;
    for (let i = start + samplesPerPixel, end = start + rowBytes; i < end; i++) data[i] = (data[i]! + data[i - samplesPerPixel]!) & 0xff;
  }
}
