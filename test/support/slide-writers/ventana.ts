/**
 * Writes small Ventana BIF slides for tests, in the layout OpenSlide documents (openslide.org/formats/ventana):
 * directory 0 "Label_Image" with the `<iScan ...>` XMP (tag 700), directory 1 "Thumbnail", then tiled JPEG levels
 * described "level=N mag=M quality=Q". Level 0's own XMP is the EncodeInfo stitching record: two scanned areas of
 * interest (and one not scanned) on the level-0 tile grid, each with a position (Pos-Y measured from the bottom)
 * and TileJointInfo overlaps between neighbouring scanner tiles (numbered from the bottom row up, alternate rows
 * right to left). Each scanner tile is cut from one picture at its stitched position, so neighbours overlap as real
 * camera tiles do; lower levels halve the raw tile grid, as the scanner stores them. `stitched: false` writes a
 * Ventana TIFF (no EncodeInfo: plain grids). Not product code: the reader is checked against OpenSlide.
 */
import { writeFileSync } from 'node:fs';
import { buildTiff, T, type IfdSpec } from '../hostile-tiff.js';
import { crop, halve, jpegTiles, tissue, type Rgb } from './tiff-vendor-kit.js';

export interface VentanaOptions {
  stitched?: boolean;
  /** Rewrite directory 0's iScan XMP before it is stored. */
  iscan?: (xml: string) => string;
  /** Rewrite level 0's EncodeInfo XMP before it is stored. */
  encodeInfo?: (xml: string) => string;
}

export interface VentanaSlide {
  /** The picture the scanner tiles are cut from: a correctly stitched level 0 shows it (up to JPEG loss). */
  picture: Rgb;
  macro: Rgb;
  thumbnail: Rgb;
  /** The tile advance the joints average to. */
  advance: [number, number];
}

const TILE = 64;
/** Level-0 TIFF grid, in tiles. */
const COLS = 6;
const ROWS = 4;
/** Overlaps: RIGHT joints alternate 6 px (confidence 30) and 9 px (confidence 60), UP joints 4 px: advance 56 x 60. */
const ADVANCE: [number, number] = [56, 60];

interface Aoi {
  scanned: boolean;
  /** First tile in the TIFF grid, size in tiles. */
  col: number;
  row: number;
  cols: number;
  rows: number;
  /** Pos-X, Pos-Y as the XML gives them, and the top-down level-0 y OpenSlide makes of Pos-Y. */
  posX: number;
  posY: number;
  top: number;
}

const AOIS: Aoi[] = [
  { scanned: true, col: 0, row: 0, cols: 3, rows: 4, posX: 0, posY: 0, top: 0 },
  { scanned: false, col: 0, row: 0, cols: 1, rows: 1, posX: 0, posY: 0, top: 0 },
  { scanned: true, col: 3, row: 0, cols: 3, rows: 2, posX: 200, posY: 100, top: 20 },
];

