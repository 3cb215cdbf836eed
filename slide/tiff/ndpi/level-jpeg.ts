/**
 * One NDPI level's JPEG read as OpenSlide 3.4.1 reads it: tile by tile, a tile being one restart interval (or
 * the whole image when the JPEG has no restart markers), never the whole image at once. A tile is decoded from a
 * small JPEG made of the level's header with the frame size set to the tile's, the interval's entropy-coded data,
 * and an end-of-image marker in place of the next restart marker; at full size by libjpeg (sharp), at 1/2, 1/4
 * and 1/8 by the libjpeg-exact reduced decoder (scaled-jpeg.ts). Memory per tile is bounded by the tile's pixels,
 * whatever the slide's size.
 *
 * Restart intervals are small (a few hundred by 8 or 16 px), so decoding them one by one costs a libjpeg call per
 * few thousand pixels. Where a JPEG has no chroma subsampling (all sampling factors 1), neighbouring intervals
 * decoded together give the very same pixels (no upsampling filter reaches across an interval's border), so
 * full-size tiles are decoded in groups of about 512 x 64 px: the group's intervals spliced into one small JPEG
 * (restart markers renumbered), and the group kept in a small cache for the tiles around. A libjpeg call through
 * sharp costs about 0.5 ms whatever its size, so a level read downwards (the group above is held) decodes up to
 * four groups below at once, their rows read together where the bytes between them are few. Subsampled JPEGs are
 * decoded interval by interval, as OpenSlide does.
 */
import sharp from 'sharp';
import { SdsError } from '../../../core/errors.js';
import { describePixels, MAX_BLOCK_PIXELS } from '../../limits.js';
import type { RgbImage } from '../../types.js';
import type { ByteSource } from './ifd.js';
import { headerForSize, levelGrid, readJpegHeader, type JpegGrid, type JpegHeader } from './jpeg-header.js';
import { mcuStarts, type McuStarts, type McuStartsTable } from './mcu-starts.js';
import { decodeScaled, ScaledJpegUnsupported } from './scaled-jpeg.js';

/** Compressed bytes a tile may take per pixel before its data is taken for corrupt (JPEG needs well under 4). */
const MAX_BYTES_PER_PIXEL = 8;
/** Target size of a group of intervals decoded at once, and how many decoded groups are kept. */
const GROUP_WIDTH = 512;
const GROUP_HEIGHT = 64;
const GROUPS_KEPT = 32;
/** Groups decoded together at most when a level is read downwards (the groups below the one asked for). */
const GROUPS_AHEAD = 4;
/** Bytes between the rows of a batch that are read rather than skipped (one read instead of one per row). */
const MAX_READ_GAP = 256 * 1024;
/** Restart intervals of one level: a 250k x 120k px level in 64 x 8 px intervals has 59M; this is 4.5 times that. */
const MAX_INTERVALS = 2 ** 28;

/** A decoded group: rows from `y` of `image` (several groups decoded together share one image). */
interface HeldGroup {
  image: RgbImage;
  y: number;
}

export interface LevelJpegOptions {
  /** For messages: 'level directory 0' (the NDPI directory). */
  what: string;
  /** The strip: where the JPEG starts and how many bytes it has. */
  start: number;
  length: number;
  /** The TIFF directory's image size. */
  width: number;
  height: number;
  /** The McuStarts table (tag 65426, with its high words, tag 65432) when it lists `count` intervals. */
  mcuStarts(count: number): McuStartsTable | undefined;
}

export class LevelJpeg {
  /** Intervals per group across and down; 1 x 1 where intervals must be decoded alone. */
  private readonly groupCols: number;
  private readonly groupRows: number;
  /** Decoded groups (in flight or done), oldest first. */
  private readonly groups = new Map<number, Promise<HeldGroup>>();
  /** Groups that could not be decoded together (their tiles are read alone). */
  private readonly failedGroups = new Set<number>();

  private constructor(
    private readonly source: ByteSource,
    readonly what: string,
    readonly header: JpegHeader,
    readonly grid: JpegGrid,
    private readonly starts: McuStarts,
  ) {
    const unsubsampled = header.components.every((c) => c.h === 1 && c.v === 1);
    this.groupCols = grid.restart && unsubsampled ? Math.max(1, Math.min(grid.tilesAcross, Math.round(GROUP_WIDTH / grid.tileWidth))) : 1;
    this.groupRows = grid.restart && unsubsampled ? Math.max(1, Math.min(grid.tilesDown, Math.round(GROUP_HEIGHT / grid.tileHeight))) : 1;
  }

