/**
 * Ventana BIF / TIFF (OpenSlide 3.4.1's ventana driver, https://openslide.org/formats/ventana/): the first
 * directory's XMP holds `<iScan ...>` (its attributes are the `ventana.*` properties; Magnification and ScanRes give
 * objective power and MPP). Levels are the directories described "level=N mag=M ...", downsample mag0 / mag; "Label
 * Image" is the macro, "Thumbnail" the thumbnail. In a BIF, level 0's own XMP (EncodeInfo) says where the scanner's
 * tiles go: OpenSlide 3.4.1 averages the TileJointInfo overlaps (weighted by confidence) into one tile advance per
 * axis and draws every scanned area's tiles at that advance from the area's position, so neighbouring tiles
 * overlap; lower levels are drawn the same way, one level-0 tile's share (a subtile) at a time. Without that XMP
 * (a Ventana TIFF) the levels are plain tile grids.
 */
import { SdsError } from '../../../core/errors.js';
import type { AssociatedReader, LevelReader } from '../../source-parts.js';
import { tiffAssociatedReader, tiffCompressionName, tiffLevelReader } from '../blocks.js';
import type { TiffDirectory } from '../directory.js';
import { tiffProperties } from '../pyramid.js';
import type { TiffContext, TiffParts, TiffVendor } from '../vendor.js';
import { genericTiffVendor } from './generic.js';
import { placedLevelReader, TileMemo, type Piece } from './placed-tiles.js';
import { children, parseDoubleLikeOpenSlide, parseIntegerLikeOpenSlide, parseXml, select, type XmlElement } from './xml.js';

const TAG_XMP = 700;

export const ventanaVendor: TiffVendor = {
  name: 'ventana',
  // OpenSlide detects Ventana by the XMP of directory 0, a tag read asynchronously; the level descriptions are the
  // synchronous sign, and open() checks the XMP, treating a file without it as OpenSlide would (generic TIFF).
  detect: ({ dirs }) => dirs.some((d) => d.description !== undefined && /(^| )level=\d+ /.test(d.description) && d.description.includes('mag=')),
  async open(ctx) {
    const iscan = await initialIscan(ctx.dirs[0]!);
    if (!('element' in iscan)) {
      // Not Ventana to OpenSlide, whose generic reader then needs a tiled first directory (Ventana's is the label).
      if (ctx.dirs[0]!.tiled) return genericTiffVendor.open(ctx);
      throw new SdsError('SLIDE_UNREADABLE', `${ctx.file.name} has Ventana level directories ("level=N mag=M"), but ${iscan.problem}; OpenSlide cannot open it either`, {
        suggestion: 'the Ventana metadata of directory 0 is missing or corrupt; copy the slide again',
        context: { path: ctx.file.path },
      });
    }
    return openVentana(ctx, iscan.element);
  },
};

/** A directory's XMP packet as text (up to a NUL, as OpenSlide reads it), undefined when it has none. */
async function xmp(dir: TiffDirectory): Promise<string | undefined> {
  const value = await dir.readTag(TAG_XMP);
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : new TextDecoder().decode(Uint8Array.from(value as ArrayLike<number>));
  const end = text.indexOf('\0');
  return end < 0 ? text : text.slice(0, end);
}

/** The iScan element of directory 0's XMP (the root, or a child of a Metadata root), or what is wrong with the XMP. */
async function initialIscan(dir: TiffDirectory): Promise<{ element: XmlElement } | { problem: string }> {
  const text = await xmp(dir);
  if (text === undefined) return { problem: 'directory 0 has no XMP (tag 700)' };
  if (!text.includes('iScan')) return { problem: 'the XMP of directory 0 has no iScan element' };
  const parsed = parseXml(text);
  if (!('root' in parsed)) return { problem: `the XMP of directory 0 is not well-formed XML (${parsed.error})` };
  const { root } = parsed;
  const element = root.local === 'iScan' ? root : root.local === 'Metadata' ? children(root, 'iScan')[0] : undefined;
  return element ? { element } : { problem: `the XMP of directory 0 has no iScan element under its <${root.name}> root` };
}

