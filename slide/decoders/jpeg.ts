/**
 * JPEG blocks (compression 7) decoded by libjpeg through sharp.
 *
 * TIFF splits a JPEG: the shared tables live in the JPEGTables tag, each tile holds SOI + frame + scan.
 * We join them as SOI + tables (without SOI/EOI) + tile (without SOI). When the TIFF says the samples are
 * RGB (photometric 2, e.g. Aperio), the stream carries no JFIF/Adobe marker and libjpeg would take it for
 * YCbCr (green tissue); an Adobe APP14 marker with transform=0 tells it not to convert, which matches
 * OpenSlide bit for bit. Photometric YCbCr (6, libvips files): libjpeg's default conversion is the right one.
 */
import sharp from 'sharp';
import { SdsError } from '../../core/errors.js';
import type { CodecSettings, DecodedBlock, TileDecoder } from '../../slide/decoders/registry.js';
import { samplesToRgb } from '../../slide/decoders/to-rgb.js';

const SOI = Uint8Array.of(0xff, 0xd8);
/** APP14 "Adobe", version 100, flags 0/0, transform 0 (no colour conversion). */
const ADOBE_RGB = Uint8Array.of(0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00);

/** JPEGTables are copied into every tile's stream: real ones (quantisation + Huffman tables) are under 2 KB. */
const MAX_TABLES_BYTES = 64 * 1024;

export function jpegDecoder(settings: CodecSettings): TileDecoder {
  if (settings.jpegTables && settings.jpegTables.length > MAX_TABLES_BYTES) {
    throw new SdsError('SLIDE_UNREADABLE', `its JPEGTables tag holds ${settings.jpegTables.length} bytes; JPEG tables take under 2 KB (at most ${MAX_TABLES_BYTES} accepted)`, {
      suggestion: 'the file is corrupt; copy or download the slide again',
    });
  }
  const tables = settings.jpegTables ? stripMarkers(settings.jpegTables) : new Uint8Array(0);
  const rgbSamples = settings.photometric === 2;
  const tablesHaveAdobe = hasAdobeMarker(tables);
  const { blockWidth, blockHeight } = settings;
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      const body = bytes[0] === 0xff && bytes[1] === 0xd8 ? bytes.subarray(2) : bytes;
      // The frame header is the JPEG's own claim of its size: a few bytes can claim 65535 x 65535 (12 GiB).
      // Nothing is decoded unless it fits in the block the TIFF declares.
      const frame = frameSize(body);
      if (frame && (frame.width > blockWidth || frame.height > blockHeight)) {
        throw new SdsError('SLIDE_UNREADABLE', `its JPEG header says ${frame.width}x${frame.height} px, larger than the ${blockWidth}x${blockHeight} block the TIFF declares`, {
          suggestion: 'the tile data is corrupt; copy or download the slide again',
        });
      }
      const marker = rgbSamples && !tablesHaveAdobe && !hasAdobeMarker(body) ? ADOBE_RGB : undefined;
      const stream = Buffer.concat(marker ? [SOI, marker, tables, body] : [SOI, tables, body]);
      // failOn 'error': libjpeg warnings (e.g. extraneous bytes) pass as they do in OpenSlide; errors and truncation fail.
      // limitInputPixels: libvips refuses from the header too, should the walk above not have found the frame.
      const { data, info } = await sharp(stream, { failOn: 'error', limitInputPixels: Math.max(1, blockWidth * blockHeight) }).raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 1 && info.channels !== 3) {
        throw new SdsError('SLIDE_UNSUPPORTED', `JPEG blocks with ${info.channels} channels are not supported`, { suggestion: 'convert the slide to RGB' });
      }
      const pixels = info.width * info.height;
      const samples = new Uint8Array(data.buffer, data.byteOffset, data.length);
      return { width: info.width, height: info.height, data: samplesToRgb(samples, pixels, info.channels, info.channels === 1 ? 1 : 2) };
    },
  };
}

/** JPEGTables without its SOI and EOI. */
function stripMarkers(tables: Uint8Array): Uint8Array {
  let start = 0;
  let end = tables.length;
  if (tables[0] === 0xff && tables[1] === 0xd8) start = 2;
  if (end - start >= 2 && tables[end - 2] === 0xff && tables[end - 1] === 0xd9) end -= 2;
  return tables.subarray(start, end);
}

/** Width and height from the frame header (SOF0..SOF15) before the first scan, if there is one. */
export function frameSize(stream: Uint8Array): { width: number; height: number } | undefined {
  let i = stream[0] === 0xff && stream[1] === 0xd8 ? 2 : 0;
  while (i + 3 < stream.length) {
    if (stream[i] !== 0xff) return undefined;
    const marker = stream[i + 1]!;
    if (marker === 0xda || marker === 0xd9) return undefined;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0xff) {
      i += marker === 0xff ? 1 : 2;
      continue;
    }
    const length = (stream[i + 2]! << 8) | stream[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 8 >= stream.length) return undefined;
      return { height: (stream[i + 5]! << 8) | stream[i + 6]!, width: (stream[i + 7]! << 8) | stream[i + 8]! };
    }
    i += 2 + length;
  }
  return undefined;
}

/** Whether the marker segments before the first scan (SOS) include an Adobe APP14. */
function hasAdobeMarker(stream: Uint8Array): boolean {
  let i = 0;
  while (i + 3 < stream.length) {
    if (stream[i] !== 0xff) return false;
    const marker = stream[i + 1]!;
    if (marker === 0xda || marker === 0xd9) return false; // start of scan / end of image
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0xff) {
      i += marker === 0xff ? 1 : 2; // standalone markers and fill bytes
      continue;
    }
    const length = (stream[i + 2]! << 8) | stream[i + 3]!;
    if (marker === 0xee && length >= 7 && String.fromCharCode(...stream.subarray(i + 4, i + 9)) === 'Adobe') return true;
    i += 2 + length;
  }
  return false;
}