  static async open(source: ByteSource, o: LevelJpegOptions): Promise<LevelJpeg> {
    const fail = (problem: string) =>
      new SdsError('SLIDE_UNREADABLE', `${source.name}: the JPEG of ${o.what} is not one OpenSlide reads: ${problem}`, {
        suggestion: 'the slide is corrupt; copy or download it again',
        context: { path: source.path, offset: o.start },
      });
    if (o.length < 4 || o.start + o.length > source.size) {
      throw new SdsError('SLIDE_UNREADABLE', `${source.name} is truncated: the JPEG of ${o.what} (bytes ${o.start}..${o.start + o.length}) lies outside the file (${source.size} bytes)`, {
        suggestion: 'copy or download the slide again and compare its size with the original',
        context: { path: source.path, offset: o.start, length: o.length },
      });
    }
    const header = await readJpegHeader(source, o.start, o.length, o.what);
    const grid = levelGrid(header, o.width, o.height, fail);
    const span = { start: o.start, dataStart: o.start + header.bytes.length, end: o.start + o.length };
    const count = grid.tilesAcross * grid.tilesDown;
    // Every interval but the last ends in a 2-byte restart marker: a count the data cannot hold is a corrupt header
    // (and is refused before anything is sized by it).
    if (grid.restart && (count > MAX_INTERVALS || count > o.length / 2 + 1)) {
      throw fail(`its ${grid.tileWidth}x${grid.tileHeight} px restart intervals would number ${count}, more than its ${o.length} bytes can hold`);
    }
    const starts = mcuStarts(source, o.what, span, grid.restart ? count : 1, grid.restart && count > 1 ? o.mcuStarts(count) : undefined);
    return new LevelJpeg(source, o.what, header, grid, starts);
  }