export async function writeVentanaBif(path: string, options: VentanaOptions = {}): Promise<VentanaSlide> {
  const stitched = options.stitched ?? true;
  // The raw level-0 grid: each scanner tile cut from the picture where it is stitched (unused cells: glass).
  const picture = tissue(400, 260, 31);
  const grid: Rgb = { width: COLS * TILE, height: ROWS * TILE, data: new Uint8Array(COLS * TILE * ROWS * TILE * 3).fill(243) };
  for (const aoi of AOIS.filter((a) => a.scanned)) {
    for (let r = 0; r < aoi.rows; r++) {
      for (let c = 0; c < aoi.cols; c++) {
        const cell = crop(picture, aoi.posX + c * ADVANCE[0], aoi.top + r * ADVANCE[1], TILE, TILE);
        paste(grid, cell, (aoi.col + c) * TILE, (aoi.row + r) * TILE);
      }
    }
  }
  const macro = tissue(120, 80, 41);
  const thumbnail = tissue(96, 64, 43);
  const iscanXml =
    `<?xml version="1.0" encoding="utf-8"?><iScan BuildDate="9/2/2016 10:14:06 AM" BuildVersion="3.3.1.1" CalibrationAvg="-1" Magnification="40" ScanRes="0.2325" ScannerModel="VENTANA iScan HT" SlideAnnotation="" UnitNumber="BI10N0294" ZLayers="1"><AOI0 Left="0" Top="0" Right="100" Bottom="60"/></iScan>`;
  const iscan = options.iscan ? options.iscan(iscanXml) : iscanXml;
  const strip = (img: Rgb, description: string, xmp?: string): IfdSpec => ({
    width: img.width,
    height: img.height,
    rowsPerStrip: img.height,
    description,
    blocks: [{ data: img.data }],
    tags: xmp === undefined ? [] : [{ tag: 700, type: T.BYTE, values: new TextEncoder().encode(xmp) }],
  });
  const ifds: IfdSpec[] = [strip(macro, 'Label_Image', iscan), strip(thumbnail, 'Thumbnail')];
  let level: Rgb = grid;
  for (const [i, mag] of [40, 20, 10].entries()) {
    const xmp = i === 0 && stitched ? (options.encodeInfo ?? ((x: string) => x))(encodeInfo()) : undefined;
    ifds.push({
      width: level.width,
      height: level.height,
      tile: [TILE, TILE],
      compression: 7,
      photometric: 6,
      description: `level=${i} mag=${mag} quality=90`,
      blocks: (await jpegTiles(level, TILE)).map((data) => ({ data })),
      tags: xmp === undefined ? [] : [{ tag: 700, type: T.BYTE, values: new TextEncoder().encode(xmp) }],
    });
    level = halve(level);
  }
  writeFileSync(path, buildTiff({ bigTiff: true, ifds }));
  return { picture, macro, thumbnail, advance: ADVANCE };
}

function paste(dst: Rgb, src: Rgb, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) dst.data.set(src.data.subarray(r * src.width * 3, (r + 1) * src.width * 3), ((y + r) * dst.width + x) * 3);
}

/** Tile number of (col, row) in an area: 1-based, from the bottom row up, odd rows (from the bottom) right to left. */
function tileNumber(aoi: Aoi, col: number, row: number): number {
  const fromBottom = aoi.rows - 1 - row;
  const c = fromBottom % 2 ? aoi.cols - 1 - col : col;
  return fromBottom * aoi.cols + c + 1;
}

function encodeInfo(): string {
  let right = 0;
  const infos = AOIS.map((aoi, i) => {
    const joints: string[] = [];
    for (let r = 0; r < aoi.rows; r++) {
      for (let c = 0; c < aoi.cols; c++) {
        if (c + 1 < aoi.cols) {
          // The Y overlap of a RIGHT joint does not count (OpenSlide averages each axis over its own joints).
          const [overlap, confidence] = right++ % 2 ? [9, 60] : [6, 30];
          joints.push(`<TileJointInfo FlagJoined="1" Confidence="${confidence}" Direction="RIGHT" Tile1="${tileNumber(aoi, c, r)}" Tile2="${tileNumber(aoi, c + 1, r)}" OverlapX="${overlap}" OverlapY="99"/>`);
        }
        if (r > 0) joints.push(`<TileJointInfo FlagJoined="1" Confidence="100" Direction="UP" Tile1="${tileNumber(aoi, c, r)}" Tile2="${tileNumber(aoi, c, r - 1)}" OverlapX="99" OverlapY="4"/>`);
      }
    }
    return `<ImageInfo AOIScanned="${aoi.scanned ? 1 : 0}" AOIIndex="${i}" NumRows="${aoi.rows}" NumCols="${aoi.cols}" Width="${TILE}" Height="${TILE}" Pos-X="${aoi.posX}.0" Pos-Y="${aoi.posY}">${joints.join('')}</ImageInfo>`;
  });
  const origins = AOIS.map((aoi, i) => `<AOI${i} OriginX="${aoi.col * TILE}" OriginY="${aoi.row * TILE}"/>`).join('');
  return `<?xml version="1.0" encoding="utf-8"?><EncodeInfo Ver="2"><SlideInfo><AoiInfo XIMAGESIZE="${TILE}" YIMAGESIZE="${TILE}" NumRows="${ROWS}" NumCols="${COLS}"/></SlideInfo><SlideStitchInfo>${infos.join('')}</SlideStitchInfo><AoiOrigin>${origins}</AoiOrigin></EncodeInfo>`;
}
