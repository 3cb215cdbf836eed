/**
 * A DICOM Part-10 file's header (file meta + data set) up to its pixel data, parsed by dicom-parser from a bounded
 * prefix of the file: the pixel data itself (gigabytes in a WSI level) is never read here, only located.
 *
 * dicom-parser parses the data set element by element; the top level is walked here instead of by its
 * `parseDicom`, because it must stop *before* the pixel-data group (7FE0) and handle the Extended Offset Table,
 * whose VR (OV) dicom-parser does not know (it would misread the length). A prefix too short for the header is
 * read again, 4x longer, up to MAX_HEADER_BYTES.
 */
import { createRequire } from 'node:module';
import { SdsError } from '../../core/errors.js';
import type { FileSource } from '../file-source.js';

type DicomParserModule = typeof import('dicom-parser');
export type DataSet = import('dicom-parser').DataSet;
type Element = import('dicom-parser').Element;

const require = createRequire(import.meta.url);
const dp = require('dicom-parser') as DicomParserModule;
/** The package exports the DataSet class at run time; its typings only declare the interface. */
const DataSetClass = (dp as unknown as { DataSet: new (parser: import('dicom-parser').ByteArrayParser, bytes: Uint8Array, elements: Record<string, Element>) => DataSet }).DataSet;

/**
 * Bytes of header sds parses. Shared and per-frame functional groups of a sparse level take about 150 bytes a
 * frame; 128 MiB is ~850k frames, more than any scanner writes into one instance (they split into concatenations).
 */
export const MAX_HEADER_BYTES = 128 * 2 ** 20;
const FIRST_READ_BYTES = 256 * 1024;
/** The pixel-data group: a parse stopping here goes on to locate the pixel data. */
export const PIXEL_GROUP = 0x7fe00000;

export const IMPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const EXPLICIT_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';

/** Where the pixel data element's value lies in the file. */
export interface PixelDataLocation {
  /** File offset of the value's first byte. */
  offset: number;
  /** Encapsulated (compressed frames in items) when the length is undefined; else the native value's length. */
  encapsulated: boolean;
  length: number;
}

export interface DicomHeader {
  transferSyntax: string;
  /** File meta information (group 0002). */
  meta: DataSet;
  /** The data set, top-level elements before the stop tag (sequences parsed). */
  dataSet: DataSet;
  /** Present when the parse went up to the pixel data (stopAt 7FE0,0000). */
  pixelData?: PixelDataLocation;
  /** Extended Offset Table (7FE0,0001/0002): per-frame offset from the first fragment, and fragment length. */
  extendedOffsets?: { offsets: Float64Array; lengths: Float64Array };
}

/** 'DICM' at byte 128: a DICOM Part-10 file. */
export function isDicomHead(head: Uint8Array | undefined): boolean {
  return !!head && head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d;
}

/** The parse needs more of the file than the prefix it was given. */
class NeedMore extends Error {}

/**
 * Parse `file`'s header, stopping before the first top-level element whose tag is >= `stopAt` (0x7FE00000: up to
 * the pixel data, which is then located; 0x00480100: a cheap peek at identification and geometry).
 */
export async function readDicomHeader(file: FileSource, stopAt = PIXEL_GROUP): Promise<DicomHeader> {
  let size = Math.min(file.size, FIRST_READ_BYTES);
  for (;;) {
    const bytes = await file.read(0, size, 'the DICOM header');
    try {
      return parseHeader(bytes, stopAt, size === file.size, file.name);
    } catch (err) {
      if (!(err instanceof NeedMore)) throw err;
      if (size >= file.size) throw corrupt(file.name, `its header ends before the file does (${err.message})`);
      if (size >= MAX_HEADER_BYTES) {
        throw new SdsError('SLIDE_TOO_LARGE', `${file.name}: its DICOM header is larger than the ${MAX_HEADER_BYTES / 2 ** 20} MiB sds parses`, {
          suggestion: 'the file is corrupt, or holds far more per-frame attributes than slides use; split it into a concatenation',
          context: { path: file.path, budget: MAX_HEADER_BYTES },
        });
      }
      size = Math.min(file.size, size * 4, MAX_HEADER_BYTES);
    }
  }
}

