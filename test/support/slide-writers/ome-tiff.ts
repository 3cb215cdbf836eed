/**
 * OME-TIFF test slides: OME-XML as tifffile and Bio-Formats write it, over known pixels, in the layouts an
 * OME-TIFF reader meets: a pyramid in SubIFDs (OME-TIFF 6), reductions as further directories of the main chain
 * (older writers), RGB as three single-sample channel directories (SizeC=3), RGB in separate planes of one
 * directory (Interleaved="false"), strips, BigTIFF, and label/macro Images.
 */
import { T, type IfdSpec } from '../hostile-tiff.js';
import { blocks, channel, deflate, halve, predict, tiffWithSubIfds, zstdFrame, type IfdWithSubs, type Rgb } from './tiff-pieces.js';

export interface OmeImageXml {
  name: string;
  sizeX: number;
  sizeY: number;
  /** 'rgb': SizeC=3 as one Channel of 3 samples; 'channels': SizeC=3 as three Channels of 1 sample. */
  layout?: 'rgb' | 'channels';
  interleaved?: boolean;
  /** Raw attributes for Pixels (PhysicalSizeX="0.25" ...). */
  physical?: string;
  /** Raw TiffData elements. */
  tiffData: string;
  objectiveRef?: string;
}

/** An OME-XML document of these Images (with an Instrument whose Objective is 'Objective:0', 40x). */
export function omeXml(images: OmeImageXml[], uuid = 'urn:uuid:00000000-0000-4000-8000-000000000001'): string {
  const body = images
    .map((im, i) => {
      const channels = im.layout === 'channels' ? [0, 1, 2].map((c) => `<Channel ID="Channel:${i}:${c}" SamplesPerPixel="1"/>`).join('') : `<Channel ID="Channel:${i}:0" SamplesPerPixel="3"/>`;
      return (
        `<Image ID="Image:${i}" Name="${im.name}">${im.objectiveRef ? `<ObjectiveSettings ID="${im.objectiveRef}"/>` : ''}` +
        `<Pixels ID="Pixels:${i}" DimensionOrder="XYCZT" Type="uint8" SizeX="${im.sizeX}" SizeY="${im.sizeY}" SizeC="3" SizeZ="1" SizeT="1" Interleaved="${im.interleaved ?? true}" ${im.physical ?? ''}>` +
        `${channels}${im.tiffData}</Pixels></Image>`
      );
    })
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" ` +
    `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" UUID="${uuid}" Creator="sds test writer">` +
    `<Instrument ID="Instrument:0"><Objective ID="Objective:0" NominalMagnification="40" Model="Plan-Apo 40x"/></Instrument>${body}</OME>`
  );
}

/** The pyramid of `base`: it and its 2x2 means, `count` levels. */
export function pyramid(base: Rgb, count: number): Rgb[] {
  const out = [base];
  while (out.length < count) out.push(halve(out.at(-1)!));
  return out;
}

/** An interleaved RGB directory of `img`: Deflate tiles (`tile` px), or `strips` rows per strip uncompressed. */
export function rgbIfd(img: Rgb, tile: number, extra: Partial<IfdSpec> = {}): IfdSpec {
  return { width: img.width, height: img.height, tile: [tile, tile], compression: 8, blocks: blocks(img.data, img.width, img.height, 3, tile, tile, deflate).map((data) => ({ data })), ...extra };
}

/** RGB stored uncompressed in strips of `rows` rows; the last strip holds only the rows that remain (as libtiff writes it). */
export function rgbStrips(img: Rgb, rows: number, extra: Partial<IfdSpec> = {}): IfdSpec {
  const strips = [];
  for (let y = 0; y < img.height; y += rows) strips.push({ data: img.data.slice(y * img.width * 3, Math.min(img.height, y + rows) * img.width * 3) });
  return { width: img.width, height: img.height, rowsPerStrip: rows, compression: 1, blocks: strips, ...extra };
}

/** Channel c of `img` as a one-sample (BlackIsZero) directory, Deflate with predictor 2. */
export function channelIfd(img: Rgb, c: number, tile: number, extra: Partial<IfdSpec> = {}): IfdSpec {
  const data = blocks(channel(img, c), img.width, img.height, 1, tile, tile, (raw) => deflate(predict(raw, tile, 1)));
  return { width: img.width, height: img.height, tile: [tile, tile], compression: 8, predictor: 2, photometric: 1, samplesPerPixel: 1, blocks: data.map((d) => ({ data: d })), ...extra };
}

/** RGB in separate planes of one directory (PlanarConfiguration 2): all R tiles, then G, then B; Zstandard, predictor 2. */
export function planarIfd(img: Rgb, tile: number, extra: Partial<IfdSpec> = {}): IfdSpec {
  const planes = [0, 1, 2].flatMap((c) => blocks(channel(img, c), img.width, img.height, 1, tile, tile, (raw) => zstdFrame(predict(raw, tile, 1))));
  return {
    width: img.width,
    height: img.height,
    tile: [tile, tile],
    compression: 50000,
    predictor: 2,
    blocks: planes.map((data) => ({ data })),
    ...extra,
    tags: [{ tag: 284, type: T.SHORT, values: [2] }, ...(extra.tags ?? [])],
  };
}

export { tiffWithSubIfds, type IfdWithSubs };
