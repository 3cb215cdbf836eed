/**
 * The header of an NDPI level's JPEG (everything up to the entropy-coded data) and the tile grid OpenSlide 3.4.1
 * makes of it. With a restart interval, a tile is one restart interval: `interval` MCUs across, one MCU high,
 * which OpenSlide decodes alone by pairing the header (its frame size changed to the tile's) with that
 * interval's data. Without restart markers the whole image is one tile. The tables are kept too, for the
 * reduced-size decodes of the levels OpenSlide derives by libjpeg scaling.
 */
import { SdsError } from '../../../core/errors.js';
import type { ByteSource } from './ifd.js';

/** libjpeg's largest image side; OpenSlide patches frame sizes of 0 or beyond it to it. */
export const JPEG_MAX_DIMENSION = 65500;
/** Real headers (tables, comments) take a few KiB; nothing is searched beyond this. */
const MAX_HEADER_BYTES = 1 << 20;

export interface FrameComponent {
  id: number;
  h: number;
  v: number;
  /** Quantisation table selector. */
  tq: number;
}

export interface ScanComponent {
  id: number;
  /** DC and AC Huffman table selectors. */
  td: number;
  ta: number;
}

export interface HuffmanSpec {
  /** Number of codes of each length 1..16. */
  bits: Uint8Array;
  values: Uint8Array;
}

export interface JpegHeader {
  /** SOI through the end of the SOS segment, as in the file. */
  bytes: Uint8Array;
  /** Position of the frame marker (SOFn) in `bytes`. */
  sofAt: number;
  /** The frame marker's second byte (0xc0: baseline, 0xc1: extended Huffman, 0xc2: progressive, ...). */
  sofMarker: number;
  precision: number;
  width: number;
  height: number;
  components: FrameComponent[];
  restartInterval: number;
  scan: { components: ScanComponent[]; ss: number; se: number; ah: number; al: number };
  /** Quantisation tables by selector, in zigzag order as stored. */
  quant: Map<number, Uint16Array>;
  dcTables: Map<number, HuffmanSpec>;
  acTables: Map<number, HuffmanSpec>;
}

