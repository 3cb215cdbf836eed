/**
 * One DICOM WSI instance (file) as the pyramid needs it: what it is (a level, a label, an overview, a thumbnail),
 * its tile grid, how its frames are stored, which concatenation it belongs to, and for TILED_SPARSE where each
 * frame lies. Read from the parsed header once; the parsed header itself is not kept.
 */
import { SdsError } from '../../core/errors.js';
import type { FileSource } from '../file-source.js';
import { MAX_IMAGE_SIDE, MAX_TILE_SIDE } from '../limits.js';
import type { PixelFormat } from './codecs.js';
import type { DataSet, DicomHeader } from './parser.js';
import { item, itemCount, num, sl, str, strings, TAG, ul, us } from './tags.js';

export const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';

/** What the third value of ImageType says the instance is. */
export type Flavor = 'VOLUME' | 'LABEL' | 'OVERVIEW' | 'THUMBNAIL' | 'OTHER';

export interface SparsePositions {
  /** 1-based pixel column / row of each frame's top-left corner in the total pixel matrix. */
  column: Int32Array;
  row: Int32Array;
  /** ZOffsetInSlideCoordinateSystem per frame (NaN: not stated). */
  z: Float64Array;
  /** OpticalPathIdentifier per frame ('' : not stated). */
  path: string[];
}

export interface WsiInstance {
  file: FileSource;
  sopInstanceUid: string;
  seriesUid: string;
  imageType: string[];
  flavor: Flavor;
  format: PixelFormat;
  width: number;
  height: number;
  frames: number;
  organization: 'TILED_FULL' | 'TILED_SPARSE';
  focalPlanes: number;
  /** OpticalPathIdentifier of each OpticalPathSequence item, in order (TILED_FULL frames follow it). */
  opticalPaths: string[];
  concatenation?: { uid: string; frameOffset: number; number?: number; total?: number };
  sparse?: SparsePositions;
  /** µm per pixel from PixelSpacing (mm, row\column). */
  mpp?: { x: number; y: number };
  objectivePower?: number;
  header: Pick<DicomHeader, 'pixelData' | 'extendedOffsets'>;
  /** The data set, kept only for level 0's properties and dropped after (see `dropDataSet`). */
  dataSet?: DataSet;
  meta?: DataSet;
}

/** A readable description of an instance from its header; SdsErrors name the file and the attribute. */
export function describeInstance(file: FileSource, header: DicomHeader): WsiInstance {
  const ds = header.dataSet;
  const bad = (problem: string) =>
    new SdsError('SLIDE_UNREADABLE', `${file.name}: ${problem}`, {
      suggestion: 'the DICOM WSI file is incomplete or corrupt; export it again',
      context: { path: file.path },
    });
  const sopClass = str(ds, 'SOPClassUID') ?? str(header.meta, 'MediaStorageSOPClassUID');
  if (sopClass !== WSI_SOP_CLASS) throw notWsi(file, sopClass);
  const imageType = strings(ds, 'ImageType').map((s) => s.toUpperCase());
  const third = imageType[2];
  const flavor: Flavor = third === 'VOLUME' || third === 'LABEL' || third === 'OVERVIEW' || third === 'THUMBNAIL' ? third : 'OTHER';
  const rows = us(ds, 'Rows');
  const columns = us(ds, 'Columns');
  if (!rows || !columns) throw bad('it has no Rows/Columns (the frame size)');
  if (rows > MAX_TILE_SIDE || columns > MAX_TILE_SIDE) throw bad(`its frames are ${columns}x${rows} px, more than ${MAX_TILE_SIDE} a side`);
  const width = ul(ds, 'TotalPixelMatrixColumns') ?? columns;
  const height = ul(ds, 'TotalPixelMatrixRows') ?? rows;
  if (width < 1 || height < 1 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) throw bad(`its total pixel matrix is ${width}x${height}`);
  const frames = num(ds, 'NumberOfFrames') ?? 1;
  if (!Number.isSafeInteger(frames) || frames < 1) throw bad(`its NumberOfFrames is ${str(ds, 'NumberOfFrames')}`);
  const format: PixelFormat = {
    transferSyntax: header.transferSyntax,
    photometric: (str(ds, 'PhotometricInterpretation') ?? '').toUpperCase(),
    samplesPerPixel: us(ds, 'SamplesPerPixel') ?? 0,
    bitsAllocated: us(ds, 'BitsAllocated') ?? 0,
    bitsStored: us(ds, 'BitsStored') ?? us(ds, 'BitsAllocated') ?? 0,
    planarConfiguration: us(ds, 'PlanarConfiguration') ?? 0,
    rows,
    columns,
  };
  const opticalPaths: string[] = [];
  for (let i = 0; i < itemCount(ds, 'OpticalPathSequence'); i++) opticalPaths.push(str(item(ds, 'OpticalPathSequence', i)!, 'OpticalPathIdentifier') ?? '');
  const perFrame = ds.elements[TAG.PerFrameFunctionalGroupsSequence]?.items;
  const declared = str(ds, 'DimensionOrganizationType')?.toUpperCase();
  // Absent: TILED_FULL, unless per-frame positions say where the frames are.
  const organization = declared === 'TILED_SPARSE' || (declared === undefined && perFrame?.length && frameDataSet(ds, 0, 'PlanePositionSlideSequence')) ? 'TILED_SPARSE' : 'TILED_FULL';
  const concatenationUid = str(ds, 'ConcatenationUID');
  const instance: WsiInstance = {
    file,
    sopInstanceUid: str(ds, 'SOPInstanceUID') ?? file.name,
    seriesUid: str(ds, 'SeriesInstanceUID') ?? '',
    imageType,
    flavor,
    format,
    width,
    height,
    frames,
    organization,
    focalPlanes: ul(ds, 'TotalPixelMatrixFocalPlanes') ?? 1,
    opticalPaths,
    concatenation: concatenationUid
      ? { uid: concatenationUid, frameOffset: ul(ds, 'ConcatenationFrameOffsetNumber') ?? 0, number: us(ds, 'InConcatenationNumber'), total: us(ds, 'InConcatenationTotalNumber') }
      : undefined,
    mpp: pixelSpacing(ds),
    objectivePower: opticalPathPower(ds),
    header: { pixelData: header.pixelData, extendedOffsets: header.extendedOffsets },
    dataSet: ds,
    meta: header.meta,
  };
  if (organization === 'TILED_SPARSE') {
    if (!perFrame || perFrame.length !== frames) throw bad(`it is TILED_SPARSE but has ${perFrame?.length ?? 0} per-frame functional group items for ${frames} frames`);
    instance.sparse = sparsePositions(ds, frames, bad);
  }
  return instance;
}