/** What level 0's EncodeInfo says about placing tiles. */
interface Stitching {
  advanceX: number;
  advanceY: number;
  areas: StitchArea[];
}

interface StitchArea {
  /** Level-0 position of the area's top-left tile. */
  x: number;
  y: number;
  /** The area's first tile in the TIFF's level-0 tile grid, and its size in tiles. */
  startCol: number;
  startRow: number;
  across: number;
  down: number;
}

interface VentanaLevel {
  dir: TiffDirectory;
  downsample: number;
}

async function openVentana({ file, dirs, concurrency }: TiffContext, iscan: XmlElement): Promise<TiffParts> {
  const corrupt = (problem: string, context: Record<string, unknown> = {}) =>
    new SdsError('SLIDE_UNREADABLE', `${file.name}: ${problem}; OpenSlide refuses it too`, {
      suggestion: 'the Ventana metadata is corrupt or the file was rewritten; copy it again, or convert it to a generic pyramidal TIFF',
      context: { path: file.path, ...context },
    });

  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries(iscan.attributes)) {
    // Namespace declarations and prefixed attributes are not iScan's own.
    if (value !== '' && name !== 'xmlns' && !name.includes(':')) properties[`ventana.${name}`] = value;
  }

  const levels: VentanaLevel[] = [];
  const associatedDirs = new Map<string, TiffDirectory>();
  let stitching: Stitching | undefined;
  let previousMag = Infinity;
  let mag0 = 0;
  for (const dir of dirs) {
    const description = dir.description;
    if (description === undefined) continue;
    if (description.includes('level=')) {
      const { level, magnification } = parseLevelInfo(description) ?? {};
      if (level === undefined || magnification === undefined || !(magnification > 0)) throw corrupt(`TIFF directory ${dir.index} is described "${description}", without a valid level and mag`, { directory: dir.index });
      if (level !== levels.length) throw corrupt(`TIFF directory ${dir.index} is level ${level}, where level ${levels.length} comes next`, { directory: dir.index });
      if (magnification >= previousMag) throw corrupt(`level ${level} has magnification ${magnification}, not below the level before it`, { directory: dir.index });
      previousMag = magnification;
      if (level === 0) mag0 = magnification;
      if (!dir.tiled) throw corrupt(`level ${level} (TIFF directory ${dir.index}) is not tiled`, { directory: dir.index });
      if (level === 0) {
        const encodeInfo = await xmp(dir);
        if (encodeInfo !== undefined) stitching = parseEncodeInfo(encodeInfo, dir, corrupt);
      } else if (dir.blockWidth !== levels[0]!.dir.blockWidth || dir.blockHeight !== levels[0]!.dir.blockHeight) {
        throw corrupt(`level ${level} has ${dir.blockWidth}x${dir.blockHeight} tiles, level 0 ${levels[0]!.dir.blockWidth}x${levels[0]!.dir.blockHeight}`, { directory: dir.index });
      }
      levels.push({ dir, downsample: mag0 / magnification });
    } else if (description === 'Label Image' || description === 'Label_Image') associatedDirs.set('macro', dir);
    else if (description === 'Thumbnail') associatedDirs.set('thumbnail', dir);
  }
  if (levels.length === 0) return { vendor: 'ventana', levels: [] };
  // Largest first; a stable sort keeps file order among equal widths.
  const sorted = [...levels].sort((a, b) => b.dir.width - a.dir.width);
  const base = sorted[0]!.dir;

  const memo = new TileMemo(file);
  const readers: LevelReader[] = sorted.map(({ dir, downsample }, index) =>
    stitching ? placedLevelReader(memo, stitchedLevel(stitching, levels[0]!.dir, dir, downsample, index)) : tiffLevelReader(file, dir, { index, downsample }),
  );

  if (stitching) {
    const { advanceX, advanceY } = stitching;
    stitching.areas.forEach((a, i) => {
      properties[`openslide.region[${i}].x`] = String(Math.trunc(advanceX * a.startCol));
      properties[`openslide.region[${i}].y`] = String(Math.trunc(advanceY * a.startRow));
      properties[`openslide.region[${i}].width`] = String(Math.ceil(advanceX * (a.across - 1) + base.blockWidth));
      properties[`openslide.region[${i}].height`] = String(Math.ceil(advanceY * (a.down - 1) + base.blockHeight));
    });
  }
  const associated: AssociatedReader[] = [...associatedDirs].map(([name, dir]) => tiffAssociatedReader(file, name, dir, concurrency));
  const scanRes = parseDoubleLikeOpenSlide(properties['ventana.ScanRes']);
  const magnification = parseIntegerLikeOpenSlide(properties['ventana.Magnification']);
  return {
    vendor: 'ventana',
    levels: readers,
    associated,
    mpp: scanRes !== undefined && scanRes > 0 ? { x: scanRes, y: scanRes } : undefined,
    objectivePower: magnification !== undefined && magnification > 0 ? magnification : undefined,
    // OpenSlide keeps level 0's description ("level=0 mag=40 quality=90") as the comment.
    properties: { ...tiffProperties(base), ...(base.description !== undefined ? { 'openslide.comment': base.description } : {}), ...properties },
  };
}