function bad(source: ByteSource, what: string, problem: string, context: Record<string, unknown>): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${source.name}: the JPEG of ${what} is corrupt: ${problem}`, {
    suggestion: 'the slide is corrupt or truncated; copy or download it again',
    context: { path: source.path, ...context },
  });
}

/** The JPEG header at `start` (the strip holds `length` bytes), read in growing chunks (real ones: under 1 KiB) up to MAX_HEADER_BYTES. */
export async function readJpegHeader(source: ByteSource, start: number, length: number, what: string): Promise<JpegHeader> {
  let chunk = Math.min(length, 2048);
  for (;;) {
    const bytes = await source.read(start, chunk, `the JPEG header of ${what}`);
    const parsed = parseJpegHeader(bytes, (problem) => bad(source, what, problem, { offset: start }));
    if (parsed) return parsed;
    if (chunk >= length || chunk >= MAX_HEADER_BYTES) {
      throw bad(source, what, chunk >= length ? 'its data ends before the start of scan (SOS)' : `no start of scan (SOS) in its first ${MAX_HEADER_BYTES} bytes`, { offset: start });
    }
    chunk = Math.min(length, chunk * 4, MAX_HEADER_BYTES);
  }
}

/** The header in `bytes`, undefined when `bytes` ends before the SOS segment does; malformed headers throw `fail(problem)`. */
export function parseJpegHeader(bytes: Uint8Array, fail: (problem: string) => Error): JpegHeader | undefined {
  if (bytes.length < 2) return undefined;
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw fail('it does not start with a JPEG start-of-image marker');
  const quant = new Map<number, Uint16Array>();
  const dcTables = new Map<number, HuffmanSpec>();
  const acTables = new Map<number, HuffmanSpec>();
  let frame: Pick<JpegHeader, 'sofAt' | 'sofMarker' | 'precision' | 'width' | 'height' | 'components'> | undefined;
  let restartInterval = 0;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) throw fail(`no marker at header byte ${i}`);
    const marker = bytes[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd7)) throw fail(`marker ff${marker.toString(16)} inside the header`);
    const length = (bytes[i + 2]! << 8) | bytes[i + 3]!;
    if (length < 2) throw fail(`a marker segment of length ${length}`);
    const end = i + 2 + length;
    if (end > bytes.length) return undefined;
    const seg = bytes.subarray(i + 4, end);
    if (marker === 0xdb) readQuant(seg, quant, fail);
    else if (marker === 0xc4) readHuffman(seg, dcTables, acTables, fail);
    else if (marker === 0xdd) {
      if (seg.length < 2) throw fail('a short restart-interval (DRI) segment');
      restartInterval = (seg[0]! << 8) | seg[1]!;
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (seg.length < 6) throw fail('a short frame (SOF) segment');
      const count = seg[5]!;
      if (seg.length < 6 + count * 3) throw fail('a frame (SOF) segment shorter than its components');
      const components: FrameComponent[] = [];
      for (let c = 0; c < count; c++) {
        const s = seg[6 + c * 3 + 1]!;
        components.push({ id: seg[6 + c * 3]!, h: s >> 4, v: s & 15, tq: seg[6 + c * 3 + 2]! });
      }
      if (components.some((c) => c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4)) throw fail('a sampling factor outside 1..4');
      frame = { sofAt: i, sofMarker: marker, precision: seg[0]!, height: (seg[1]! << 8) | seg[2]!, width: (seg[3]! << 8) | seg[4]!, components };
    } else if (marker === 0xda) {
      if (!frame) throw fail('start of scan (SOS) before any frame (SOF) marker');
      const n = seg[0] ?? 0;
      if (seg.length < 1 + n * 2 + 3) throw fail('a short start-of-scan (SOS) segment');
      const components: ScanComponent[] = [];
      for (let c = 0; c < n; c++) components.push({ id: seg[1 + c * 2]!, td: seg[2 + c * 2]! >> 4, ta: seg[2 + c * 2]! & 15 });
      const tail = 1 + n * 2;
      const scan = { components, ss: seg[tail]!, se: seg[tail + 1]!, ah: seg[tail + 2]! >> 4, al: seg[tail + 2]! & 15 };
      return { bytes: bytes.slice(0, end), ...frame, restartInterval, scan, quant, dcTables, acTables };
    }
    i = end;
  }
  return undefined;
}

function readQuant(seg: Uint8Array, quant: Map<number, Uint16Array>, fail: (p: string) => Error): void {
  let i = 0;
  while (i < seg.length) {
    const pq = seg[i]! >> 4;
    const tq = seg[i]! & 15;
    const size = pq ? 128 : 64;
    if (i + 1 + size > seg.length || tq > 3) throw fail('a malformed quantisation table (DQT)');
    const table = new Uint16Array(64);
    for (let k = 0; k < 64; k++) table[k] = pq ? (seg[i + 1 + 2 * k]! << 8) | seg[i + 2 + 2 * k]! : seg[i + 1 + k]!;
    quant.set(tq, table);
    i += 1 + size;
  }
}

function readHuffman(seg: Uint8Array, dc: Map<number, HuffmanSpec>, ac: Map<number, HuffmanSpec>, fail: (p: string) => Error): void {
  let i = 0;
  while (i < seg.length) {
    const tc = seg[i]! >> 4;
    const th = seg[i]! & 15;
    if (i + 17 > seg.length || tc > 1 || th > 3) throw fail('a malformed Huffman table (DHT)');
    const bits = seg.slice(i + 1, i + 17);
    const total = bits.reduce((s, b) => s + b, 0);
    if (total > 256 || i + 17 + total > seg.length) throw fail('a malformed Huffman table (DHT)');
    (tc ? ac : dc).set(th, { bits, values: seg.slice(i + 17, i + 17 + total) });
    i += 17 + total;
  }
}

/** The tile grid OpenSlide 3.4.1 makes of a level's JPEG. */
export interface JpegGrid {
  tileWidth: number;
  tileHeight: number;
  /** Whole tiles only (OpenSlide divides and drops the remainder). */
  tilesAcross: number;
  tilesDown: number;
  /** Whether tiles are restart intervals (else the whole JPEG is one tile). */
  restart: boolean;
}

/**
 * OpenSlide's validation of a level's JPEG against the TIFF's size, and the tiles it reads it as. The JPEG's own
 * size is checked only where libjpeg can state it (both sides within 65500); errors name the directory.
 */
export function levelGrid(header: JpegHeader, width: number, height: number, fail: (problem: string) => Error): JpegGrid {
  if (header.components.length !== 3) throw fail(`it has ${header.components.length} colour components; NDPI levels have 3`);
  if (header.restartInterval === 0) return { tileWidth: width, tileHeight: height, tilesAcross: 1, tilesDown: 1, restart: false };
  const fix = (v: number) => (v === 0 || v > JPEG_MAX_DIMENSION ? JPEG_MAX_DIMENSION : v);
  const fromJpeg = width <= JPEG_MAX_DIMENSION && height <= JPEG_MAX_DIMENSION;
  const w = fromJpeg ? fix(header.width) : width;
  const h = fromJpeg ? fix(header.height) : height;
  const interleaved = header.scan.components.length > 1;
  const mcuWidth = interleaved ? Math.max(...header.components.map((c) => c.h)) * 8 : 8;
  const mcuHeight = interleaved ? Math.max(...header.components.map((c) => c.v)) * 8 : 8;
  const mcusPerRow = Math.ceil(w / mcuWidth);
  if (header.restartInterval > mcusPerRow) throw fail(`its restart interval (${header.restartInterval} MCUs) is longer than a row (${mcusPerRow} MCUs)`);
  if (mcusPerRow % header.restartInterval) throw fail(`its restart interval (${header.restartInterval} MCUs) does not divide a row (${mcusPerRow} MCUs)`);
  if (w !== width || h !== height) throw fail(`its JPEG is ${w}x${h} px, the TIFF directory says ${width}x${height}`);
  const tileWidth = mcuWidth * header.restartInterval;
  return { tileWidth, tileHeight: mcuHeight, tilesAcross: Math.floor(width / tileWidth), tilesDown: Math.floor(height / mcuHeight), restart: true };
}

/** `header` with its frame size set to `width` x `height` (a tile's), as OpenSlide tells libjpeg. */
export function headerForSize(header: JpegHeader, width: number, height: number): Uint8Array {
  const out = header.bytes.slice();
  const at = header.sofAt + 5;
  out[at] = height >> 8;
  out[at + 1] = height & 0xff;
  out[at + 2] = width >> 8;
  out[at + 3] = width & 0xff;
  return out;
}