/** The SOP class is not VL Whole Slide Microscopy Image: SLIDE_UNSUPPORTED, naming what it is. */
export function notWsi(file: { name: string; path: string }, sopClass: string | undefined): SdsError {
  const known = SOP_CLASS_NAMES[sopClass ?? ''];
  return new SdsError('SLIDE_UNSUPPORTED', `${file.name} is a DICOM file of SOP class ${sopClass ?? '(none)'}${known ? ` (${known})` : ''}, not a VL Whole Slide Microscopy Image`, {
    suggestion: `sds reads DICOM whole-slide images (SOP class ${WSI_SOP_CLASS}); pass a file or folder of such a series`,
    context: { path: file.path, sopClass },
  });
}

const SOP_CLASS_NAMES: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image',
  '1.2.840.10008.5.1.4.1.1.4': 'MR Image',
  '1.2.840.10008.5.1.4.1.1.7': 'Secondary Capture Image',
  '1.2.840.10008.5.1.4.1.1.77.1.2': 'VL Microscopic Image',
  '1.2.840.10008.5.1.4.1.1.77.1.3': 'VL Slide-Coordinates Microscopic Image',
  '1.2.840.10008.5.1.4.1.1.91.1': 'Microscopy Bulk Simple Annotations',
  '1.2.840.10008.5.1.4.1.1.66.4': 'Segmentation',
  '1.2.840.10008.5.1.4.1.1.88.33': 'Comprehensive SR',
};

/** An item of the frame's PerFrameFunctionalGroupsSequence, then its nested `name` sequence's first item. */
function frameDataSet(ds: DataSet, frame: number, name: 'PlanePositionSlideSequence' | 'OpticalPathIdentificationSequence' | 'PixelMeasuresSequence'): DataSet | undefined {
  const group = ds.elements[TAG.PerFrameFunctionalGroupsSequence]?.items?.[frame]?.dataSet;
  return group ? item(group, name) : undefined;
}

function sparsePositions(ds: DataSet, frames: number, bad: (p: string) => SdsError): SparsePositions {
  const column = new Int32Array(frames);
  const row = new Int32Array(frames);
  const z = new Float64Array(frames);
  const path = new Array<string>(frames);
  const shared = item(ds, 'SharedFunctionalGroupsSequence');
  const sharedPath = shared && item(shared, 'OpticalPathIdentificationSequence');
  for (let f = 0; f < frames; f++) {
    const pos = frameDataSet(ds, f, 'PlanePositionSlideSequence');
    const c = pos && sl(pos, 'ColumnPositionInTotalImagePixelMatrix');
    const r = pos && sl(pos, 'RowPositionInTotalImagePixelMatrix');
    if (c === undefined || r === undefined) throw bad(`it is TILED_SPARSE but frame ${f + 1} has no Column/RowPositionInTotalImagePixelMatrix`);
    column[f] = c;
    row[f] = r;
    z[f] = (pos && num(pos, 'ZOffsetInSlideCoordinateSystem')) ?? NaN;
    const own = frameDataSet(ds, f, 'OpticalPathIdentificationSequence') ?? sharedPath;
    path[f] = (own && str(own, 'OpticalPathIdentifier')) ?? '';
  }
  return { column, row, z, path };
}

/** PixelSpacing (mm; row spacing, then column spacing) of the shared functional groups, else of frame 1. */
function pixelSpacing(ds: DataSet): { x: number; y: number } | undefined {
  const shared = item(ds, 'SharedFunctionalGroupsSequence');
  const measures = (shared && item(shared, 'PixelMeasuresSequence')) ?? frameDataSet(ds, 0, 'PixelMeasuresSequence');
  const row = measures && num(measures, 'PixelSpacing', 0);
  const col = measures && num(measures, 'PixelSpacing', 1);
  if (!(row && col && row > 0 && col > 0)) return undefined;
  // mm -> µm; 12 significant digits drop the binary noise of the product (0.000499 * 1000 = 0.49899999999999994).
  const um = (mm: number) => Number((mm * 1000).toPrecision(12));
  return { x: um(col), y: um(row) };
}

function opticalPathPower(ds: DataSet): number | undefined {
  const path = item(ds, 'OpticalPathSequence');
  const power = path && num(path, 'ObjectiveLensPower');
  return power && power > 0 ? power : undefined;
}
