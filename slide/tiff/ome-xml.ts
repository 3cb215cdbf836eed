/**
 * OME-XML (the metadata an OME-TIFF keeps in its first ImageDescription) -> the few facts a slide reader needs:
 * each Image's name, size, channel layout, physical pixel size and which TIFF directory holds which plane
 * (TiffData). Parsed by fast-xml-parser; everything the file says is a claim, checked before use: numbers must be
 * finite, sizes whole, units known, and nothing here allocates by a count the XML states.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Where the OME schemas live; the root element's namespace starts with it. */
const OME_NAMESPACE = 'openmicroscopy.org/Schemas/OME/';
/** OME-XML of a single-file slide is kilobytes, of thousands of planes a few MB; larger is not parsed (parsing takes tens of times its size in memory). */
export const MAX_OME_XML_CHARS = 8 * 2 ** 20;

export interface OmeTiffData {
  /** First directory (main-chain index) of the run; undefined: not stated (0). */
  ifd?: number;
  firstC: number;
  firstZ: number;
  firstT: number;
  /** Planes in the run; undefined: not stated (1 when `ifd` is stated, else all). */
  planeCount?: number;
  /** The UUID element's text and FileName: which file of a multi-file set holds the planes. */
  uuid?: string;
  fileName?: string;
}

export interface OmePixels {
  /** Every attribute of the Pixels element, as written (for properties). */
  attributes: Record<string, string | undefined>;
  sizeX?: number;
  sizeY?: number;
  sizeC: number;
  sizeZ: number;
  sizeT: number;
  /** 'XYCZT' etc.: the order planes are numbered in (first letter after XY varies fastest). */
  dimensionOrder: string;
  /** Samples per pixel of the channels (3 for RGB stored as one channel); from the first Channel, default 1. */
  samplesPerPixel: number;
  /** Planes per Z and T: SizeC / SamplesPerPixel (OME counts the samples of an RGB channel in SizeC). */
  effectiveSizeC: number;
  tiffData: OmeTiffData[];
}

export interface OmeImage {
  id?: string;
  name?: string;
  acquisitionDate?: string;
  objectiveSettingsId?: string;
  pixels?: OmePixels;
}

export interface OmeDocument {
  /** The root's UUID: this file's, in a multi-file set. */
  uuid?: string;
  creator?: string;
  images: OmeImage[];
  /** Instrument/Objective by ID: NominalMagnification and Model. */
  objectives: Map<string, { nominalMagnification?: number; model?: string }>;
}

/** Whether an ImageDescription is OME-XML: an `OME` root element (any prefix) in an openmicroscopy.org schema namespace. */
export function isOmeXml(description: string | undefined): boolean {
  if (!description) return false;
  const head = description.slice(0, 64 * 1024);
  return /<([A-Za-z_][\w.-]*:)?OME[\s>/]/.test(head) && head.includes(OME_NAMESPACE);
}

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributesGroupName: '@',
  attributeNamePrefix: '',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Every element as a list, so one Image and many Images read alike.
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
});

/** The OME document, or why it cannot be read (not XML, no OME root). */
export function parseOmeXml(text: string): OmeDocument | { error: string } {
  if (text.length > MAX_OME_XML_CHARS) return { error: `its OME-XML has ${text.length} characters, more than the ${MAX_OME_XML_CHARS} sds reads` };
  // The parser itself accepts unclosed elements; a document a validating parser refuses is not trusted.
  const valid = XMLValidator.validate(text);
  if (valid !== true) return { error: `its OME-XML is not well-formed XML (${valid.err.msg}, line ${valid.err.line})` };
  let tree: Node;
  try {
    tree = parser.parse(text) as Node;
  } catch (cause) {
    return { error: `its OME-XML is not well-formed XML (${(cause as Error).message.split('\n')[0]})` };
  }
  const root = elements(tree, 'OME')[0];
  if (!root) return { error: 'its ImageDescription has no OME root element' };
  const objectives = new Map<string, { nominalMagnification?: number; model?: string }>();
  for (const instrument of elements(root, 'Instrument')) {
    for (const objective of elements(instrument, 'Objective')) {
      const a = attributes(objective);
      if (a.ID) objectives.set(a.ID, { nominalMagnification: positive(a.NominalMagnification), model: a.Model });
    }
  }
  const images = elements(root, 'Image').map((image): OmeImage => {
    const a = attributes(image);
    const date = elements(image, 'AcquisitionDate')[0];
    return {
      id: a.ID,
      name: a.Name,
      acquisitionDate: date === undefined ? undefined : textOf(date),
      objectiveSettingsId: attributes(elements(image, 'ObjectiveSettings')[0]).ID,
      pixels: pixelsOf(elements(image, 'Pixels')[0]),
    };
  });
  const r = attributes(root);
  return { uuid: r.UUID, creator: r.Creator, images, objectives };
}

