/**
 * Writes small DICOM Part-10 files for the DICOM WSI reader's tests: VL Whole Slide Microscopy Image instances
 * (or any SOP class) in explicit or implicit VR little endian, TILED_FULL or TILED_SPARSE, native or encapsulated
 * frames with a Basic Offset Table, an Extended Offset Table or none, frames split into several fragments,
 * concatenations, several focal planes / optical paths. Frame encoders: JPEG (sharp), JPEG 2000 (OpenJPEG's
 * encoder), JPEG-LS (CharLS's encoder), all lossless except JPEG. Sequences are written with undefined lengths
 * (the pydicom-written truth files use defined ones), so the reader sees both.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';

export const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';
export const CT_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.2';
export const TS = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  jpeg: '1.2.840.10008.1.2.4.50',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLs: '1.2.840.10008.1.2.4.80',
  j2kLossless: '1.2.840.10008.1.2.4.90',
} as const;

export const IMAGE_TYPE = {
  level0: 'ORIGINAL\\PRIMARY\\VOLUME\\NONE',
  resampled: 'DERIVED\\PRIMARY\\VOLUME\\RESAMPLED',
  label: 'ORIGINAL\\PRIMARY\\LABEL\\NONE',
  overview: 'ORIGINAL\\PRIMARY\\OVERVIEW\\NONE',
  thumbnail: 'ORIGINAL\\PRIMARY\\THUMBNAIL\\RESAMPLED',
} as const;

export interface FramePosition {
  /** 1-based column / row of the frame's top-left pixel in the total pixel matrix. */
  column: number;
  row: number;
  z?: number;
  path?: string;
}

export interface DicomInstanceSpec {
  sopClass?: string;
  sopInstanceUid: string;
  seriesUid: string;
  studyUid?: string;
  imageType?: string;
  transferSyntax: string;
  /** Total pixel matrix (the image); frames are tileWidth x tileHeight (Columns x Rows). */
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  photometric: string;
  samplesPerPixel?: number;
  planarConfiguration?: number;
  /** Encoded (or native) frames, in file order. */
  frames: Uint8Array[];
  /** NumberOfFrames to declare (default: frames.length). */
  declaredFrames?: number;
  organization?: 'TILED_FULL' | 'TILED_SPARSE' | 'none';
  positions?: FramePosition[];
  /** PixelSpacing in mm: row spacing, column spacing. */
  pixelSpacingMm?: [number, number];
  objectivePower?: number;
  opticalPaths?: string[];
  focalPlanes?: number;
  concatenation?: { uid: string; frameOffset: number; number: number; total: number; sourceUid: string };
  offsetTable?: 'bot' | 'eot' | 'none';
  fragmentsPerFrame?: number;
}

// ---------------------------------------------------------------- element encoding

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

type Element = { tag: number; bytes: Uint8Array };

