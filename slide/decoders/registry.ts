/**
 * Tile decoders keyed by TIFF compression code. A decoder gets its codec settings (tables, photometric,
 * block size) once and then only sees block bytes; it never reads the TIFF directory itself.
 */
import { SdsError } from '../../core/errors.js';

/** What a decoder may need to know about the blocks of one TIFF directory. */
export interface CodecSettings {
  compression: number;
  photometric: number;
  /** Nominal block size; the last strip of an image may hold fewer rows. */
  blockWidth: number;
  blockHeight: number;
  samplesPerPixel: number;
  bitsPerSample: number[];
  planarConfiguration: number;
  predictor: number;
  /** JPEG quantisation/Huffman tables shared by all tiles (TIFF tag 347), SOI..EOI. */
  jpegTables?: Uint8Array;
}

/** A decoded block as interleaved 8-bit RGB; width/height are what the codec produced. */
export interface DecodedBlock {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface TileDecoder {
  decode(bytes: Uint8Array): Promise<DecodedBlock>;
}

export type TileDecoderFactory = (settings: CodecSettings) => TileDecoder;

/**
 * Bytes of decoded samples one block may have (8-bit samples): the bound every decoder puts on its output,
 * from the directory's declared geometry and never from what the compressed data claims.
 */
export function blockSampleBytes(settings: CodecSettings): number {
  return settings.blockWidth * settings.blockHeight * settings.samplesPerPixel;
}

/** Samples per pixel a slide may have (grey, grey + alpha, RGB, RGBA, a few extra channels). */
const MAX_SAMPLES_PER_PIXEL = 8;

interface Entry {
  name: string;
  factory: TileDecoderFactory;
}

const registry = new Map<number, Entry>();

/** Names for codes we do not decode too, so an error can say what the file holds. */
const KNOWN_NAMES: Record<number, string> = {
  2: 'CCITT RLE',
  3: 'CCITT Group 3',
  4: 'CCITT Group 4',
  6: 'old-style JPEG',
  32773: 'PackBits',
  34712: 'JPEG 2000 (Leadtools)',
  34887: 'LERC',
  34925: 'LZMA',
  50000: 'Zstandard',
  50001: 'WebP',
  50002: 'JPEG XL',
};

export function registerTileDecoder(codes: number[], name: string, factory: TileDecoderFactory): void {
  for (const code of codes) registry.set(code, { name, factory });
}

export function compressionName(code: number): string {
  return registry.get(code)?.name ?? KNOWN_NAMES[code] ?? `unknown (${code})`;
}

export function isSupportedCompression(code: number): boolean {
  return registry.has(code);
}

/** A decoder for these settings, or SLIDE_UNSUPPORTED naming the compression and the file. */
export function createTileDecoder(settings: CodecSettings, fileName: string): TileDecoder {
  const entry = registry.get(settings.compression);
  if (!entry) {
    throw new SdsError('SLIDE_UNSUPPORTED', `${fileName} uses TIFF compression ${settings.compression}${settings.compression in KNOWN_NAMES ? ` (${KNOWN_NAMES[settings.compression]})` : ''}, which sds cannot decode`, {
      suggestion: `sds reads ${[...registry.entries()].map(([code, e]) => `${e.name} (${code})`).join(', ')}; convert the slide, e.g. \`vips tiffsave in out.tif --tile --pyramid --compression jpeg\``,
      context: { compression: settings.compression, file: fileName },
    });
  }
  if (!(Number.isInteger(settings.samplesPerPixel) && settings.samplesPerPixel >= 1 && settings.samplesPerPixel <= MAX_SAMPLES_PER_PIXEL)) {
    throw new SdsError('SLIDE_UNSUPPORTED', `${fileName} stores ${settings.samplesPerPixel} samples per pixel; sds reads 1 to ${MAX_SAMPLES_PER_PIXEL}`, {
      suggestion: 'convert the slide to 8-bit RGB',
      context: { samplesPerPixel: settings.samplesPerPixel, file: fileName },
    });
  }
  if (settings.bitsPerSample.some((b) => b !== 8)) {
    throw new SdsError('SLIDE_UNSUPPORTED', `${fileName} stores ${settings.bitsPerSample.join('/')} bits per sample; sds reads 8-bit slides only`, {
      suggestion: 'convert the slide to 8-bit RGB',
      context: { bitsPerSample: settings.bitsPerSample, file: fileName },
    });
  }
  try {
    return entry.factory(settings);
  } catch (err) {
    // A factory refuses settings it cannot decode (planar data, an odd predictor): say which file.
    if (err instanceof SdsError) throw new SdsError(err.code, `${fileName}: ${err.message}`, { suggestion: err.suggestion, context: { ...err.context, file: fileName }, cause: err });
    throw err;
  }
}
