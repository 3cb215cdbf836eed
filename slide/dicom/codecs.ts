/**
 * Frame decoders by DICOM transfer syntax and photometric interpretation. JPEG baseline goes through the TIFF
 * reader's libjpeg decoder (sharp), so pixels equal libjpeg-turbo's (and OpenSlide's) exactly: YBR_FULL_422 /
 * YBR_FULL take libjpeg's default YCbCr conversion, RGB gets the Adobe marker that stops it. JPEG 2000 goes through
 * OpenJPEG, whose inverse multi-component transform already gives RGB for YBR_ICT / YBR_RCT; JPEG-LS through CharLS;
 * native frames are copied.
 */
import { SdsError } from '../../core/errors.js';
import { jpeg2000Decoder } from '../decoders/jpeg2000.js';
import { jpegDecoder } from '../decoders/jpeg.js';
import type { CodecSettings, DecodedBlock, TileDecoder } from '../decoders/registry.js';
import { decodeJpegLs } from './jpeg-ls.js';

export const TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'implicit VR little endian (uncompressed)',
  '1.2.840.10008.1.2.1': 'explicit VR little endian (uncompressed)',
  '1.2.840.10008.1.2.4.50': 'JPEG baseline',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
};

/** Names of syntaxes sds does not decode, for the error. */
const OTHER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': 'deflated explicit VR little endian',
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.4.51': 'JPEG extended (12-bit)',
  '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless, first-order prediction',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 multi-component lossless',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 multi-component',
  '1.2.840.10008.1.2.4.110': 'JPEG XL lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 (RPCL) lossless',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE lossless',
};

export function transferSyntaxName(uid: string): string {
  return TRANSFER_SYNTAXES[uid] ?? OTHER_SYNTAXES[uid] ?? 'unknown';
}

/** How a frame is stored, for SourceLevel.compression. */
export function compressionLabel(uid: string): string {
  if (uid.startsWith('1.2.840.10008.1.2.4.5')) return 'JPEG';
  if (uid.startsWith('1.2.840.10008.1.2.4.8')) return 'JPEG-LS';
  if (uid.startsWith('1.2.840.10008.1.2.4.9')) return 'JPEG 2000';
  return 'uncompressed';
}

export interface PixelFormat {
  transferSyntax: string;
  photometric: string;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  planarConfiguration: number;
  rows: number;
  columns: number;
}

/** A decoder for the frames of one instance, or SLIDE_UNSUPPORTED naming what the file uses. */
export function frameDecoder(format: PixelFormat, fileName: string): TileDecoder {
  const { transferSyntax: ts, photometric, samplesPerPixel: spp, rows, columns } = format;
  const unsupported = (what: string) =>
    new SdsError('SLIDE_UNSUPPORTED', `${fileName} stores ${what}, which sds cannot decode`, {
      suggestion: `sds reads DICOM WSI with ${Object.values(TRANSFER_SYNTAXES).join(', ')} frames, 8-bit RGB or grey; convert the slide (e.g. with wsidicomizer or dcmtk)`,
      context: { file: fileName, transferSyntax: ts, photometric },
    });
  if (!(ts in TRANSFER_SYNTAXES)) throw unsupported(`its frames in transfer syntax ${ts} (${transferSyntaxName(ts)})`);
  if (format.bitsAllocated !== 8 || format.bitsStored !== 8) throw unsupported(`${format.bitsStored} of ${format.bitsAllocated} bits per sample`);
  const rgb = spp === 3 && ['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_ICT', 'YBR_RCT'].includes(photometric);
  const grey = spp === 1 && photometric === 'MONOCHROME2';
  if (!rgb && !grey) throw unsupported(`${spp} samples per pixel with photometric interpretation ${photometric || '(none)'}`);
  const settings: CodecSettings = {
    compression: 0,
    photometric: grey ? 1 : 2,
    blockWidth: columns,
    blockHeight: rows,
    samplesPerPixel: spp,
    bitsPerSample: new Array<number>(spp).fill(8),
    planarConfiguration: 1,
    predictor: 1,
  };
  switch (compressionLabel(ts)) {
    case 'JPEG':
      // Photometric 6 (YCbCr): libjpeg converts as it does by default; 2 (RGB): jpeg.ts adds the Adobe marker.
      if (rgb && photometric !== 'RGB' && !photometric.startsWith('YBR_FULL')) throw unsupported(`JPEG frames with photometric interpretation ${photometric}`);
      return jpegDecoder({ ...settings, compression: 7, photometric: grey ? 1 : photometric === 'RGB' ? 2 : 6 });
    case 'JPEG 2000':
      if (grey) throw unsupported('grey JPEG 2000 frames');
      // 33005: components are RGB after OpenJPEG's inverse transform (ICT/RCT); 33003: YCbCr components to convert.
      return jpeg2000Decoder({ ...settings, compression: photometric.startsWith('YBR_FULL') ? 33003 : 33005 });
    case 'JPEG-LS':
      return { decode: (bytes) => decodeJpegLs(bytes, columns, rows) };
    default:
      if (rgb && photometric !== 'RGB') throw unsupported(`uncompressed frames with photometric interpretation ${photometric}`);
      return nativeDecoder(columns, rows, spp, format.planarConfiguration);
  }
}

/** Native frames: RGB interleaved (planar configuration 0) or planar (1), or grey. */
function nativeDecoder(width: number, height: number, spp: number, planar: number): TileDecoder {
  const pixels = width * height;
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      if (spp === 3 && planar !== 1) return { width, height, data: bytes };
      const out = new Uint8Array(pixels * 3);
      for (let p = 0; p < pixels; p++) {
        if (spp === 1) out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = bytes[p]!;
        else {
          out[p * 3] = bytes[p]!;
          out[p * 3 + 1] = bytes[pixels + p]!;
          out[p * 3 + 2] = bytes[2 * pixels + p]!;
        }
      }
      return { width, height, data: out };
    },
  };
}
