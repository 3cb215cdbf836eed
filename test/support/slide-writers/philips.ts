/**
 * Writes small Philips TIFF slides for tests, in the layout OpenSlide documents (openslide.org/formats/philips):
 * Software "Philips ...", directory 0's ImageDescription the DICOM-like XML (`<DataObject ObjectType="DPUfsImport">`)
 * with the WSI's pixel spacing per level (PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE), tiled JPEG levels whose TIFF
 * sizes are padded to whole tiles (the real size only follows from the spacings), sparse tiles (no bytes), a
 * stripped "Label" directory and label/macro JPEGs base64-encoded in the XML. Not product code: the reader is
 * checked against OpenSlide, not against this writer.
 */
import { writeFileSync } from 'node:fs';
import { buildTiff, T, type BlockSpec, type IfdSpec } from '../hostile-tiff.js';
import { crop, halve, jpeg, jpegTiles, tissue, type Rgb } from './tiff-vendor-kit.js';

export interface PhilipsOptions {
  /** Software tag (default "Philips DP v1.0"). */
  software?: string;
  /** Rewrite the XML before it is stored (to break it). */
  xml?: (xml: string) => string;
}

export interface PhilipsSlide {
  /** Level-0 size (lower levels are padded in the TIFF; their real size is this over the downsample). */
  width: number;
  height: number;
  tile: number;
  /** Level-0 tiles stored with no bytes. */
  sparse: [number, number][];
  /** µm per pixel along x (column spacing) and y (row spacing). */
  mpp: { x: number; y: number };
  label: Rgb;
  /** The XML's macro JPEG (decoded by libjpeg it is what OpenSlide shows). */
  macroJpeg: Uint8Array;
  /** The XML's label JPEG, which the "Label" directory overrides. */
  xmlLabelSize: [number, number];
}

const W = 512;
const H = 384;
const TILE = 128;
/** TIFF sizes of the levels, padded to whole tiles (real sizes: 512x384, 256x192, 128x96). */
const PADDED = [
  [512, 384],
  [256, 256],
  [128, 128],
] as const;
/** mm per pixel: row spacing, column spacing (level 0: 0.25 µm down, 0.245 µm across). */
const SPACINGS = [
  [0.00025, 0.000245],
  [0.0005, 0.00049],
  [0.001, 0.00098],
] as const;
const SPARSE: [number, number][] = [
  [3, 0],
  [0, 2],
];

export async function writePhilipsTiff(path: string, options: PhilipsOptions = {}): Promise<PhilipsSlide> {
  const level0 = tissue(W, H, 7);
  const images = [level0, halve(level0), halve(halve(level0))];
  const ifds: IfdSpec[] = [];
  for (const [i, img] of images.entries()) {
    const [pw, ph] = PADDED[i]!;
    const tiles = await jpegTiles(crop(img, 0, 0, pw, ph), TILE);
    const across = pw / TILE;
    const blocks: BlockSpec[] = tiles.map((data, k) => (i === 0 && SPARSE.some(([c, r]) => r * across + c === k) ? {} : { data }));
    ifds.push({ width: pw, height: ph, tile: [TILE, TILE], compression: 7, photometric: 6, newSubfileType: i === 0 ? 0 : 1, blocks });
  }
  const label = tissue(90, 60, 3);
  ifds.push({ width: label.width, height: label.height, rowsPerStrip: 20, description: 'Label', blocks: [0, 20, 40].map((y) => ({ data: crop(label, 0, y, 90, 20).data })) });
  const macroJpeg = await jpeg(tissue(150, 60, 5), 85);
  const xmlLabel = await jpeg(tissue(40, 30, 9), 85);
  const xml = philipsXml(Buffer.from(xmlLabel).toString('base64'), Buffer.from(macroJpeg).toString('base64'));
  ifds[0]!.description = options.xml ? options.xml(xml) : xml;
  ifds[0]!.tags = [{ tag: 305, type: T.ASCII, values: options.software ?? 'Philips DP v1.0' }];
  writeFileSync(path, buildTiff({ ifds }));
  return { width: W, height: H, tile: TILE, sparse: SPARSE, mpp: { x: 0.245, y: 0.25 }, label, macroJpeg, xmlLabelSize: [40, 30] };
}

const attr = (name: string, value: string, type = 'IString') => `<Attribute Name="${name}" Group="0x301D" Element="0x1000" PMSVR="${type}">${value}</Attribute>`;
const spacing = ([row, col]: readonly [number, number]) => attr('DICOM_PIXEL_SPACING', `&quot;${row}&quot; &quot;${col}&quot;`, 'IDoubleArray');

/** The XML as Philips writes it (trimmed to what readers use), with base64 label and macro JPEGs. */
function philipsXml(labelBase64: string, macroBase64: string): string {
  const representations = SPACINGS.map(
    (s, i) => `<DataObject ObjectType="PixelDataRepresentation">
          ${attr('PIIM_PIXEL_DATA_REPRESENTATION_NUMBER', String(i), 'IUInt16')}
          ${attr('PIIM_PIXEL_DATA_REPRESENTATION_COLUMNS', String(PADDED[i]![0]), 'IUInt32')}
          ${attr('PIIM_PIXEL_DATA_REPRESENTATION_ROWS', String(PADDED[i]![1]), 'IUInt32')}
          ${spacing(s)}
        </DataObject>`,
  ).join('\n        ');
  return `<?xml version="1.0" encoding="UTF-8" ?>
<DataObject ObjectType="DPUfsImport">
  ${attr('DICOM_MANUFACTURER', 'PHILIPS')}
  ${attr('DICOM_SOFTWARE_VERSIONS', '&quot;1.6.6186&quot; &quot;20180906_R51&quot;', 'IStringArray')}
  ${attr('PIM_DP_UFS_BARCODE', 'U0RTLVRFU1Q=')}
  <Attribute Name="PIM_DP_SCANNED_IMAGES" Group="0x301D" Element="0x1003" PMSVR="IDataObjectArray">
    <Array>
      <DataObject ObjectType="DPScannedImage">
        ${attr('PIM_DP_IMAGE_TYPE', 'LABELIMAGE')}
        ${attr('PIM_DP_IMAGE_DATA', labelBase64)}
      </DataObject>
      <DataObject ObjectType="DPScannedImage">
        ${attr('DICOM_DERIVATION_DESCRIPTION', 'tiff-useBigTIFF=1-useRgb=0-levels=10003,10002,10000,10001-processing=0-q80-sourceFilename=&quot;T11-07929-I1-12&quot;')}
        ${spacing(SPACINGS[0]!)}
        ${attr('PIM_DP_IMAGE_TYPE', 'WSI')}
        ${attr('PIM_DP_IMAGE_COLUMNS', String(W), 'IUInt32')}
        ${attr('PIM_DP_IMAGE_ROWS', String(H), 'IUInt32')}
        <Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE" Group="0x1001" Element="0x8B01" PMSVR="IDataObjectArray">
      <Array>
        ${representations}
      </Array>
        </Attribute>
      </DataObject>
      <DataObject ObjectType="DPScannedImage">
        ${attr('PIM_DP_IMAGE_TYPE', 'MACROIMAGE')}
        ${attr('PIM_DP_IMAGE_DATA', macroBase64)}
      </DataObject>
    </Array>
  </Attribute>
  ${attr('PIM_DP_UFS_INTERFACE_VERSION', '3.0')}
</DataObject>
`;
}