function pixelsOf(node: Node | undefined): OmePixels | undefined {
  if (!node) return undefined;
  const a = attributes(node);
  const sizeC = count(a.SizeC) ?? 1;
  const channels = elements(node, 'Channel');
  const samplesPerPixel = count(attributes(channels[0]).SamplesPerPixel) ?? 1;
  const order = /^XY[CZT]{3}$/.test(a.DimensionOrder ?? '') && new Set(a.DimensionOrder).size === 5 ? a.DimensionOrder! : 'XYCZT';
  return {
    attributes: a,
    sizeX: count(a.SizeX),
    sizeY: count(a.SizeY),
    sizeC,
    sizeZ: count(a.SizeZ) ?? 1,
    sizeT: count(a.SizeT) ?? 1,
    dimensionOrder: order,
    samplesPerPixel,
    effectiveSizeC: Math.max(1, Math.floor(sizeC / samplesPerPixel)),
    tiffData: elements(node, 'TiffData').map((td) => {
      const t = attributes(td);
      const uuid = elements(td, 'UUID')[0];
      return {
        ifd: whole(t.IFD),
        firstC: whole(t.FirstC) ?? 0,
        firstZ: whole(t.FirstZ) ?? 0,
        firstT: whole(t.FirstT) ?? 0,
        planeCount: whole(t.PlaneCount),
        uuid: uuid === undefined ? undefined : textOf(uuid)?.trim(),
        fileName: attributes(uuid).FileName,
      };
    }),
  };
}

/**
 * Plane (c, z, t) -> the main-chain directory holding it, from the TiffData runs (OME's rules: a run starts at its
 * IFD (default 0) and plane (FirstC, FirstZ, FirstT), numbered in DimensionOrder; PlaneCount defaults to 1 when
 * IFD is stated, else to all planes; no TiffData at all: plane p in directory p). Undefined where no run in this
 * file covers the plane. `inThisFile` says whether a run's UUID names this file.
 */
export function planeDirectory(pixels: OmePixels, c: number, z: number, t: number, inThisFile: (td: OmeTiffData) => boolean, noTiffDataMeansSequential: boolean): number | undefined {
  const sizes: Record<string, number> = { C: pixels.effectiveSizeC, Z: pixels.sizeZ, T: pixels.sizeT };
  const index = (cc: number, zz: number, tt: number) => {
    const coords: Record<string, number> = { C: cc, Z: zz, T: tt };
    let at = 0;
    let stride = 1;
    for (const dim of pixels.dimensionOrder.slice(2)) {
      at += coords[dim]! * stride;
      stride *= sizes[dim]!;
    }
    return at;
  };
  const plane = index(c, z, t);
  if (pixels.tiffData.length === 0) return noTiffDataMeansSequential ? plane : undefined;
  for (const td of pixels.tiffData) {
    const start = index(td.firstC, td.firstZ, td.firstT);
    const runLength = td.planeCount ?? (td.ifd !== undefined ? 1 : Number.POSITIVE_INFINITY);
    if (plane >= start && plane < start + runLength) return inThisFile(td) ? (td.ifd ?? 0) + (plane - start) : undefined;
  }
  return undefined;
}

/** µm per unit of OME's UnitsLength values that a pixel size can sensibly be given in. */
const MICRONS_PER_UNIT: Record<string, number> = {
  m: 1e6,
  dm: 1e5,
  cm: 1e4,
  mm: 1e3,
  'µm': 1,
  'μm': 1, // Greek mu, as some writers spell it
  um: 1,
  nm: 1e-3,
  pm: 1e-6,
  'Å': 1e-4,
  in: 25_400,
  thou: 25.4,
  pt: 25_400 / 72,
};

/** A PhysicalSize in µm from its value and unit (OME's default: µm); undefined when either is not a positive length. */
export function physicalSizeMicrons(value: string | undefined, unit: string | undefined): number | undefined {
  const v = positive(value);
  const scale = MICRONS_PER_UNIT[(unit ?? 'µm').trim()];
  if (v === undefined || scale === undefined) return undefined;
  const microns = v * scale;
  return Number.isFinite(microns) && microns > 0 ? microns : undefined;
}

function elements(node: Node | undefined, name: string): Node[] {
  const v = node?.[name];
  return Array.isArray(v) ? v.map((e) => (typeof e === 'object' && e !== null ? (e as Node) : { '#text': String(e) })) : [];
}

function attributes(node: Node | undefined): Record<string, string | undefined> {
  const a = node?.['@'];
  return typeof a === 'object' && a !== null ? (a as Record<string, string>) : {};
}

function textOf(node: Node): string | undefined {
  const t = node['#text'];
  return t === undefined ? undefined : Array.isArray(t) ? t.join('') : String(t);
}

/** A decimal number > 0 (the whole value), else undefined. */
function positive(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** A whole number >= 0 that fits a safe integer, else undefined. */
function whole(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A whole number >= 1, else undefined. */
function count(value: string | undefined): number | undefined {
  const n = whole(value);
  return n !== undefined && n >= 1 ? n : undefined;
}
