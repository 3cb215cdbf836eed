/**
 * The DICOM attributes the WSI reader uses, as dicom-parser's tag keys ('xggggeeee'), and typed getters over a
 * parsed data set. One table, so a keyword in a message and the tag read for it cannot drift apart.
 */
import type { DataSet } from './parser.js';

export const TAG = {
  // File meta information (group 0002)
  MediaStorageSOPClassUID: 'x00020002',
  TransferSyntaxUID: 'x00020010',
  // Identification
  ImageType: 'x00080008',
  SOPClassUID: 'x00080016',
  SOPInstanceUID: 'x00080018',
  StudyDate: 'x00080020',
  AcquisitionDateTime: 'x0008002a',
  AccessionNumber: 'x00080050',
  Modality: 'x00080060',
  Manufacturer: 'x00080070',
  SeriesDescription: 'x0008103e',
  ManufacturerModelName: 'x00081090',
  DeviceSerialNumber: 'x00181000',
  SoftwareVersions: 'x00181020',
  StudyInstanceUID: 'x0020000d',
  SeriesInstanceUID: 'x0020000e',
  SeriesNumber: 'x00200011',
  InstanceNumber: 'x00200013',
  FrameOfReferenceUID: 'x00200052',
  SOPInstanceUIDOfConcatenationSource: 'x00200242',
  ConcatenationUID: 'x00209161',
  InConcatenationNumber: 'x00209162',
  InConcatenationTotalNumber: 'x00209163',
  ConcatenationFrameOffsetNumber: 'x00209228',
  DimensionOrganizationType: 'x00209311',
  // Image pixel
  SamplesPerPixel: 'x00280002',
  PhotometricInterpretation: 'x00280004',
  PlanarConfiguration: 'x00280006',
  NumberOfFrames: 'x00280008',
  Rows: 'x00280010',
  Columns: 'x00280011',
  PixelSpacing: 'x00280030',
  BitsAllocated: 'x00280100',
  BitsStored: 'x00280101',
  PixelRepresentation: 'x00280103',
  PixelMeasuresSequence: 'x00289110',
  // Slide microscopy
  ContainerIdentifier: 'x00400512',
  ZOffsetInSlideCoordinateSystem: 'x0040074a',
  TotalPixelMatrixColumns: 'x00480006',
  TotalPixelMatrixRows: 'x00480007',
  OpticalPathSequence: 'x00480105',
  OpticalPathIdentifier: 'x00480106',
  ObjectiveLensPower: 'x00480112',
  OpticalPathIdentificationSequence: 'x00480207',
  PlanePositionSlideSequence: 'x0048021a',
  ColumnPositionInTotalImagePixelMatrix: 'x0048021e',
  RowPositionInTotalImagePixelMatrix: 'x0048021f',
  NumberOfOpticalPaths: 'x00480302',
  TotalPixelMatrixFocalPlanes: 'x00480303',
  // Functional groups
  SharedFunctionalGroupsSequence: 'x52009229',
  PerFrameFunctionalGroupsSequence: 'x52009230',
} as const;

export type TagName = keyof typeof TAG;

/** Numeric tag (group << 16 | element) of a dicom-parser key. */
export function tagNumber(key: string): number {
  return parseInt(key.slice(1), 16);
}

/** A string attribute, trimmed; undefined when absent or empty. */
export function str(ds: DataSet, name: TagName, index?: number): string | undefined {
  const v = ds.string(TAG[name], index);
  const t = v?.replace(/\0+$/, '').trim();
  return t ? t : undefined;
}

/** Every value of a multi-valued string attribute (ImageType: ORIGINAL\PRIMARY\VOLUME\NONE). */
export function strings(ds: DataSet, name: TagName): string[] {
  const v = str(ds, name);
  return v === undefined ? [] : v.split('\\').map((s) => s.trim());
}

/** US (16-bit unsigned) attribute. */
export function us(ds: DataSet, name: TagName): number | undefined {
  return ds.elements[TAG[name]]?.length ? ds.uint16(TAG[name]) : undefined;
}

/** UL (32-bit unsigned) attribute. */
export function ul(ds: DataSet, name: TagName): number | undefined {
  return ds.elements[TAG[name]]?.length ? ds.uint32(TAG[name]) : undefined;
}

/** SL (32-bit signed) attribute. */
export function sl(ds: DataSet, name: TagName): number | undefined {
  return ds.elements[TAG[name]]?.length ? ds.int32(TAG[name]) : undefined;
}

/** IS / DS (number as text) attribute, value `index`; undefined when absent or not a finite number. */
export function num(ds: DataSet, name: TagName, index = 0): number | undefined {
  const v = str(ds, name, index);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Item `index` of a sequence attribute. */
export function item(ds: DataSet, name: TagName, index = 0): DataSet | undefined {
  return ds.elements[TAG[name]]?.items?.[index]?.dataSet;
}

/** Number of items of a sequence attribute. */
export function itemCount(ds: DataSet, name: TagName): number {
  return ds.elements[TAG[name]]?.items?.length ?? 0;
}
