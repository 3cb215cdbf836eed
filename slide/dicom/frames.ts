/**
 * Where each frame of an instance lies in its file, and reading one frame's bytes. Native pixel data is frames
 * back to back; encapsulated (compressed) pixel data is a list of items (fragments), found through the Extended
 * Offset Table, the Basic Offset Table, or, when both are empty, by walking the item headers once at open.
 * Everything is checked against the file size and the frame size before anything large is read or allocated.
 */
import { SdsError } from '../../core/errors.js';
import type { FileSource } from '../file-source.js';
import type { DicomHeader } from './parser.js';

const ITEM = 0xfffee000;
const SEQUENCE_DELIMITER = 0xfffee0dd;

/** Fragments one frame may span when the offset tables say where it starts (JPEG 2000 writers split frames, a few ways). */
const MAX_FRAGMENTS_PER_FRAME = 4096;

export interface FrameTable {
  count: number;
  /** The frame's encoded (or native) bytes; `what` names it in errors. */
  read(index: number, what: string, signal?: AbortSignal): Promise<Uint8Array>;
}

export interface FrameGeometry {
  frames: number;
  /** Bytes of one native frame (rows x columns x samples); compressed frames may not exceed a multiple of it. */
  nativeBytes: number;
}

/** The frame table of `header`'s pixel data in `file`. */
export async function frameTable(file: FileSource, header: Pick<DicomHeader, 'pixelData' | 'extendedOffsets'>, geometry: FrameGeometry): Promise<FrameTable> {
  const pixel = header.pixelData;
  if (!pixel) throw unreadable(file, 'it has no Pixel Data (7FE0,0010)');
  const { frames, nativeBytes } = geometry;
  if (!pixel.encapsulated) {
    const needed = frames * nativeBytes;
    if (pixel.length < needed) throw unreadable(file, `its native Pixel Data holds ${pixel.length} bytes; ${frames} frames of ${nativeBytes} bytes need ${needed}`);
    if (pixel.offset + needed > file.size) throw truncated(file, `its Pixel Data runs to byte ${pixel.offset + needed}`);
    return {
      count: frames,
      read: (index, what, signal) => file.read(pixel.offset + index * nativeBytes, nativeBytes, what, signal),
    };
  }
  // Compressed frames larger than this are corrupt (JPEG worst cases stay well under 2x the raw size).
  const maxFrameBytes = 2 * nativeBytes + 65536;
  const bot = await readItemHeader(file, pixel.offset, 'the Basic Offset Table');
  if (bot.tag !== ITEM) throw unreadable(file, 'its encapsulated Pixel Data does not start with an item (the Basic Offset Table)');
  const firstFragment = pixel.offset + 8 + bot.length;
  if (firstFragment > file.size) throw truncated(file, 'its Basic Offset Table runs past the end of the file');
  let starts: Float64Array;
  let ends: Float64Array;
  const eot = header.extendedOffsets;
  if (eot) {
    if (eot.offsets.length !== frames) throw unreadable(file, `its Extended Offset Table lists ${eot.offsets.length} frames; the file declares ${frames}`);
    // One fragment per frame (PS3.5 A.4 requires it with an Extended Offset Table): item header + value.
    starts = eot.offsets.map((o) => firstFragment + o);
    ends = starts.map((s, i) => s + 8 + eot.lengths[i]!);
  } else if (bot.length > 0) {
    if (bot.length !== frames * 4) throw unreadable(file, `its Basic Offset Table has ${bot.length / 4} entries; the file declares ${frames} frames`);
    const table = await file.read(pixel.offset + 8, bot.length, 'the Basic Offset Table');
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    starts = new Float64Array(frames).map((_, i) => firstFragment + view.getUint32(i * 4, true));
    ends = new Float64Array(frames);
    for (let i = 0; i + 1 < frames; i++) ends[i] = starts[i + 1]!;
    ends[frames - 1] = await endOfFragments(file, starts[frames - 1]!, maxFrameBytes);
  } else {
    ({ starts, ends } = await walkFragments(file, firstFragment, frames, maxFrameBytes));
  }
  for (let i = 0; i < frames; i++) {
    const span = ends[i]! - starts[i]!;
    if (!(span >= 8)) throw unreadable(file, `its offset table puts frame ${i + 1} at an impossible position (offsets must increase)`);
    if (span - 8 > maxFrameBytes) throw unreadable(file, `its offset table gives frame ${i + 1} ${span - 8} bytes, more than a ${nativeBytes}-byte frame can need`);
    if (ends[i]! > file.size) throw truncated(file, `frame ${i + 1} of ${frames} runs to byte ${ends[i]}`);
  }
  return {
    count: frames,
    async read(index, what, signal) {
      const start = starts[index]!;
      const bytes = await file.read(start, ends[index]! - start, what, signal);
      return fragmentValues(bytes, file, what);
    },
  };
}

