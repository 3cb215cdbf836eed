/**
 * Decoding one stored MIRAX image (a JPEG, PNG or BMP24 file inside a data file) to RGB, with OpenSlide's checks:
 * the image must be exactly the size Slidedat.ini declares, PNGs must be RGB or grey without alpha. JPEG goes through
 * the shared libjpeg decoder (bit-exact with OpenSlide's libjpeg), PNG through sharp/libpng, BMP24 is read here
 * (OpenSlide uses gdk-pixbuf; an uncompressed 24-bit bitmap leaves nothing to interpret).
 */
import sharp from 'sharp';
import { SdsError } from '../../core/errors.js';
import { jpegDecoder } from '../decoders/jpeg.js';
import type { RgbImage } from '../types.js';
import type { ImageFormat } from './slidedat.js';

/** RGB of an image that must be `width` x `height` (errors are plain SdsErrors without the file; callers add it). */
export async function decodeImage(bytes: Uint8Array, format: ImageFormat, width: number, height: number): Promise<RgbImage> {
  const image = format === 'JPEG' ? await decodeJpeg(bytes, width, height) : format === 'PNG' ? await decodePng(bytes, width, height) : decodeBmp(bytes, width, height);
  if (image.width !== width || image.height !== height) {
    throw new SdsError('SLIDE_UNREADABLE', `it is ${image.width}x${image.height} px; Slidedat.ini says ${width}x${height}`, { suggestion: 'the slide is corrupt; copy it again' });
  }
  return image;
}

async function decodeJpeg(bytes: Uint8Array, width: number, height: number): Promise<RgbImage> {
  // A MIRAX JPEG is a whole JFIF file: no shared tables, YCbCr converted by libjpeg as OpenSlide lets it.
  const decoder = jpegDecoder({ compression: 7, photometric: 6, blockWidth: width, blockHeight: height, samplesPerPixel: 3, bitsPerSample: [8, 8, 8], planarConfiguration: 1, predictor: 1 });
  return decoder.decode(bytes);
}

async function decodePng(bytes: Uint8Array, width: number, height: number): Promise<RgbImage> {
  const image = sharp(bytes, { failOn: 'error', limitInputPixels: Math.max(1, width * height) });
  const meta = await image.metadata();
  if (meta.hasAlpha) {
    throw new SdsError('SLIDE_UNSUPPORTED', `it is a PNG with an alpha channel; MIRAX PNG images are RGB`, { suggestion: 'OpenSlide refuses such images too; the slide was not written by a MIRAX scanner' });
  }
  const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const pixels = info.width * info.height;
  if (info.channels === 3) return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, pixels * 3) };
  if (info.channels !== 1) throw new SdsError('SLIDE_UNSUPPORTED', `it is a PNG with ${info.channels} channels`, { suggestion: 'convert the slide' });
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i]!;
  return { width: info.width, height: info.height, data: rgb };
}

/** An uncompressed 24-bit Windows bitmap (BITMAPINFOHEADER or later), bottom-up or top-down rows. */
export function decodeBmp(bytes: Uint8Array, width: number, height: number): RgbImage {
  const unsupported = (what: string) => new SdsError('SLIDE_UNSUPPORTED', `it is a BMP with ${what}; MIRAX BMP24 images are uncompressed 24-bit`, { suggestion: 'convert the slide' });
  const corrupt = (what: string) => new SdsError('SLIDE_UNREADABLE', `it is not a readable BMP: ${what}`, { suggestion: 'the slide is corrupt; copy it again' });
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) throw corrupt('no "BM" header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40 || bytes.length < 14 + 40) throw unsupported(`a ${headerSize}-byte info header`);
  const w = view.getInt32(18, true);
  const h = view.getInt32(22, true);
  const bpp = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  if (bpp !== 24) throw unsupported(`${bpp} bits per pixel`);
  if (compression !== 0) throw unsupported(`compression ${compression}`);
  const rows = Math.abs(h);
  // Size checked before a pixel is read: the declared image, never the bytes' claim, bounds the allocation.
  if (w !== width || rows !== height) return { width: w, height: rows, data: new Uint8Array(0) };
  const stride = Math.ceil((w * 3) / 4) * 4;
  if (pixelOffset + stride * (rows - 1) + w * 3 > bytes.length) throw corrupt(`its ${w}x${rows} pixels need ${stride * rows} bytes from byte ${pixelOffset}; it has ${bytes.length}`);
  const out = new Uint8Array(w * rows * 3);
  for (let y = 0; y < rows; y++) {
    const src = pixelOffset + (h > 0 ? rows - 1 - y : y) * stride;
    for (let x = 0, s = src, o = y * w * 3; x < w; x++, s += 3, o += 3) {
      out[o] = bytes[s + 2]!;
      out[o + 1] = bytes[s + 1]!;
      out[o + 2] = bytes[s]!;
    }
  }
  return { width: w, height: rows, data: out };
}