  /**
   * Tile `index` (row-major among the grid's whole tiles) at 1/`denom` of its size; `where` names it in errors
   * ('tile (3, 4) of level 2').
   */
  async tile(index: number, denom: 1 | 2 | 4 | 8, where: string): Promise<RgbImage> {
    const { tileWidth, tileHeight } = this.grid;
    const pixels = tileWidth * tileHeight;
    if (pixels > MAX_BLOCK_PIXELS) {
      throw new SdsError(
        'SLIDE_TOO_LARGE',
        `${this.source.name}: ${this.what} is one ${tileWidth}x${tileHeight} px JPEG without restart markers (${describePixels(pixels)}); sds decodes at most ${describePixels(MAX_BLOCK_PIXELS)} at once`,
        {
          suggestion: 'read a smaller level of this slide; this level can only be decoded whole',
          context: { path: this.source.path, width: tileWidth, height: tileHeight, budget: MAX_BLOCK_PIXELS },
        },
      );
    }
    if (denom === 1 && this.groupCols * this.groupRows > 1) {
      const grouped = await this.groupTile(index);
      if (grouped) return grouped;
    }
    const data = await this.tileData(index, where);
    try {
      if (denom === 1) return await this.decodeFull(data);
      return decodeScaled(this.header, data, tileWidth, tileHeight, denom);
    } catch (cause) {
      if (cause instanceof ScaledJpegUnsupported) {
        throw new SdsError('SLIDE_UNSUPPORTED', `${this.source.name}: ${where} is a 1/${denom} libjpeg-scaled view of ${this.what}, and sds makes those only from baseline 4:2:0 or 4:4:4 JPEGs, not ${cause.message}`, {
          suggestion: 'read the stored level it is derived from, or another level',
          context: { path: this.source.path },
        });
      }
      const reason = [...new Set(String((cause as Error).message ?? cause).split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
      throw new SdsError('SLIDE_UNREADABLE', `${this.source.name}: ${where} cannot be decoded (JPEG): ${reason}`, {
        suggestion: 'the slide is corrupt; copy or download it again',
        context: { path: this.source.path, tile: index },
        cause,
      });
    }
  }

  /**
   * Tile `index` cut from its group's decode; undefined when the group cannot be decoded (the tile is then read
   * alone, so a corrupt interval fails only its own tile, with its own message).
   */
  private async groupTile(index: number): Promise<RgbImage | undefined> {
    const { tilesAcross, tilesDown, tileWidth, tileHeight } = this.grid;
    const col = index % tilesAcross;
    const row = Math.floor(index / tilesAcross);
    const groupsAcross = Math.ceil(tilesAcross / this.groupCols);
    const groupsDown = Math.ceil(tilesDown / this.groupRows);
    const gx = Math.floor(col / this.groupCols);
    const gy = Math.floor(row / this.groupRows);
    const key = gy * groupsAcross + gx;
    if (this.failedGroups.has(key)) return undefined;
    let group = this.groups.get(key);
    if (!group) {
      // Reading downwards (the group above is held): this group and the next ones below in one libjpeg call, whose
      // fixed cost (~0.5 ms) outweighs decoding a 512 x 64 px group several times over.
      let n = 1;
      if (gy > 0 && this.groups.has(key - groupsAcross)) {
        while (n < GROUPS_AHEAD && gy + n < groupsDown && !this.groups.has(key + n * groupsAcross) && !this.failedGroups.has(key + n * groupsAcross)) n++;
      }
      group = this.startGroups(gx, gy, n, groupsAcross);
    }
    let held: HeldGroup;
    try {
      held = await group;
    } catch {
      return undefined;
    }
    const { image } = held;
    const out = new Uint8Array(tileWidth * tileHeight * 3);
    const x = (col - gx * this.groupCols) * tileWidth;
    const y = held.y + (row - gy * this.groupRows) * tileHeight;
    for (let r = 0; r < tileHeight; r++) {
      const from = ((y + r) * image.width + x) * 3;
      out.set(image.data.subarray(from, from + tileWidth * 3), r * tileWidth * 3);
    }
    return { width: tileWidth, height: tileHeight, data: out };
  }

  /**
   * Starts decoding `n` groups from group (gx, gy) downwards as one JPEG, each kept under its own key; returns the
   * first's. Should the batch fail, each group is decoded alone (so one corrupt interval fails one group only).
   */
  private startGroups(gx: number, gy: number, n: number, groupsAcross: number): Promise<HeldGroup> {
    const { tilesAcross, tilesDown } = this.grid;
    const c0 = gx * this.groupCols;
    const cols = Math.min(tilesAcross, c0 + this.groupCols) - c0;
    const rowsOf = (g: number) => Math.min(tilesDown, (g + 1) * this.groupRows) - g * this.groupRows;
    const alone = (g: number) => this.decodeGroup(c0, g * this.groupRows, cols, rowsOf(g)).then((image) => ({ image, y: 0 }));
    const batch = n > 1 ? this.decodeGroup(c0, gy * this.groupRows, cols, Math.min(tilesDown, (gy + n) * this.groupRows) - gy * this.groupRows, true) : undefined;
    batch?.catch(() => undefined);
    let first: Promise<HeldGroup> | undefined;
    for (let i = 0; i < n; i++) {
      const key = (gy + i) * groupsAcross + gx;
      const y = i * this.groupRows * this.grid.tileHeight;
      const group = batch ? batch.then((image) => ({ image, y }), () => alone(gy + i)) : alone(gy);
      this.groups.set(key, group);
      if (this.groups.size > GROUPS_KEPT) this.groups.delete(this.groups.keys().next().value!);
      group.catch(() => {
        this.groups.delete(key);
        this.failedGroups.add(key);
      });
      first ??= group;
    }
    return first!;
  }

  /**
   * `cols` x `rows` intervals from (c0, r0) as one JPEG: their data in order, restart markers renumbered. Each row's
   * intervals are contiguous in the file; rows of a batch (`merge`) whose gaps are small are read together.
   */
  private async decodeGroup(c0: number, r0: number, cols: number, rows: number, merge = false): Promise<RgbImage> {
    const { tilesAcross, tileWidth, tileHeight } = this.grid;
    const rowRanges: { start: number; stop: number }[][] = [];
    for (let r = r0; r < r0 + rows; r++) {
      const ranges: { start: number; stop: number }[] = [];
      for (let i = r * tilesAcross + c0; i < r * tilesAcross + c0 + cols; i++) ranges.push(await this.starts.range(i));
      if (ranges.at(-1)!.stop - ranges[0]!.start > cols * tileWidth * tileHeight * MAX_BYTES_PER_PIXEL) throw new Error('intervals implausibly long');
      rowRanges.push(ranges);
    }
    // Reads: runs of rows, a run extended while the bytes between rows are few.
    const reads: { start: number; stop: number; bytes?: Promise<Uint8Array> }[] = [];
    for (const ranges of rowRanges) {
      const start = ranges[0]!.start;
      const stop = ranges.at(-1)!.stop;
      const last = reads.at(-1);
      if (last && merge && start >= last.stop && start - last.stop <= MAX_READ_GAP) last.stop = stop;
      else reads.push({ start, stop });
    }
    for (const read of reads) read.bytes = this.source.read(read.start, read.stop - read.start, `the JPEG data of ${this.what}`);
    const buffers = await Promise.all(reads.map((read) => read.bytes!));
    const parts: Uint8Array[] = [headerForSize(this.header, cols * tileWidth, rows * tileHeight)];
    let k = 0;
    let at = 0;
    for (const ranges of rowRanges) {
      while (ranges[0]!.start >= reads[at]!.stop) at++;
      const { start } = reads[at]!;
      const bytes = buffers[at]!;
      for (const range of ranges) {
        const data = bytes.subarray(range.start - start, range.stop - start);
        // Each interval's data ends in the next interval's restart marker (or the end-of-image marker).
        if (data.length < 2 || data[data.length - 2] !== 0xff || !(data[data.length - 1]! >= 0xd0 && data[data.length - 1]! <= 0xd9)) throw new Error('an interval not ending in a marker');
        parts.push(data.subarray(0, data.length - 2));
        parts.push(++k === cols * rows ? Uint8Array.of(0xff, 0xd9) : Uint8Array.of(0xff, 0xd0 + ((k - 1) % 8)));
      }
    }
    return decodeJpeg(Buffer.concat(parts), cols * tileWidth, rows * tileHeight);
  }

  /** The tile's entropy-coded data, ending in an end-of-image marker; checked as OpenSlide checks it. */
  private async tileData(index: number, where: string): Promise<Uint8Array> {
    const { start, stop } = await this.starts.range(index);
    const corrupt = (problem: string) =>
      new SdsError('SLIDE_UNREADABLE', `${this.source.name}: ${where} cannot be read: ${problem}`, {
        suggestion: 'the slide is corrupt or truncated; copy or download it again',
        context: { path: this.source.path, tile: index, offset: start },
      });
    const limit = Math.max(1 << 20, this.grid.tileWidth * this.grid.tileHeight * MAX_BYTES_PER_PIXEL);
    if (stop - start > limit) throw corrupt(`its restart interval would be ${stop - start} bytes (bytes ${start}..${stop}), more than ${limit} for ${this.grid.tileWidth}x${this.grid.tileHeight} px`);
    if (stop - start < 2) throw corrupt(`its JPEG data is ${stop - start} bytes long`);
    // The two bytes before an interval must be its restart marker (OpenSlide's check of a listed start).
    const lead = this.grid.restart && index > 0 ? 2 : 0;
    const bytes = await this.source.read(start - lead, stop - start + lead, `the JPEG data of ${where}`);
    if (lead && !(bytes[0] === 0xff && bytes[1]! >= 0xd0 && bytes[1]! <= 0xd7)) throw corrupt(`no restart marker before its data at byte ${start}: McuStarts (tag 65426) is wrong`);
    const data = bytes.subarray(lead);
    // Its end: the next interval's restart marker, or the JPEG's end-of-image; either way a marker, made EOI.
    if (data[data.length - 2] !== 0xff) throw corrupt(`its JPEG data (bytes ${start}..${stop}) does not end in a marker: the data is truncated or McuStarts is wrong`);
    data[data.length - 1] = 0xd9;
    return data;
  }

  private decodeFull(data: Uint8Array): Promise<RgbImage> {
    const { tileWidth, tileHeight } = this.grid;
    return decodeJpeg(Buffer.concat([headerForSize(this.header, tileWidth, tileHeight), data]), tileWidth, tileHeight);
  }
}

/**
 * A JPEG of `width` x `height` px decoded by libjpeg (sharp) to RGB. libjpeg's warnings (corrupt or short data)
 * are errors, as OpenSlide makes them: libvips only reports the first one (as a 'warning' event), so they are
 * collected there.
 */
export async function decodeJpeg(stream: Uint8Array, width: number, height: number): Promise<RgbImage> {
  const image = sharp(stream, { failOn: 'warning', ignoreIcc: true, limitInputPixels: Math.max(1, width * height) });
  const warnings: string[] = [];
  image.on('warning', (message: string) => {
    if (message.startsWith('VipsJpeg:')) warnings.push(message.slice('VipsJpeg:'.length).trim());
  });
  const { data, info } = await image.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (warnings.length) throw new Error(warnings.join('; '));
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw new Error(`libjpeg gave ${info.width}x${info.height} px with ${info.channels} channels, not ${width}x${height} RGB`);
  }
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
