/** Uncompressed (1), LZW (5) and Deflate (8, 32946) blocks: bytes -> samples -> predictor -> RGB. */
import { promisify } from 'node:util';
import { inflate } from 'node:zlib';
import { getDecoder } from 'geotiff';
import { SdsError } from '../../core/errors.js';
import type { CodecSettings, DecodedBlock, TileDecoder } from '../../slide/decoders/registry.js';
import { samplesToRgb, undoHorizontalDifferencing } from '../../slide/decoders/to-rgb.js';

const inflateAsync = promisify(inflate);

type Unpack = (bytes: Uint8Array) => Promise<Uint8Array>;

function samplesDecoder(settings: CodecSettings, unpack: Unpack): TileDecoder {
  const { blockWidth, blockHeight, samplesPerPixel: spp, photometric, predictor, planarConfiguration } = settings;
  if (planarConfiguration !== 1 && spp > 1) {
    throw new SdsError('SLIDE_UNSUPPORTED', 'separate colour planes (PlanarConfiguration 2) are not supported', { suggestion: 'convert the slide to interleaved RGB' });
  }
  if (predictor !== 1 && predictor !== 2) {
    throw new SdsError('SLIDE_UNSUPPORTED', `TIFF predictor ${predictor} is not supported for 8-bit samples`, { suggestion: 'convert the slide without a floating-point predictor' });
  }
  const rowBytes = blockWidth * spp;
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      const samples = await unpack(bytes);
      // The last strip of an image may hold fewer rows than RowsPerStrip; whole rows only.
      const rows = Math.min(blockHeight, Math.floor(samples.length / rowBytes));
      if (predictor === 2) undoHorizontalDifferencing(samples, blockWidth, rows, spp);
      return { width: blockWidth, height: rows, data: samplesToRgb(samples.subarray(0, rows * rowBytes), blockWidth * rows, spp, photometric) };
    },
  };
}

export function uncompressedDecoder(settings: CodecSettings): TileDecoder {
  // Copy: the caller's buffer may be reused, and the predictor works in place.
  return samplesDecoder(settings, async (bytes) => bytes.slice());
}

export function deflateDecoder(settings: CodecSettings): TileDecoder {
  return samplesDecoder(settings, async (bytes) => new Uint8Array(await inflateAsync(bytes)));
}

export function lzwDecoder(settings: CodecSettings): TileDecoder {
  // geotiff's own LZW (TIFF's variant, with its early code-width change); the predictor is ours.
  const codec = getDecoder(5, { tileWidth: settings.blockWidth, tileHeight: settings.blockHeight, predictor: 1, bitsPerSample: settings.bitsPerSample, planarConfiguration: 1 });
  // Not awaited here; a failure surfaces at the first decode. Mark it handled so it is never "unhandled".
  codec.catch(() => undefined);
  return samplesDecoder(settings, async (bytes) => {
    const decoder = await codec;
    const own = bytes.slice().buffer;
    return new Uint8Array(await decoder.decodeBlock(own));
  });
}