function parseHeader(bytes: Uint8Array, stopAt: number, whole: boolean, name: string): DicomHeader {
  if (!isDicomHead(bytes)) {
    throw new SdsError('SLIDE_UNREADABLE', `${name} is not a DICOM file: no "DICM" at byte 128`, { suggestion: 'pass a DICOM Part-10 file (as scanners and converters write them)' });
  }
  const meta = guard(() => dp.readPart10Header(bytes), whole, name);
  const position = (meta as DataSet & { position?: number }).position;
  if (position === undefined || position > bytes.length) throw new NeedMore('file meta information');
  const transferSyntax = meta.string('x00020010')?.replace(/\0+$/, '').trim();
  if (!transferSyntax) throw corrupt(name, 'its file meta information has no Transfer Syntax UID (0002,0010)');
  if (transferSyntax === EXPLICIT_BIG_ENDIAN || transferSyntax === DEFLATED) {
    throw new SdsError('SLIDE_UNSUPPORTED', `${name} uses transfer syntax ${transferSyntax} (${transferSyntax === DEFLATED ? 'deflated explicit VR little endian' : 'explicit VR big endian, retired'}), which sds cannot read`, {
      suggestion: 'convert it to a little-endian transfer syntax, e.g. `dcmconv +te in.dcm out.dcm` (DCMTK)',
      context: { transferSyntax },
    });
  }
  const explicit = transferSyntax !== IMPLICIT_LITTLE_ENDIAN;
  const elements: Record<string, Element> = {};
  const stream = new dp.ByteStream(dp.littleEndianByteArrayParser, bytes, position);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let stopPosition: number | undefined;
  guard(() => {
    while (stream.position < bytes.length) {
      const at = stream.position;
      if (at + 8 > bytes.length) throw new NeedMore('an element header');
      const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
      if (tag >= stopAt) {
        stopPosition = at;
        return;
      }
      const vr = explicit ? String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!) : undefined;
      let element: Element;
      if (vr === 'OV' || vr === 'SV' || vr === 'UV') {
        // 4-byte length VRs dicom-parser does not know (64-bit values); skipped by their length.
        if (at + 12 > bytes.length) throw new NeedMore('an element header');
        const length = view.getUint32(at + 8, true);
        element = { tag: `x${tag.toString(16).padStart(8, '0')}`, vr, length, dataOffset: at + 12 };
        stream.position = at + 12 + length;
      } else {
        element = explicit ? dp.readDicomElementExplicit(stream, []) : dp.readDicomElementImplicit(stream);
      }
      if (stream.position > bytes.length) throw new NeedMore('an element value');
      elements[element.tag] = element;
    }
  }, whole, name);
  if (stopPosition === undefined && !whole) throw new NeedMore('the end of the data set');
  const dataSet = new DataSetClass(dp.littleEndianByteArrayParser, bytes, elements);
  const header: DicomHeader = { transferSyntax, meta, dataSet };
  if (stopAt === PIXEL_GROUP) Object.assign(header, pixelGroup(bytes, view, stopPosition, explicit, whole, name));
  return header;
}

/** The pixel-data group's elements: the Extended Offset Table (optional) and where Pixel Data's value lies. */
function pixelGroup(bytes: Uint8Array, view: DataView, start: number | undefined, explicit: boolean, whole: boolean, name: string): Pick<DicomHeader, 'pixelData' | 'extendedOffsets'> {
  let eotOffsets: Uint8Array | undefined;
  let eotLengths: Uint8Array | undefined;
  let at = start ?? bytes.length;
  for (let count = 0; count < 16; count++) {
    if (at + 8 > bytes.length) {
      if (whole) break;
      throw new NeedMore('the pixel data header');
    }
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    if (group !== 0x7fe0) break;
    let length: number;
    let value: number;
    if (explicit) {
      const vr = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!);
      const long = ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'].includes(vr);
      if (long && at + 12 > bytes.length) throw new NeedMore('the pixel data header');
      length = long ? view.getUint32(at + 8, true) : view.getUint16(at + 6, true);
      value = at + (long ? 12 : 8);
    } else {
      length = view.getUint32(at + 4, true);
      value = at + 8;
    }
    const undefinedLength = length === 0xffffffff;
    if (element === 0x0010) {
      const pixelData = { offset: value, encapsulated: undefinedLength, length: undefinedLength ? 0 : length };
      if (!(eotOffsets && eotLengths)) return { pixelData };
      if (eotOffsets.length !== eotLengths.length || eotOffsets.length % 8 !== 0) throw corrupt(name, `its Extended Offset Table has ${eotOffsets.length} bytes of offsets and ${eotLengths.length} of lengths`);
      return { pixelData, extendedOffsets: { offsets: uint64s(eotOffsets, name), lengths: uint64s(eotLengths, name) } };
    }
    if (element === 0x0008 || element === 0x0009) {
      throw new SdsError('SLIDE_UNSUPPORTED', `${name} stores floating-point pixel data (7FE0,${element === 8 ? '0008' : '0009'}), which sds does not read`, { suggestion: 'sds reads 8-bit RGB or grey DICOM WSI images' });
    }
    if (undefinedLength) throw corrupt(name, `element (7FE0,${element.toString(16).padStart(4, '0')}) has an undefined length`);
    if (value + length > bytes.length) throw new NeedMore('the Extended Offset Table');
    if (element === 0x0001) eotOffsets = bytes.subarray(value, value + length);
    if (element === 0x0002) eotLengths = bytes.subarray(value, value + length);
    at = value + length;
  }
  return {};
}

function uint64s(bytes: Uint8Array, name: string): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(bytes.length / 8);
  for (let i = 0; i < out.length; i++) {
    const v = view.getBigUint64(i * 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(name, `its Extended Offset Table holds an offset of ${v} bytes`);
    out[i] = Number(v);
  }
  return out;
}

/**
 * dicom-parser throws strings ('...attempt to read past end of buffer') or Errors: past the end of a prefix that is
 * shorter than the file, more of the file is needed; otherwise the header is corrupt.
 */
function guard<T>(fn: () => T, whole: boolean, name: string): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof NeedMore || err instanceof SdsError) throw err;
    const message = err instanceof Error ? err.message : String((err as { exception?: unknown })?.exception ?? err);
    if (!whole) throw new NeedMore(message);
    throw corrupt(name, `its header cannot be parsed: ${message}`);
  }
}

export function corrupt(name: string, problem: string): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${name}: ${problem}`, { suggestion: 'the DICOM file is corrupt or truncated; copy or export it again' });
}

/** The file meta's SOP class and transfer syntax alone (group 0002 sits in the first few hundred bytes). */
export function readFileMeta(bytes: Uint8Array): { sopClass?: string; transferSyntax?: string } | undefined {
  if (!isDicomHead(bytes)) return undefined;
  try {
    const meta = dp.readPart10Header(bytes);
    const get = (tag: string) => meta.string(tag)?.replace(/\0+$/, '').trim() || undefined;
    return { sopClass: get('x00020002'), transferSyntax: get('x00020010') };
  } catch {
    return undefined;
  }
}
