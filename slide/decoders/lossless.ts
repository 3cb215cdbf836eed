/** Uncompressed (1), LZW (5) and Deflate (8, 32946) blocks: bytes -> samples -> predictor -> RGB (Zstandard reuses the same path). */
import { createInflate } from 'node:zlib';
import { SdsError } from '../../core/errors.js';
import { lzwDecode } from '../../slide/decoders/lzw.js';
import { blockSampleBytes, type CodecSettings, type DecodedBlock, type TileDecoder } from '../../slide/decoders/registry.js';
import { samplesToRgb, undoHorizontalDifferencing } from '../../slide/decoders/to-rgb.js';

/** Compressed block bytes -> the block's 8-bit samples, at most blockSampleBytes of them. */
export type Unpack = (bytes: Uint8Array) => Promise<Uint8Array>;

/** A decoder for codecs whose output is the block's raw samples: unpack, undo the predictor, convert to RGB. */
export function samplesDecoder(settings: CodecSettings, unpack: Unpack): TileDecoder {
  const { blockWidth, blockHeight, samplesPerPixel: spp, photometric, predictor, planarConfiguration } = settings;
  if (planarConfiguration !== 1 && spp > 1) {
    // The TIFF layer splits such directories into single-sample planes (slide/tiff/planes.ts); a decoder sees one plane.
    throw new SdsError('SLIDE_UNSUPPORTED', 'separate colour planes (PlanarConfiguration 2) are not supported here', { suggestion: 'convert the slide to interleaved RGB' });
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
  const max = blockSampleBytes(settings);
  // Copy: the caller's buffer may be reused, and the predictor works in place. Bytes past the block are ignored.
  return samplesDecoder(settings, async (bytes) => bytes.slice(0, max));
}

export function deflateDecoder(settings: CodecSettings): TileDecoder {
  const max = blockSampleBytes(settings);
  return samplesDecoder(settings, (bytes) => inflateAtMost(bytes, max));
}

export function lzwDecoder(settings: CodecSettings): TileDecoder {
  const max = blockSampleBytes(settings);
  return samplesDecoder(settings, async (bytes) => lzwDecode(bytes, max));
}

/**
 * zlib data inflated into at most `max` bytes (the block's declared size): inflation stops there, as libtiff's
 * does, so a tile of zeros that inflates to 1 GiB costs one block, not 1 GiB. Errors as zlib reports them.
 */
export function inflateAtMost(bytes: Uint8Array, max: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(max);
    let n = 0;
    let settled = false;
    const z = createInflate({ chunkSize: Math.min(64 * 1024, Math.max(1024, max)) });
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(n === max ? out : out.subarray(0, n));
    };
    z.on('data', (chunk: Buffer) => {
      if (settled) return;
      const take = Math.min(chunk.length, max - n);
      out.set(chunk.subarray(0, take), n);
      n += take;
      if (n === max) {
        finish();
        z.destroy(); // the rest of the stream is never inflated
      }
    });
    z.on('end', () => finish());
    z.on('error', (err) => finish(err));
    z.end(bytes);
  });
}
