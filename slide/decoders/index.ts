/** The built-in decoders, registered from one table through the same call a caller would use. */
import { jpeg2000Decoder } from '../../slide/decoders/jpeg2000.js';
import { jpegDecoder } from '../../slide/decoders/jpeg.js';
import { deflateDecoder, lzwDecoder, uncompressedDecoder } from '../../slide/decoders/lossless.js';
import { registerTileDecoder, type TileDecoderFactory } from '../../slide/decoders/registry.js';
import { webpDecoder } from '../../slide/decoders/webp.js';
import { zstdDecoder } from '../../slide/decoders/zstd.js';

const BUILT_IN: { codes: number[]; name: string; factory: TileDecoderFactory }[] = [
  { codes: [1], name: 'uncompressed', factory: uncompressedDecoder },
  { codes: [5], name: 'LZW', factory: lzwDecoder },
  { codes: [7], name: 'JPEG', factory: jpegDecoder },
  { codes: [8, 32946], name: 'Deflate', factory: deflateDecoder },
  { codes: [33003, 33005], name: 'JPEG 2000', factory: jpeg2000Decoder },
  { codes: [50000], name: 'Zstandard', factory: zstdDecoder },
  { codes: [50001], name: 'WebP', factory: webpDecoder },
];

for (const { codes, name, factory } of BUILT_IN) registerTileDecoder(codes, name, factory);

export { compressionName, createTileDecoder, isSupportedCompression, registerTileDecoder } from '../../slide/decoders/registry.js';
export type { CodecSettings, DecodedBlock, TileDecoder, TileDecoderFactory } from '../../slide/decoders/registry.js';
