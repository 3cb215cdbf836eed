/**
 * WebP blocks (TIFF compression 50001, libvips' `--compression webp`, lossy or `--lossless`) decoded by libwebp
 * through sharp, as libtiff's WebP codec decodes them for OpenSlide. Each block is a whole WebP file (RIFF).
 *
 * The RIFF header is the block's own claim of its size (VP8X canvas, VP8L or VP8 frame: up to 16384 x 16384 in
 * a few bytes): it is read first, and nothing is decoded unless it fits the block the TIFF declares.
 */
import sharp from 'sharp';
import { SdsError } from '../../core/errors.js';
import type { CodecSettings, DecodedBlock, TileDecoder } from '../../slide/decoders/registry.js';
import { samplesToRgb } from '../../slide/decoders/to-rgb.js';

export function webpDecoder(settings: CodecSettings): TileDecoder {
  const { blockWidth, blockHeight } = settings;
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      const size = webpSize(bytes);
      if (!size) throw new SdsError('SLIDE_UNREADABLE', 'WebP decoding failed: no WebP header (RIFF....WEBP with a VP8, VP8L or VP8X chunk) found', { suggestion: 'the tile data is corrupt' });
      if (size.width > blockWidth || size.height > blockHeight) {
        throw new SdsError('SLIDE_UNREADABLE', `its WebP header says ${size.width}x${size.height} px, larger than the ${blockWidth}x${blockHeight} block the TIFF declares`, {
          suggestion: 'the tile data is corrupt; copy or download the slide again',
        });
      }
      // limitInputPixels: libvips refuses from the header too, should the walk above have missed something.
      const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: Math.max(1, blockWidth * blockHeight) }).raw().toBuffer({ resolveWithObject: true });
      if (info.channels < 3) {
        throw new SdsError('SLIDE_UNSUPPORTED', `WebP blocks with ${info.channels} channels are not supported`, { suggestion: 'convert the slide to RGB' });
      }
      const samples = new Uint8Array(data.buffer, data.byteOffset, data.length);
      // RGBA (libvips writes the alpha of an RGBA image): alpha dropped, as for every other codec.
      return { width: info.width, height: info.height, data: samplesToRgb(samples, info.width * info.height, info.channels, 2) };
    },
  };
}

/** Canvas size from a WebP file's first chunk (VP8X, VP8L or VP8); undefined when it is not WebP. */
export function webpSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 30) return undefined;
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
  const u24 = (at: number) => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WEBP') return undefined;
  const chunk = tag(12);
  const data = 20;
  if (chunk === 'VP8X') return { width: u24(data + 4) + 1, height: u24(data + 7) + 1 };
  if (chunk === 'VP8L') {
    if (bytes[data] !== 0x2f) return undefined;
    const bits = (bytes[data + 1]! | (bytes[data + 2]! << 8) | (bytes[data + 3]! << 16) | (bytes[data + 4]! << 24)) >>> 0;
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 bits of scale each).
    if (bytes[data + 3] !== 0x9d || bytes[data + 4] !== 0x01 || bytes[data + 5] !== 0x2a) return undefined;
    return { width: (bytes[data + 6]! | (bytes[data + 7]! << 8)) & 0x3fff, height: (bytes[data + 8]! | (bytes[data + 9]! << 8)) & 0x3fff };
  }
  return undefined;
}
