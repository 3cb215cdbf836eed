/**
 * `dicom.*` properties, named as OpenSlide 4 names them (the attribute keyword; `[i]` for each value of a
 * multi-valued attribute; sequences as `Sequence[i].Keyword`). OpenSlide lists every attribute of level 0; sds
 * lists the ones that say what the slide is and how it was made, and leaves out patient identification
 * (PatientName, PatientID, PatientBirthDate...), which has no place in tool output or logs:
 *   file meta: TransferSyntaxUID;
 *   ImageType, SOPClassUID, StudyDate, AcquisitionDateTime, AccessionNumber, Modality, Manufacturer,
 *   SeriesDescription, ManufacturerModelName, DeviceSerialNumber, SoftwareVersions, StudyInstanceUID,
 *   SeriesInstanceUID, SeriesNumber, ContainerIdentifier, DimensionOrganizationType, PhotometricInterpretation,
 *   Rows, Columns, TotalPixelMatrixColumns, TotalPixelMatrixRows, NumberOfOpticalPaths,
 *   TotalPixelMatrixFocalPlanes;
 *   SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[0..1] (the MPP source);
 *   OpticalPathSequence[i].OpticalPathIdentifier / .ObjectiveLensPower (the objective power source).
 */
import type { DataSet } from './parser.js';
import { item, itemCount, str, TAG, ul, us, type TagName } from './tags.js';

const STRINGS: TagName[] = [
  'ImageType',
  'SOPClassUID',
  'StudyDate',
  'AcquisitionDateTime',
  'AccessionNumber',
  'Modality',
  'Manufacturer',
  'SeriesDescription',
  'ManufacturerModelName',
  'DeviceSerialNumber',
  'SoftwareVersions',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'SeriesNumber',
  'ContainerIdentifier',
  'DimensionOrganizationType',
  'PhotometricInterpretation',
];
const US: TagName[] = ['Rows', 'Columns'];
const UL: TagName[] = ['TotalPixelMatrixColumns', 'TotalPixelMatrixRows', 'NumberOfOpticalPaths', 'TotalPixelMatrixFocalPlanes'];

/** Properties of the level-0 instance's header. */
export function dicomProperties(meta: DataSet, ds: DataSet): Record<string, string> {
  const props: Record<string, string> = {};
  putString(props, 'dicom', meta, 'TransferSyntaxUID');
  for (const name of STRINGS) putString(props, 'dicom', ds, name);
  for (const name of US) putNumber(props, `dicom.${name}`, us(ds, name));
  for (const name of UL) putNumber(props, `dicom.${name}`, ul(ds, name));
  const shared = item(ds, 'SharedFunctionalGroupsSequence');
  const measures = shared && item(shared, 'PixelMeasuresSequence');
  if (measures) putString(props, 'dicom.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]', measures, 'PixelSpacing', true);
  for (let i = 0; i < itemCount(ds, 'OpticalPathSequence'); i++) {
    const path = item(ds, 'OpticalPathSequence', i)!;
    putString(props, `dicom.OpticalPathSequence[${i}]`, path, 'OpticalPathIdentifier');
    putString(props, `dicom.OpticalPathSequence[${i}]`, path, 'ObjectiveLensPower', true);
  }
  return props;
}

/** `prefix.Keyword` for one value, `prefix.Keyword[i]` for each of several; DS values as numbers. */
function putString(props: Record<string, string>, prefix: string, ds: DataSet, name: TagName, decimal = false): void {
  const raw = str(ds, name);
  if (raw === undefined || ds.elements[TAG[name]] === undefined) return;
  const values = raw.split('\\').map((v) => v.trim());
  const format = (v: string) => (decimal && v !== '' && Number.isFinite(Number(v)) ? String(Number(v)) : v);
  if (values.length === 1) props[`${prefix}.${name}`] = format(values[0]!);
  else values.forEach((v, i) => (props[`${prefix}.${name}[${i}]`] = format(v)));
}

function putNumber(props: Record<string, string>, key: string, value: number | undefined): void {
  if (value !== undefined) props[key] = String(value);
}
