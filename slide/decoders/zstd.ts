/**
 * Zstandard blocks (TIFF compression 50000, libvips' `--compression zstd`, tifffile) decoded by fzstd (pure JS),
 * then the usual sample path (horizontal predictor 2, photometric -> RGB).
 *
 * The output is bounded like inflateAtMost: fzstd decodes into one preallocated buffer of the block's declared
 * size. Without that buffer fzstd allocates the frame's window (up to 2 GiB, a claim of a few header bytes); with
 * it, nothing large. Before decoding, the frames' headers are walked (no decoding): a stated content size, or raw
 * and RLE blocks, that add up to more than the block are refused there (fzstd would silently drop what does not
 * fit); data that still runs past the buffer while decoding throws, reported as corrupt data.
 */
import { decompress } from 'fzstd';
import { SdsError } from '../../core/errors.js';
import { samplesDecoder } from '../../slide/decoders/lossless.js';
import { blockSampleBytes, type CodecSettings, type TileDecoder } from '../../slide/decoders/registry.js';

const MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50..5F, then a 4-byte length. */
const SKIPPABLE = 0x184d2a50;
/** A block regenerates at most 128 KiB (RFC 8878, Block_Maximum_Size). */
const MAX_BLOCK = 128 * 1024;

export function zstdDecoder(settings: CodecSettings): TileDecoder {
  const max = blockSampleBytes(settings);
  return samplesDecoder(settings, async (bytes) => zstdAtMost(bytes, max));
}

/** Zstandard data decoded into `max` bytes at most; more than that is an error, never a larger allocation. */
export function zstdAtMost(bytes: Uint8Array, max: number): Uint8Array {
  const stated = statedSize(bytes);
  if (stated > max) throw tooLarge(max, stated);
  const out = new Uint8Array(max);
  try {
    // A libtiff block is one frame, decoded in place into `out` (fzstd returns `out` itself).
    decompress(bytes, out);
  } catch (cause) {
    if (cause instanceof SdsError) throw cause;
    if (cause instanceof RangeError) throw tooLarge(max, undefined, cause);
    throw new SdsError('SLIDE_UNREADABLE', `Zstandard data is corrupt (${(cause as Error).message})`, { suggestion: 'the tile data is corrupt; copy or download the slide again', cause });
  }
  return out;
}

function tooLarge(max: number, size: number | undefined, cause?: unknown): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `Zstandard data decodes to more than the ${max} bytes the block declares${size !== undefined ? ` (its headers say at least ${size})` : ''}`, {
    suggestion: 'the tile data is corrupt; copy or download the slide again',
    cause,
  });
}

/**
 * The least the frames say they decode to, from their headers alone: each frame's Frame_Content_Size when stated,
 * else the sum of its raw and RLE block sizes. Throws on headers that are not Zstandard.
 */
function statedSize(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (what: string) => new SdsError('SLIDE_UNREADABLE', `Zstandard data is corrupt (${what})`, { suggestion: 'the tile data is corrupt; copy or download the slide again' });
  let at = 0;
  let total = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw corrupt(`${bytes.length - at} stray bytes after the last frame`);
    const magic = view.getUint32(at, true);
    if ((magic & 0xfffffff0) === SKIPPABLE) {
      if (at + 8 > bytes.length) throw corrupt('a skippable frame cut off');
      at += 8 + view.getUint32(at + 4, true);
      continue;
    }
    if (magic !== MAGIC) throw corrupt(at === 0 ? 'no Zstandard frame header' : `bytes after frame end at ${at}`);
    if (at + 5 > bytes.length) throw corrupt('frame header cut off');
    const descriptor = bytes[at + 4]!;
    const single = (descriptor >> 5) & 1;
    const fcsBytes = [single, 2, 4, 8][descriptor >> 6]!;
    const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
    let p = at + 5 + (single ? 0 : 1) + dictBytes;
    if (p + fcsBytes > bytes.length) throw corrupt('frame header cut off');
    let frameSize: number | undefined;
    if (fcsBytes === 1) frameSize = bytes[p]!;
    else if (fcsBytes === 2) frameSize = view.getUint16(p, true) + 256;
    else if (fcsBytes === 4) frameSize = view.getUint32(p, true);
    else if (fcsBytes === 8) frameSize = Number(view.getBigUint64(p, true));
    p += fcsBytes;
    let blocks = 0;
    for (let last = 0; !last; ) {
      if (p + 3 > bytes.length) throw corrupt('block header cut off');
      const header = bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16);
      last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      p += 3;
      if (type === 3) throw corrupt('reserved block type');
      if (size > MAX_BLOCK) throw corrupt(`a block of ${size} bytes, more than Zstandard's ${MAX_BLOCK}`);
      if (type !== 2) blocks += size; // raw and RLE blocks regenerate exactly their size
      p += type === 1 ? 1 : size;
      if (p > bytes.length) throw corrupt('block cut off');
    }
    if ((descriptor >> 2) & 1) p += 4; // content checksum
    total += Math.max(frameSize ?? 0, blocks);
    at = p;
  }
  return total;
}