function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}
function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
function i32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}
function u64s(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const view = new DataView(b.buffer);
  values.forEach((v, i) => view.setBigUint64(i * 8, BigInt(v), true));
  return b;
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
function text(value: string, vr: string): Uint8Array {
  const padded = value.length % 2 ? value + (vr === 'UI' ? '\0' : ' ') : value;
  return Uint8Array.from(padded, (c) => c.charCodeAt(0));
}
function pad(bytes: Uint8Array): Uint8Array {
  return bytes.length % 2 ? concat([bytes, new Uint8Array(1)]) : bytes;
}

class Encoder {
  constructor(private readonly explicit: boolean) {}

  element(tag: number, vr: string, value: Uint8Array): Element {
    const head = [u16(tag >>> 16), u16(tag & 0xffff)];
    if (!this.explicit) return { tag, bytes: concat([...head, u32(value.length), value]) };
    const vrBytes = text(vr, 'CS');
    const length = LONG_VRS.has(vr) ? [u16(0), u32(value.length)] : [u16(value.length)];
    return { tag, bytes: concat([...head, vrBytes, ...length, value]) };
  }

  str(tag: number, vr: string, value: string): Element {
    return this.element(tag, vr, text(value, vr));
  }

  us(tag: number, value: number): Element {
    return this.element(tag, 'US', u16(value));
  }

  ul(tag: number, value: number): Element {
    return this.element(tag, 'UL', u32(value));
  }

  sl(tag: number, value: number): Element {
    return this.element(tag, 'SL', i32(value));
  }

  /** A sequence of undefined length whose items (undefined length too) hold `items`' elements. */
  seq(tag: number, items: Element[][]): Element {
    const itemBytes = items.map((els) =>
      concat([u16(0xfffe), u16(0xe000), u32(0xffffffff), ...sorted(els).map((e) => e.bytes), u16(0xfffe), u16(0xe00d), u32(0)]),
    );
    const head = this.explicit ? [u16(tag >>> 16), u16(tag & 0xffff), text('SQ', 'CS'), u16(0), u32(0xffffffff)] : [u16(tag >>> 16), u16(tag & 0xffff), u32(0xffffffff)];
    return { tag, bytes: concat([...head, ...itemBytes, u16(0xfffe), u16(0xe0dd), u32(0)]) };
  }
}

function sorted(elements: Element[]): Element[] {
  return [...elements].sort((a, b) => a.tag - b.tag);
}

// ---------------------------------------------------------------- instances

/** The bytes of one DICOM Part-10 file. */
export function dicomInstanceBytes(spec: DicomInstanceSpec): Uint8Array {
  const sopClass = spec.sopClass ?? WSI_SOP_CLASS;
  const explicit = spec.transferSyntax !== TS.implicit;
  const meta = new Encoder(true);
  const metaElements = [
    meta.element(0x00020001, 'OB', Uint8Array.of(0, 1)),
    meta.str(0x00020002, 'UI', sopClass),
    meta.str(0x00020003, 'UI', spec.sopInstanceUid),
    meta.str(0x00020010, 'UI', spec.transferSyntax),
    meta.str(0x00020012, 'UI', '1.2.826.0.1.3680043.9.7433.1'),
  ];
  const metaBody = concat(metaElements.map((e) => e.bytes));
  const metaGroup = concat([meta.ul(0x00020000, metaBody.length).bytes, metaBody]);

  const e = new Encoder(explicit);
  const spp = spec.samplesPerPixel ?? 3;
  const frames = spec.declaredFrames ?? spec.frames.length;
  const els: Element[] = [
    e.str(0x00080008, 'CS', spec.imageType ?? IMAGE_TYPE.level0),
    e.str(0x00080016, 'UI', sopClass),
    e.str(0x00080018, 'UI', spec.sopInstanceUid),
    e.str(0x00080020, 'DA', '20240102'),
    e.str(0x00080060, 'CS', sopClass === WSI_SOP_CLASS ? 'SM' : 'CT'),
    e.str(0x00080070, 'LO', 'sds test writer'),
    e.str(0x00100010, 'PN', 'Secret^Patient'),
    e.str(0x0020000d, 'UI', spec.studyUid ?? '1.2.826.0.1.3680043.9.7433.2.1'),
    e.str(0x0020000e, 'UI', spec.seriesUid),
    e.us(0x00280002, spp),
    e.str(0x00280004, 'CS', spec.photometric),
    e.str(0x00280008, 'IS', String(frames)),
    e.us(0x00280010, spec.tileHeight),
    e.us(0x00280011, spec.tileWidth),
    e.us(0x00280100, 8),
    e.us(0x00280101, 8),
    e.us(0x00280102, 7),
    e.us(0x00280103, 0),
    e.ul(0x00480006, spec.width),
    e.ul(0x00480007, spec.height),
  ];
  if (spp > 1) els.push(e.us(0x00280006, spec.planarConfiguration ?? 0));
  if (spec.organization !== 'none') els.push(e.str(0x00209311, 'CS', spec.organization ?? 'TILED_FULL'));
  if (spec.focalPlanes) els.push(e.ul(0x00480303, spec.focalPlanes));
  const paths = spec.opticalPaths ?? ['1'];
  els.push(e.ul(0x00480302, paths.length));
  els.push(
    e.seq(
      0x00480105,
      paths.map((id) => [e.str(0x00480106, 'SH', id), ...(spec.objectivePower !== undefined ? [e.str(0x00480112, 'DS', String(spec.objectivePower))] : [])]),
    ),
  );
  if (spec.pixelSpacingMm) {
    const spacing = e.str(0x00280030, 'DS', spec.pixelSpacingMm.map(String).join('\\'));
    els.push(e.seq(0x52009229, [[e.seq(0x00289110, [[spacing, e.str(0x00180050, 'DS', '0.001')]])]]));
  }
  if (spec.positions) {
    els.push(
      e.seq(
        0x52009230,
        spec.positions.map((p) => {
          const position = [e.sl(0x0048021e, p.column), e.sl(0x0048021f, p.row), ...(p.z !== undefined ? [e.str(0x0040074a, 'DS', String(p.z))] : [])];
          const group = [e.seq(0x0048021a, [position])];
          if (p.path !== undefined) group.push(e.seq(0x00480207, [[e.str(0x00480106, 'SH', p.path)]]));
          return group;
        }),
      ),
    );
  }
  if (spec.concatenation) {
    const c = spec.concatenation;
    els.push(e.str(0x00200242, 'UI', c.sourceUid), e.str(0x00209161, 'UI', c.uid), e.us(0x00209162, c.number), e.us(0x00209163, c.total), e.ul(0x00209228, c.frameOffset));
  }
  const body = concat(sorted(els).map((x) => x.bytes));
  const pixels = pixelData(e, spec, explicit);
  return concat([new Uint8Array(128), text('DICM', 'CS'), metaGroup, body, pixels]);
}

function pixelData(e: Encoder, spec: DicomInstanceSpec, explicit: boolean): Uint8Array {
  const native = spec.transferSyntax === TS.explicit || spec.transferSyntax === TS.implicit;
  if (native) return e.element(0x7fe00010, 'OB', pad(concat(spec.frames))).bytes;
  const pieces = spec.fragmentsPerFrame ?? 1;
  const fragments = spec.frames.map((f) => {
    const size = Math.ceil(f.length / pieces / 2) * 2;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < pieces; i++) parts.push(pad(f.subarray(i * size, Math.min(f.length, (i + 1) * size))));
    return parts.map((p) => concat([u16(0xfffe), u16(0xe000), u32(p.length), p]));
  });
  const frameBytes = fragments.map((parts) => concat(parts));
  const offsets: number[] = [];
  let at = 0;
  for (const f of frameBytes) {
    offsets.push(at);
    at += f.length;
  }
  const table = spec.offsetTable ?? 'bot';
  const bot = table === 'bot' ? concat(offsets.map(u32)) : new Uint8Array(0);
  const eot =
    table === 'eot'
      ? concat([e.element(0x7fe00001, 'OV', u64s(offsets)).bytes, e.element(0x7fe00002, 'OV', u64s(frameBytes.map((f) => f.length - 8))).bytes])
      : new Uint8Array(0);
  const head = explicit ? concat([u16(0x7fe0), u16(0x0010), text('OB', 'CS'), u16(0), u32(0xffffffff)]) : concat([u16(0x7fe0), u16(0x0010), u32(0xffffffff)]);
  return concat([eot, head, u16(0xfffe), u16(0xe000), u32(bot.length), bot, ...frameBytes, u16(0xfffe), u16(0xe0dd), u32(0)]);
}

