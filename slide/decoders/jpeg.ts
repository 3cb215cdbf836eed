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

export function jpegDecoder(settings: CodecSettings): TileDecoder {
  const tables = settings.jpegTables ? stripMarkers(settings.jpegTables) : new Uint8Array(0);
  const rgbSamples = settings.photometric === 2;
  const tablesHaveAdobe = hasAdobeMarker(tables);
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      const body = bytes[0] === 0xff && bytes[1] === 0xd8 ? bytes.subarray(2) : bytes;
      const marker = rgbSamples && !tablesHaveAdobe && !hasAdobeMarker(body) ? ADOBE_RGB : undefined;
      const stream = Buffer.concat(marker ? [SOI, marker, tables, body] : [SOI, tables, body]);
      // failOn 'error': libjpeg warnings (e.g. extraneous bytes) pass as they do in OpenSlide; errors and truncation fail.
      const { data, info } = await sharp(stream, { failOn: 'error' }).raw().toBuffer({ resolveWithObject: true });
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
