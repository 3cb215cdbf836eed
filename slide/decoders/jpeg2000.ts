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
  const { blockWidth, blockHeight } = settings;
  return {
    async decode(bytes: Uint8Array): Promise<DecodedBlock> {
      // The SIZ header is the codestream's own claim of its size; OpenJPEG would allocate for it (4 bytes per
      // sample) before finding out the data is missing. Nothing is decoded unless it fits the declared block.
      const siz = codestreamSize(bytes);
      if (!siz) throw new SdsError('SLIDE_UNREADABLE', 'JPEG 2000 decoding failed: no codestream header (SOC + SIZ) found', { suggestion: 'the tile data is corrupt' });
      if (siz.width > blockWidth || siz.height > blockHeight) {
        throw new SdsError('SLIDE_UNREADABLE', `its JPEG 2000 header says ${siz.width}x${siz.height} px, larger than the ${blockWidth}x${blockHeight} block the TIFF declares`, {
          suggestion: 'the tile data is corrupt; copy or download the slide again',
        });
      }
      if (siz.components > 4) {
        throw new SdsError('SLIDE_UNSUPPORTED', `JPEG 2000 tiles with ${siz.components} components are not supported`, { suggestion: 'convert the slide to 8-bit RGB' });
      }
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

/**
 * Image size and component count from the SIZ segment of a raw codestream (FF4F FF51, as Aperio stores it) or of
 * the first codestream box ('jp2c') of a JP2 file; undefined when neither is there.
 */
export function codestreamSize(bytes: Uint8Array): { width: number; height: number; components: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const siz = (at: number) => {
    if (at + 42 > bytes.length || view.getUint16(at) !== 0xff4f || view.getUint16(at + 2) !== 0xff51) return undefined;
    const [xsiz, ysiz, xo, yo] = [view.getUint32(at + 8), view.getUint32(at + 12), view.getUint32(at + 16), view.getUint32(at + 20)];
    return { width: Math.max(0, xsiz - xo), height: Math.max(0, ysiz - yo), components: view.getUint16(at + 40) };
  };
  const raw = siz(0);
  if (raw) return raw;
  // JP2: boxes of (length, type); the signature box comes first.
  if (bytes.length < 12 || view.getUint32(4) !== 0x6a502020) return undefined;
  for (let at = 0, boxes = 0; at + 8 <= bytes.length && boxes < 64; boxes++) {
    let length = view.getUint32(at);
    const type = view.getUint32(at + 4);
    let header = 8;
    if (length === 1) {
      if (at + 16 > bytes.length) return undefined;
      length = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (length === 0) length = bytes.length - at;
    if (type === 0x6a703263) return siz(at + header); // 'jp2c'
    if (length < header) return undefined;
    at += length;
  }
  return undefined;
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