export function writeDicomInstance(path: string, spec: DicomInstanceSpec): void {
  writeFileSync(path, dicomInstanceBytes(spec));
}

// ---------------------------------------------------------------- pixels and frames

/** A test picture: gradients with a texture, different for each `seed`, so misplaced tiles show. */
export function testImage(width: number, height: number, seed: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[i] = (x * 3 + seed * 40) & 255;
      out[i + 1] = (y * 5 + ((x * y) >> 4) + seed * 17) & 255;
      out[i + 2] = ((x ^ y) * 7 + seed * 91) & 255;
    }
  }
  return out;
}

/** Tile (col, row) of an RGB image as a tileWidth x tileHeight frame, padded with white past the edges. */
export function cutFrame(image: Uint8Array, width: number, height: number, col: number, row: number, tileWidth: number, tileHeight: number): Uint8Array {
  const out = new Uint8Array(tileWidth * tileHeight * 3).fill(255);
  for (let y = 0; y < tileHeight; y++) {
    const sy = row * tileHeight + y;
    if (sy >= height) break;
    const x0 = col * tileWidth;
    const n = Math.min(tileWidth, width - x0);
    if (n > 0) out.set(image.subarray((sy * width + x0) * 3, (sy * width + x0 + n) * 3), y * tileWidth * 3);
  }
  return out;
}