/** "level=0 mag=40 quality=90": the level number and magnification, undefined when either is missing or malformed. */
function parseLevelInfo(description: string): { level?: number; magnification?: number } | undefined {
  const fields = new Map<string, string>();
  for (const pair of description.split(' ')) {
    const eq = pair.indexOf('=');
    if (eq >= 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const level = fields.get('level');
  const mag = fields.get('mag');
  if (level === undefined || mag === undefined) return undefined;
  return { level: level === '' ? undefined : parseIntegerLikeOpenSlide(level), magnification: parseDoubleLikeOpenSlide(mag) };
}

type Corrupt = (problem: string, context?: Record<string, unknown>) => SdsError;

/**
 * Level 0's EncodeInfo: one ImageInfo per area of interest (paired with AoiOrigin's children), skipped unless
 * AOIScanned; each scanned area's origin tile, size in tiles and position, and the joints between its tiles,
 * whose confidence-weighted mean overlap sets the tile advance.
 */
function parseEncodeInfo(text: string, dir: TiffDirectory, corrupt: Corrupt): Stitching {
  const parsed = parseXml(text);
  if (!('root' in parsed)) throw corrupt(`the XMP of level 0 (TIFF directory ${dir.index}) is not well-formed XML: ${parsed.error}`);
  const root = parsed.root.name === 'EncodeInfo' ? parsed.root : undefined;
  const infos = root ? select(root, ['SlideStitchInfo', 'ImageInfo']) : [];
  const origins = root ? children(root, 'AoiOrigin').flatMap((o) => o.children) : [];
  if (infos.length === 0 || infos.length !== origins.length) throw corrupt(`the EncodeInfo XMP of level 0 has ${infos.length} ImageInfo and ${origins.length} AoiOrigin entries`);
  const int = (el: XmlElement, name: string) => {
    const v = parseIntegerLikeOpenSlide(el.attributes[name]);
    if (v === undefined) throw corrupt(`the EncodeInfo XMP has no integer "${name}" on <${el.name}>`);
    return v;
  };
  const real = (el: XmlElement, name: string) => {
    const v = parseDoubleLikeOpenSlide(el.attributes[name]);
    if (v === undefined) throw corrupt(`the EncodeInfo XMP has no number "${name}" on <${el.name}>`);
    return v;
  };
  const tw = dir.blockWidth;
  const th = dir.blockHeight;
  const areas: StitchArea[] = [];
  let totalX = 0;
  let weightX = 0;
  let totalY = 0;
  let weightY = 0;
  infos.forEach((info, i) => {
    if (int(info, 'AOIScanned') === 0) return;
    const aoi = origins[i]!;
    const [originX, originY, width, height] = [int(aoi, 'OriginX'), int(aoi, 'OriginY'), int(info, 'Width'), int(info, 'Height')];
    if (width !== tw || height !== th) throw corrupt(`its EncodeInfo tiles are ${width}x${height}, level 0's TIFF tiles ${tw}x${th}`);
    if (originX % tw || originY % th) throw corrupt(`an area's origin (${originX}, ${originY}) is not on the ${tw}x${th} tile grid`);
    const area: StitchArea = { startCol: originX / tw, startRow: originY / th, across: int(info, 'NumCols'), down: int(info, 'NumRows'), x: Math.trunc(real(info, 'Pos-X')), y: Math.trunc(real(info, 'Pos-Y')) };
    if (area.across < 1 || area.down < 1) throw corrupt(`an area is ${area.across}x${area.down} tiles`);
    const joints = children(info, 'TileJointInfo');
    if (joints.length === 0) throw corrupt('a scanned area has no TileJointInfo');
    for (const joint of joints) {
      const [c1, r1] = tileCoordinates(area, int(joint, 'Tile1'), corrupt);
      const [c2, r2] = tileCoordinates(area, int(joint, 'Tile2'), corrupt);
      const direction = joint.attributes.Direction;
      const ok = direction === 'RIGHT' ? c2 === c1 + 1 && r2 === r1 : direction === 'UP' ? c2 === c1 && r2 === r1 - 1 : undefined;
      if (ok === undefined) throw corrupt(`a tile joint has direction "${direction}"`);
      if (!ok) throw corrupt(`a ${direction} tile joint links tiles (${c1}, ${r1}) and (${c2}, ${r2})`);
      const confidence = int(joint, 'Confidence');
      const overlapX = real(joint, 'OverlapX');
      const overlapY = real(joint, 'OverlapY');
      if (direction === 'UP') {
        totalY -= confidence * overlapY;
        weightY += confidence;
      } else {
        totalX -= confidence * overlapX;
        weightX += confidence;
      }
    }
    areas.push(area);
  });
  if (areas.length === 0) throw corrupt('its EncodeInfo XMP lists no scanned area');
  // No joint along an axis leaves OpenSlide dividing 0 by 0; no overlap is the only sensible reading.
  const advanceX = tw + (weightX ? totalX / weightX : 0);
  const advanceY = th + (weightY ? totalY / weightY : 0);
  if (!(advanceX > 0 && advanceY > 0)) throw corrupt(`its tile overlaps leave a tile advance of ${advanceX}x${advanceY} px`);
  // Pos-Y is the distance from the area's bottom to a line below all areas: turn it into a top-down y.
  const heights = areas.map((a) => Math.trunc((a.down - 1) * advanceY + th));
  const top = Math.max(0, ...areas.map((a, i) => a.y + heights[i]!));
  areas.forEach((a, i) => (a.y = top - a.y - heights[i]!));
  return { advanceX, advanceY, areas };
}

/** A joint's 1-based tile number as (col, row): numbered from the bottom row up, alternate rows right to left. */
function tileCoordinates(area: StitchArea, tile: number, corrupt: Corrupt): [number, number] {
  if (tile < 1 || tile > area.across * area.down) throw corrupt(`a tile joint names tile ${tile} of an area of ${area.across * area.down}`);
  const t = tile - 1;
  let col = t % area.across;
  let row = Math.floor(t / area.across);
  if (row % 2) col = area.across - col - 1;
  row = area.down - row - 1;
  return [col, row];
}

/**
 * A BIF level as OpenSlide 3.4.1 draws it: level-0 tile (col, row) of an area lands at area position + (col -
 * startCol) * advance, divided by the downsample; at a lower level it is the matching subtile of the TIFF tile
 * holding downsample x downsample of them. Where tiles overlap, the one with the higher row, then the higher column,
 * shows: OpenSlide paints bottom-right first, and the first pixel painted stays (cairo SATURATE). The level's size
 * is what its tiles cover.
 */
function stitchedLevel(stitching: Stitching, level0: TiffDirectory, dir: TiffDirectory, downsample: number, index: number): Parameters<typeof placedLevelReader>[1] {
  const perTile = Math.max(1, Math.trunc(downsample));
  const subWidth = dir.blockWidth / downsample;
  const subHeight = dir.blockHeight / downsample;
  const stepX = stitching.advanceX / downsample;
  const stepY = stitching.advanceY / downsample;
  // Keyed by grid position: an area drawn later replaces a tile of an earlier one there.
  const byCell = new Map<string, { col: number; row: number; x: number; y: number }>();
  let left = Infinity;
  let top = Infinity;
  let right = -Infinity;
  let bottom = -Infinity;
  for (const area of stitching.areas) {
    const offsetX = (area.x - area.startCol * stitching.advanceX) / downsample;
    const offsetY = (area.y - area.startRow * stitching.advanceY) / downsample;
    const lastCol = area.startCol + area.across - 1;
    const lastRow = area.startRow + area.down - 1;
    left = Math.min(left, area.startCol * stepX + offsetX);
    top = Math.min(top, area.startRow * stepY + offsetY);
    right = Math.max(right, lastCol * stepX + offsetX + subWidth);
    bottom = Math.max(bottom, lastRow * stepY + offsetY + subHeight);
    // Only tiles the TIFF holds can paint anything: the loops stay within its grids (this level's, and level 0's,
    // whose tiles the grid positions count), however large the XML says an area is.
    const endRow = Math.min(lastRow, dir.blocksDown * perTile - 1, level0.blocksDown - 1);
    const endCol = Math.min(lastCol, dir.blocksAcross * perTile - 1, level0.blocksAcross - 1);
    for (let row = Math.max(0, area.startRow); row <= endRow; row++) {
      for (let col = Math.max(0, area.startCol); col <= endCol; col++) {
        byCell.set(`${col},${row}`, { col, row, x: col * stepX + offsetX, y: row * stepY + offsetY });
      }
    }
  }
  // OpenSlide's paint order: rows bottom-up, each right to left.
  const cells = [...byCell.values()].sort((a, b) => b.row - a.row || b.col - a.col);
  const pieces: Piece[] = cells.map(({ col, row, x, y }) => {
    const tileCol = Math.floor(col / perTile);
    const tileRow = Math.floor(row / perTile);
    // The subtile's place inside its TIFF tile; positions are whole pixels when the overlaps and downsamples are
    // (real BIFs), otherwise rounded where OpenSlide would resample.
    const srcX = Math.round((col % perTile) * (dir.blockWidth / perTile));
    const srcY = Math.round((row % perTile) * (dir.blockHeight / perTile));
    // Pixels past the TIFF image's edge are transparent: the piece ends there.
    const validWidth = Math.min(dir.blockWidth, dir.width - tileCol * dir.blockWidth);
    const validHeight = Math.min(dir.blockHeight, dir.height - tileRow * dir.blockHeight);
    return {
      dir,
      block: tileRow * dir.blocksAcross + tileCol,
      srcX,
      srcY,
      x: Math.round(x),
      y: Math.round(y),
      width: Math.min(Math.ceil(subWidth), validWidth - srcX),
      height: Math.min(Math.ceil(subHeight), validHeight - srcY),
    };
  });
  return {
    index,
    width: Math.ceil(left + (right - left)),
    height: Math.ceil(top + (bottom - top)),
    tileWidth: dir.blockWidth,
    tileHeight: dir.blockHeight,
    compression: tiffCompressionName(dir),
    downsample,
    pieces,
  };
}
