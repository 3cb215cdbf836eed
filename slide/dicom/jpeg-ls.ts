/**
 * JPEG-LS frames (DICOM transfer syntaxes 1.2.840.10008.1.2.4.80 lossless and .81 near-lossless) decoded by CharLS
 * (WASM, @cornerstonejs/codec-charls). Kept with the DICOM reader: no TIFF compression code names JPEG-LS, so the
 * TIFF decoder registry has no slot for it. The module is loaded once, lazily; each decode copies its result
 * out of the WASM heap, which the next decode reuses.
 */
import { createRequire } from 'node:module';
import { SdsError } from '../../core/errors.js';
import type { DecodedBlock } from '../decoders/registry.js';

/** The part of the package's embind API we use (it ships no types). */
interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}
interface JpegLSDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getInterleaveMode(): number;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
interface CharlsModule {
  JpegLSDecoder: new () => JpegLSDecoder;
}
type CharlsFactory = (options: { print(s: string): void; printErr(s: string): void }) => Promise<CharlsModule>;

let modulePromise: Promise<CharlsModule> | undefined;

function loadModule(): Promise<CharlsModule> {
  if (!modulePromise) {
    const require = createRequire(import.meta.url);
    const factory = require('@cornerstonejs/codec-charls/decodewasmjs') as CharlsFactory;
    modulePromise = factory({ print: () => undefined, printErr: () => undefined });
    modulePromise.catch(() => {
      modulePromise = undefined;
    });
  }
  return modulePromise;
}

/** Width, height and components from the SOF55 (FFF7) frame header, if found before the first scan. */
export function jpegLsFrameSize(stream: Uint8Array): { width: number; height: number; components: number } | undefined {
  let i = stream[0] === 0xff && stream[1] === 0xd8 ? 2 : 0;
  while (i + 3 < stream.length) {
    if (stream[i] !== 0xff) return undefined;
    const marker = stream[i + 1]!;
    if (marker === 0xda || marker === 0xd9) return undefined;
    const length = (stream[i + 2]! << 8) | stream[i + 3]!;
    if (marker === 0xf7) {
      if (i + 9 >= stream.length) return undefined;
      return { height: (stream[i + 5]! << 8) | stream[i + 6]!, width: (stream[i + 7]! << 8) | stream[i + 8]!, components: stream[i + 9]! };
    }
    i += 2 + length;
  }
  return undefined;
}

/** Decode one JPEG-LS frame of at most `maxWidth` x `maxHeight` into interleaved 8-bit RGB. */
export async function decodeJpegLs(bytes: Uint8Array, maxWidth: number, maxHeight: number): Promise<DecodedBlock> {
  // The frame header is the stream's own claim; CharLS allocates for it. Nothing larger than the frame is decoded.
  const sof = jpegLsFrameSize(bytes);
  if (!sof) throw new SdsError('SLIDE_UNREADABLE', 'JPEG-LS decoding failed: no frame header (SOF55) found', { suggestion: 'the frame data is corrupt' });
  if (sof.width > maxWidth || sof.height > maxHeight) {
    throw new SdsError('SLIDE_UNREADABLE', `its JPEG-LS header says ${sof.width}x${sof.height} px, larger than the ${maxWidth}x${maxHeight} frame the file declares`, {
      suggestion: 'the frame data is corrupt; copy or export the slide again',
    });
  }
  if (sof.components !== 1 && sof.components !== 3) {
    throw new SdsError('SLIDE_UNSUPPORTED', `JPEG-LS frames with ${sof.components} components are not supported`, { suggestion: 'convert the slide to 8-bit RGB' });
  }
  const charls = await loadModule();
  let decoder: JpegLSDecoder | undefined;
  let info: FrameInfo;
  let interleave: number;
  let samples: Uint8Array;
  try {
    decoder = new charls.JpegLSDecoder();
    decoder.getEncodedBuffer(bytes.length).set(bytes);
    decoder.decode();
    info = decoder.getFrameInfo();
    interleave = decoder.getInterleaveMode();
    samples = Uint8Array.from(decoder.getDecodedBuffer());
  } catch (cause) {
    // CharLS throws on bad data; the instance may be unusable after a WASM abort: start afresh next time.
    modulePromise = undefined;
    throw new SdsError('SLIDE_UNREADABLE', `JPEG-LS decoding failed (${typeof cause === 'number' ? `CharLS error at ${cause}` : String((cause as Error)?.message ?? cause)})`, {
      suggestion: 'the frame data is corrupt',
      cause,
    });
  } finally {
    try {
      decoder?.delete();
    } catch {
      // the instance died with the failing decode; that error is the one to report
    }
  }
  const { width, height, componentCount, bitsPerSample } = info;
  const pixels = width * height;
  if (bitsPerSample > 8 || samples.length !== pixels * componentCount) {
    throw new SdsError('SLIDE_UNSUPPORTED', `JPEG-LS frames of ${bitsPerSample} bits per sample are not supported`, { suggestion: 'convert the slide to 8-bit RGB' });
  }
  const rgb = new Uint8Array(pixels * 3);
  if (componentCount === 1) {
    for (let p = 0; p < pixels; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = samples[p]!;
  } else if (interleave === 0) {
    // Interleave mode "none": CharLS returns the three planes one after the other.
    for (let p = 0; p < pixels; p++) {
      rgb[p * 3] = samples[p]!;
      rgb[p * 3 + 1] = samples[pixels + p]!;
      rgb[p * 3 + 2] = samples[2 * pixels + p]!;
    }
  } else {
    rgb.set(samples);
  }
  return { width, height, data: rgb };
}