/** All frames of a TILED_FULL image, row-major. */
export function cutFrames(image: Uint8Array, width: number, height: number, tileWidth: number, tileHeight: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let r = 0; r < Math.ceil(height / tileHeight); r++) for (let c = 0; c < Math.ceil(width / tileWidth); c++) frames.push(cutFrame(image, width, height, c, r, tileWidth, tileHeight));
  return frames;
}

/** Interleaved RGB -> planar (R plane, G plane, B plane). */
export function toPlanar(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) out[c * n + p] = rgb[p * 3 + c]!;
  return out;
}

export async function encodeJpeg(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer());
}

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
  isUsingColorTransform?: boolean;
}
interface WasmEncoder {
  getDecodedBuffer(info: FrameInfo): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
  setDecompositions?(n: number): void;
  setInterleaveMode?(mode: number): void;
}
type Factory = (options: { print(s: string): void; printErr(s: string): void }) => Promise<Record<string, new () => WasmEncoder>>;
const require = createRequire(import.meta.url);
let openjpeg: ReturnType<Factory> | undefined;
let charls: ReturnType<Factory> | undefined;
/** A fresh options object per module: Emscripten builds its Module on it, and two modules must not share one. */
const quiet = () => ({ print: () => undefined, printErr: () => undefined });

/** Lossless JPEG 2000 codestream (reversible colour transform: photometric YBR_RCT). */
export async function encodeJ2k(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  openjpeg ??= (require('@cornerstonejs/codec-openjpeg/wasmjs') as Factory)(quiet());
  const encoder = new (await openjpeg).J2KEncoder!();
  try {
    encoder.getDecodedBuffer({ width, height, bitsPerSample: 8, componentCount: 3, isSigned: false, isUsingColorTransform: true }).set(rgb);
    // Resolution levels must fit the frame (OpenJPEG refuses 5 decompositions of a 37 px side).
    encoder.setDecompositions!(Math.max(0, Math.min(5, Math.floor(Math.log2(Math.min(width, height))) - 2)));
    encoder.encode();
    return Uint8Array.from(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
}

/** Lossless JPEG-LS; interleave 0 (none) takes planar input, as CharLS expects. */
export async function encodeJpegLs(rgb: Uint8Array, width: number, height: number, interleave: 0 | 1 | 2): Promise<Uint8Array> {
  charls ??= (require('@cornerstonejs/codec-charls/wasmjs') as Factory)(quiet());
  const encoder = new (await charls).JpegLSEncoder!();
  try {
    encoder.getDecodedBuffer({ width, height, bitsPerSample: 8, componentCount: 3 }).set(interleave === 0 ? toPlanar(rgb) : rgb);
    encoder.setInterleaveMode!(interleave);
    encoder.encode();
    return Uint8Array.from(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
}
