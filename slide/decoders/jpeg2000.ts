/**
 * JPEG 2000 blocks (Aperio 33003 = YCbCr codestream, 33005 = RGB codestream) decoded by OpenJPEG (WASM).
 * The WASM module is loaded once, lazily; every decode copies its result out of the WASM heap, because the
 * heap view is reused (and may move) on the next decode.
 */
import { createRequire } from 'node:module';
import { SdsError } from '../../core/errors.js';
import type { CodecSettings, DecodedBlock, TileDecoder } from '../../slide/decoders/registry.js';

/** The part of @cornerstonejs/codec-openjpeg's embind API we use (the package ships no types). */
interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}
interface J2KDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
interface OpenJpegModule {
  J2KDecoder: new () => J2KDecoder;
}
type OpenJpegFactory = (options: { print(s: string): void; printErr(s: string): void }) => Promise<OpenJpegModule>;

let modulePromise: Promise<OpenJpegModule> | undefined;
/** OpenJPEG reports problems through printErr rather than by throwing; collected per decode. */
let messages: string[] = [];

function loadModule(): Promise<OpenJpegModule> {
  if (!modulePromise) {
    const require = createRequire(import.meta.url);
    const factory = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as OpenJpegFactory;
    // Silence OpenJPEG's [INFO] chatter on stdout; keep its errors for our messages.
    modulePromise = factory({ print: () => undefined, printErr: (s) => void messages.push(s) });
    modulePromise.catch(() => {
      modulePromise = undefined;
    });
  }
  return modulePromise;
}

export function jpeg2000Decoder(settings: CodecSettings): TileDecoder {
  const ycbcr = settings.compression === 33003;
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      const openjpeg = await loadModule();
      messages = [];
      let decoder: J2KDecoder | undefined;
      let frame: FrameInfo;
      let samples: Uint8Array;
      try {
        decoder = new openjpeg.J2KDecoder();
        decoder.getEncodedBuffer(bytes.length).set(bytes);
        decoder.decode();
        frame = decoder.getFrameInfo();
        samples = Uint8Array.from(decoder.getDecodedBuffer());
      } catch (cause) {
        // OpenJPEG reports bad data without throwing, so a throw is a WASM abort, after which the
        // instance is unusable: start a fresh one next time.
        modulePromise = undefined;
        throw new SdsError('SLIDE_UNREADABLE', `JPEG 2000 decoding failed: ${describe(cause)}`, { suggestion: 'the tile data is corrupt', cause });
      } finally {
        try {
          decoder?.delete();
        } catch {
          // the instance died with the decode that failed; its error is the one to report
        }
      }
      const { width, height, componentCount, bitsPerSample } = frame;
      if (width === 0 || height === 0) {
        throw new SdsError('SLIDE_UNREADABLE', `JPEG 2000 decoding failed${messages.length ? `: ${messages.join('; ')}` : ' (no image in the codestream)'}`, { suggestion: 'the tile data is corrupt' });
      }
      if (bitsPerSample !== 8 || componentCount !== 3 || samples.length !== width * height * 3) {
        throw new SdsError('SLIDE_UNSUPPORTED', `JPEG 2000 tiles with ${componentCount} components of ${bitsPerSample} bits (or subsampled chroma) are not supported`, {
          suggestion: 'convert the slide to 8-bit RGB',
        });
      }
      if (ycbcr) ycbcrToRgb(samples);
      return { width, height, data: samples };
    },
  };
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return messages.length ? messages.join('; ') : String(cause);
}

/** Full-range BT.601 YCbCr -> RGB in place, rounded like OpenSlide's lookup tables. */
function ycbcrToRgb(px: Uint8Array): void {
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let i = 0; i < px.length; i += 3) {
    const y = px[i]!;
    const cb = px[i + 1]! - 128;
    const cr = px[i + 2]! - 128;
    px[i] = clamp(y + Math.round(1.402 * cr));
    px[i + 1] = clamp(y + Math.round(-0.344136 * cb - 0.714136 * cr));
    px[i + 2] = clamp(y + Math.round(1.772 * cb));
  }
}
