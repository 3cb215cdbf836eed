/**
 * Writes small Leica SCN slides for tests, in the layout OpenSlide documents (openslide.org/formats/leica): a
 * BigTIFF whose first ImageDescription is the `<scn>` XML (2010/10/01 namespace) describing a collection (the slide,
 * in nm) with a macro image spanning it and two brightfield main images at offsets, each a 3-level pyramid of
 * tiled JPEG directories named by `<dimension ifd=...>`. The main images overlap and their offsets are off the tile grid, so a
 * reader has to composite them into the collection as OpenSlide does. Directory 0 is the macro (tiled, as
 * OpenSlide's detection requires). Not product code: the reader is checked against OpenSlide, not this writer.
 */
import { writeFileSync } from 'node:fs';
import { buildTiff, T, type IfdSpec } from '../hostile-tiff.js';
import { halve, jpegTiles, tissue, type Rgb } from './tiff-vendor-kit.js';

export const LEICA_NS = 'http://www.leica-microsystems.com/scn/2010/10/01';

export interface LeicaOptions {
  /** Rewrite the XML before it is stored (to break it). */
  xml?: (xml: string) => string;
}

/** nm per level-0 pixel the XML implies; the TIFF resolution says 0.4985 µm (OpenSlide 3.4.1 takes that one). */
const NM_PER_PX = 500;
/** Collection (slide) size in level-0 pixels. */
const SLIDE: [number, number] = [640, 480];
const TILE = 64;
/** Main images: level-0 offset and size in pixels. */
const MAINS = [
  { offset: [100, 60], size: [300, 200] },
  { offset: [360, 220], size: [160, 100] },
] as const;
/** 20060.18 px/cm: 0.4985 µm per pixel. */
const X_RESOLUTION = [2006018, 100];

export interface LeicaSlide {
  collection: [number, number];
  mains: { offset: readonly [number, number]; size: readonly [number, number] }[];
  macro: Rgb;
  barcode: string;
}

export async function writeLeicaScn(path: string, options: LeicaOptions = {}): Promise<LeicaSlide> {
  const ifds: IfdSpec[] = [];
  const tiled = async (img: Rgb, extra: Partial<IfdSpec> = {}): Promise<number> => {
    ifds.push({ width: img.width, height: img.height, tile: [TILE, TILE], compression: 7, photometric: 6, blocks: (await jpegTiles(img, TILE)).map((data) => ({ data })), ...extra });
    return ifds.length - 1;
  };
  const macro = tissue(160, 120, 11);
  const macroIfds = [await tiled(macro), await tiled(halve(macro))];
  const mainIfds: number[][] = [];
  for (const [i, m] of MAINS.entries()) {
    const l0 = tissue(m.size[0], m.size[1], 20 + i);
    const resolution = { tags: [{ tag: 282, type: T.RATIONAL, values: X_RESOLUTION }, { tag: 283, type: T.RATIONAL, values: X_RESOLUTION }, { tag: 296, type: T.SHORT, values: [3] }] };
    mainIfds.push([await tiled(l0, resolution), await tiled(halve(l0)), await tiled(halve(halve(l0)))]);
  }
  const barcode = 'SDS-SCN-0042';
  const dims = (ifd: number[], sizes: [number, number][]) => sizes.map(([w, h], k) => `<dimension sizeX="${w}" sizeY="${h}" r="${k}" ifd="${ifd[k]}"/>`).join('');
  const levels = (w: number, h: number): [number, number][] => [
    [w, h],
    [Math.ceil(w / 2), Math.ceil(h / 2)],
    [Math.ceil(w / 4), Math.ceil(h / 4)],
  ];
  const image = (name: string, dimensions: string, [w, h]: readonly [number, number], [x, y]: readonly [number, number], objective: string) => `
    <image name="${name}" uuid="urn:uuid:${name}">
      <creationDate>2013-04-11T12:20:54.52Z</creationDate>
      <device model="Leica SCN400;Leica SCN" version="1.4.0.10770 2011/03/02 13:47:41"/>
      <pixels sizeX="${w / NM_PER_PX}" sizeY="${h / NM_PER_PX}">${dimensions}</pixels>
      <view sizeX="${w}" sizeY="${h}" offsetX="${x}" offsetY="${y}" spacingZ="0"/>
      <scanSettings>
        <objectiveSettings><objective>${objective}</objective></objectiveSettings>
        <illuminationSettings><numericalAperture>0.7</numericalAperture><illuminationSource>brightfield</illuminationSource></illuminationSettings>
      </scanSettings>
    </image>`;
  const nm = ([a, b]: readonly [number, number]): [number, number] => [a * NM_PER_PX, b * NM_PER_PX];
  const xml = `<?xml version="1.0" encoding="utf-8"?>
<scn xmlns="${LEICA_NS}">
  <collection name="sds-test" uuid="urn:uuid:c0" sizeX="${SLIDE[0] * NM_PER_PX}" sizeY="${SLIDE[1] * NM_PER_PX}">
    <barcode>${Buffer.from(barcode).toString('base64')}</barcode>
    ${image('macro', dims(macroIfds, [[160, 120], [80, 60]]), nm(SLIDE), [0, 0], '1')}
    ${MAINS.map((m, i) => image(`main${i}`, dims(mainIfds[i]!, levels(m.size[0], m.size[1])), nm(m.size), nm(m.offset), '20')).join('')}
  </collection>
</scn>`;
  ifds[0]!.description = options.xml ? options.xml(xml) : xml;
  writeFileSync(path, buildTiff({ bigTiff: true, ifds }));
  return { collection: SLIDE, mains: MAINS.map((m) => ({ offset: m.offset, size: m.size })), macro, barcode };
}