/** The values of the items that make up one frame's bytes (one item: no copy). */
function fragmentValues(bytes: Uint8Array, file: FileSource, what: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
    if (tag === SEQUENCE_DELIMITER) break;
    if (tag !== ITEM) throw unreadable(file, `${what}: no fragment item where its offset table points (found tag ${hexTag(tag)})`);
    const length = view.getUint32(at + 4, true);
    if (at + 8 + length > bytes.length) throw unreadable(file, `${what}: its fragment of ${length} bytes runs past the frame's end`);
    parts.push(bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  if (parts.length === 0) throw unreadable(file, `${what}: no fragment where its offset table points`);
  // A frame split over several fragments is their bytes in order.
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Where the fragments that start at `start` end: the sequence delimiter after the last frame. */
async function endOfFragments(file: FileSource, start: number, maxFrameBytes: number): Promise<number> {
  let at = start;
  for (let n = 0; n < MAX_FRAGMENTS_PER_FRAME; n++) {
    if (at + 8 > file.size) throw truncated(file, 'its last frame runs past the end of the file (no sequence delimiter)');
    const item = await readItemHeader(file, at, 'the pixel data items');
    if (item.tag === SEQUENCE_DELIMITER) return at;
    if (item.tag !== ITEM) throw unreadable(file, `its pixel data holds tag ${hexTag(item.tag)} where a fragment item or the sequence delimiter belongs`);
    at += 8 + item.length;
    if (at - start > maxFrameBytes + 8 * MAX_FRAGMENTS_PER_FRAME) throw unreadable(file, `its last frame's fragments exceed ${maxFrameBytes} bytes`);
  }
  throw unreadable(file, `its last frame has more than ${MAX_FRAGMENTS_PER_FRAME} fragments`);
}

/**
 * No offset table: the frames are the fragments, one each (as PS3.5 A.4 requires of multi-frame pixel data
 * without one, unless the frames are split and only the decoder could tell). A single frame may have many.
 */
async function walkFragments(file: FileSource, first: number, frames: number, maxFrameBytes: number): Promise<{ starts: Float64Array; ends: Float64Array }> {
  const starts: number[] = [];
  let at = first;
  for (;;) {
    if (at + 8 > file.size) throw truncated(file, `its pixel data ends after ${starts.length} fragments (no sequence delimiter)`);
    const item = await readItemHeader(file, at, 'the pixel data items');
    if (item.tag === SEQUENCE_DELIMITER) break;
    if (item.tag !== ITEM) throw unreadable(file, `its pixel data holds tag ${hexTag(item.tag)} where a fragment item or the sequence delimiter belongs`);
    starts.push(at);
    at += 8 + item.length;
    if (frames > 1 && starts.length > frames) break;
    if (frames === 1 && (starts.length > MAX_FRAGMENTS_PER_FRAME || at - first > maxFrameBytes)) throw unreadable(file, `its single frame's fragments exceed ${maxFrameBytes} bytes`);
  }
  if (frames === 1 && starts.length >= 1) return { starts: Float64Array.of(first), ends: Float64Array.of(at) };
  if (starts.length !== frames) {
    throw unreadable(file, `its pixel data has ${starts.length > frames ? `more than ${frames}` : starts.length} fragments for ${frames} frames and no offset table, so sds cannot tell where each frame starts`);
  }
  const ends = new Float64Array(frames);
  for (let i = 0; i < frames; i++) ends[i] = i + 1 < frames ? starts[i + 1]! : at;
  return { starts: Float64Array.from(starts), ends };
}

async function readItemHeader(file: FileSource, at: number, what: string): Promise<{ tag: number; length: number }> {
  const b = await file.read(at, 8, what);
  const view = new DataView(b.buffer, b.byteOffset, 8);
  return { tag: ((view.getUint16(0, true) << 16) | view.getUint16(2, true)) >>> 0, length: view.getUint32(4, true) };
}

function hexTag(tag: number): string {
  const h = tag.toString(16).padStart(8, '0').toUpperCase();
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}

function unreadable(file: FileSource, problem: string): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${file.name}: ${problem}`, {
    suggestion: 'the DICOM file is corrupt; copy or export it again',
    context: { path: file.path },
  });
}

function truncated(file: FileSource, problem: string): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${file.name} is truncated: ${problem}, but the file has ${file.size} bytes`, {
    suggestion: 'copy or download the file again and compare its size with the original',
    context: { path: file.path, fileSize: file.size },
  });
}
