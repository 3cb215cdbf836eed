/**
 * One image of a DICOM WSI series (a pyramid level, or a label / overview / thumbnail) as a grid of tiles: the
 * instance, or the parts of a concatenation, that hold it; which frame is which tile (TILED_FULL: row-major, first
 * focal plane of the chosen optical path; TILED_SPARSE: from the per-frame positions, tiles without a frame
 * are empty); and decoding a tile.
 */
import { SdsError } from '../../core/errors.js';
import { describePixels, MAX_ASSOCIATED_PIXELS, MAX_BLOCK_PIXELS } from '../limits.js';
import { blankTile, composeRegion } from '../region.js';
import type { AssociatedReader, LevelReader } from '../source-parts.js';
import type { RgbImage } from '../types.js';
import type { TileDecoder } from '../decoders/registry.js';
import { compressionLabel, frameDecoder } from './codecs.js';
import { frameTable, type FrameTable } from './frames.js';
import type { WsiInstance } from './instance.js';

/** Tiles of a TILED_SPARSE grid (64 MiB of map): a 1M x 1M px level in 256 px frames. */
const MAX_SPARSE_TILES = 2 ** 24;

interface Part {
  instance: WsiInstance;
  /** Index of its first frame in the image (concatenation) frame numbering. */
  frameOffset: number;
  frames: FrameTable;
  decoder: TileDecoder;
}

export interface DicomImage {
  /** The first part's file name, for messages. */
  name: string;
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  compression: string;
  isEmpty(col: number, row: number): boolean;
  readTile(col: number, row: number, what: string, signal?: AbortSignal): Promise<RgbImage | undefined>;
}

/**
 * The image held by `instances` (one, or the parts of one concatenation), showing optical path `opticalPath`
 * (undefined: the first). Frame tables are read here, so a missing or truncated part fails at open.
 */
export async function openImage(instances: WsiInstance[], opticalPath: string | undefined): Promise<DicomImage> {
  const ordered = orderParts(instances);
  const first = ordered[0]!;
  const { width, height } = first;
  const { rows: tileHeight, columns: tileWidth } = first.format;
  const parts: Part[] = [];
  let offset = 0;
  for (const instance of ordered) {
    const nativeBytes = tileWidth * tileHeight * instance.format.samplesPerPixel;
    const frames = await frameTable(instance.file, instance.header, { frames: instance.frames, nativeBytes });
    parts.push({ instance, frameOffset: offset, frames, decoder: frameDecoder(instance.format, instance.file.name) });
    offset += instance.frames;
  }
  const totalFrames = offset;
  const across = Math.ceil(width / tileWidth);
  const down = Math.ceil(height / tileHeight);
  if (first.organization === 'TILED_SPARSE' && across * down > MAX_SPARSE_TILES) {
    // The tile -> frame map is allocated per tile: a few header bytes must not claim gigabytes of it.
    throw new SdsError('SLIDE_TOO_LARGE', `${first.file.name}: its ${width}x${height} image in ${tileWidth}x${tileHeight} frames is a grid of ${across * down} tiles, more than the ${MAX_SPARSE_TILES} sds maps for a TILED_SPARSE image`, {
      suggestion: 'the file is corrupt, or its frames are far smaller than slides use',
      context: { path: first.file.path, tiles: across * down, budget: MAX_SPARSE_TILES },
    });
  }
  const tileFrame = first.organization === 'TILED_SPARSE' ? sparseTiles(parts, across, down, opticalPath) : undefined;
  let base = 0;
  if (!tileFrame) {
    const paths = Math.max(1, first.opticalPaths.length);
    const planes = Math.max(1, first.focalPlanes);
    const needed = across * down * planes * paths;
    if (totalFrames !== needed) {
      throw new SdsError(
        'SLIDE_UNREADABLE',
        `${first.file.name}${parts.length > 1 ? ` (and ${parts.length - 1} more parts of its concatenation)` : ''} holds ${totalFrames} frames; its TILED_FULL grid of ${across}x${down} tiles` +
          `${planes > 1 ? ` x ${planes} focal planes` : ''}${paths > 1 ? ` x ${paths} optical paths` : ''} needs ${needed}`,
        { suggestion: 'a part of the image is missing or the file is corrupt; export the series again', context: { path: first.file.path, frames: totalFrames, needed } },
      );
    }
    // Frames run over the tiles, then the focal planes, then the optical paths: the chosen path's first plane.
    base = Math.max(0, opticalPath === undefined ? 0 : first.opticalPaths.indexOf(opticalPath)) * planes * across * down;
  }
  const frameOf = (col: number, row: number) => (tileFrame ? tileFrame[row * across + col]! : base + row * across + col);
  const partOf = (frame: number) => {
    let p = parts.length - 1;
    while (p > 0 && parts[p]!.frameOffset > frame) p--;
    return parts[p]!;
  };
  return {
    name: first.file.name,
    width,
    height,
    tileWidth,
    tileHeight,
    compression: compressionLabel(first.format.transferSyntax),
    isEmpty: (col, row) => frameOf(col, row) < 0,
    async readTile(col, row, what, signal) {
      const frame = frameOf(col, row);
      if (frame < 0) return undefined;
      signal?.throwIfAborted();
      // Checked before a byte is read: every decoder's output is bounded by the declared frame size.
      const pixels = tileWidth * tileHeight;
      if (pixels > MAX_BLOCK_PIXELS) throw tooLarge(first.file.name, `one ${tileWidth}x${tileHeight} frame`, pixels, MAX_BLOCK_PIXELS);
      const part = partOf(frame);
      const local = frame - part.frameOffset;
      const file = part.instance.file;
      const label = `${what} (frame ${local + 1})`;
      const bytes = await part.frames.read(local, label, signal);
      let decoded: RgbImage;
      try {
        decoded = await part.decoder.decode(bytes);
      } catch (cause) {
        const code = cause instanceof SdsError ? cause.code : 'SLIDE_UNREADABLE';
        const reason = [...new Set(String((cause as Error)?.message ?? cause).split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
        throw new SdsError(code, `${file.name}: ${label} cannot be decoded (${compressionLabel(part.instance.format.transferSyntax)}): ${reason}`, {
          suggestion: cause instanceof SdsError && cause.suggestion ? cause.suggestion : 'the slide is corrupt; copy or export it again',
          context: { path: file.path, frame: local + 1, block: frame },
          cause,
        });
      }
      if (decoded.width !== tileWidth || decoded.height !== tileHeight) {
        throw new SdsError('SLIDE_UNREADABLE', `${file.name}: ${label} decoded to ${decoded.width}x${decoded.height} px; its frames are ${tileWidth}x${tileHeight}`, {
          suggestion: 'the frame data is corrupt; copy or export the slide again',
          context: { path: file.path, frame: local + 1, block: frame },
        });
      }
      return decoded;
    },
  };
}

/** Concatenation parts in frame order, checked complete and alike; a single instance as it is. */
function orderParts(instances: WsiInstance[]): WsiInstance[] {
  if (instances.length === 1 && !instances[0]!.concatenation) return instances;
  const parts = [...instances].sort((a, b) => a.concatenation!.frameOffset - b.concatenation!.frameOffset);
  const first = parts[0]!;
  const uid = first.concatenation!.uid;
  const missing = (what: string) =>
    new SdsError('SLIDE_UNREADABLE', `the concatenation ${uid} (${parts.map((p) => p.file.name).join(', ')}) is incomplete: ${what}`, {
      suggestion: 'copy every file of the series into the folder; a level split over several files needs all of them',
      context: { concatenation: uid, files: parts.map((p) => p.file.path) },
    });
  const total = parts.map((p) => p.concatenation!.total).find((t) => t !== undefined);
  if (total !== undefined && parts.length !== total) {
    const have = new Set(parts.map((p) => p.concatenation!.number));
    const absent = Array.from({ length: total }, (_, i) => i + 1).filter((n) => !have.has(n));
    throw missing(`it declares ${total} parts, ${parts.length} are here${absent.length ? ` (part${absent.length > 1 ? 's' : ''} ${absent.join(', ')} missing)` : ''}`);
  }
  let expected = 0;
  for (const p of parts) {
    if (p.concatenation!.frameOffset !== expected) {
      throw missing(`${p.file.name} starts at frame ${p.concatenation!.frameOffset + 1}, but the parts before it end at frame ${expected}`);
    }
    expected += p.frames;
    const f = p.format;
    const g = first.format;
    if (p.width !== first.width || p.height !== first.height || f.rows !== g.rows || f.columns !== g.columns || f.transferSyntax !== g.transferSyntax || p.organization !== first.organization) {
      throw new SdsError('SLIDE_UNREADABLE', `${p.file.name} and ${first.file.name} are parts of one concatenation but differ in size, frame size, transfer syntax or organization`, {
        suggestion: 'the series is inconsistent; export it again',
        context: { concatenation: uid },
      });
    }
  }
  return parts;
}

/** TILED_SPARSE: the frame (image numbering) of each tile, -1 where none; one optical path, one focal plane. */
function sparseTiles(parts: Part[], across: number, down: number, opticalPath: string | undefined): Int32Array {
  const out = new Int32Array(across * down).fill(-1);
  const { rows: th, columns: tw } = parts[0]!.instance.format;
  // The chosen path ('' matches frames that do not say), and the focal plane of its first frame.
  let plane: number | undefined;
  for (const part of parts) {
    const s = part.instance.sparse!;
    for (let f = 0; f < part.frames.count; f++) {
      const path = s.path[f]!;
      if (opticalPath !== undefined && path !== '' && path !== opticalPath) continue;
      const z = s.z[f]!;
      plane ??= z;
      if (!(Number.isNaN(plane) ? Number.isNaN(z) : z === plane)) continue;
      const c = s.column[f]! - 1;
      const r = s.row[f]! - 1;
      if (c % tw !== 0 || r % th !== 0 || c < 0 || r < 0 || c / tw >= across || r / th >= down) {
        throw new SdsError('SLIDE_UNSUPPORTED', `${part.instance.file.name}: frame ${f + 1} lies at column ${c + 1}, row ${r + 1}, off the ${tw}x${th} tile grid of its ${parts[0]!.instance.width}x${parts[0]!.instance.height} image`, {
          suggestion: 'sds reads TILED_SPARSE images whose frames sit on the tile grid; convert the slide (e.g. with wsidicomizer)',
          context: { path: part.instance.file.path, frame: f + 1 },
        });
      }
      const tile = (r / th) * across + c / tw;
      if (out[tile] === -1) out[tile] = part.frameOffset + f;
    }
  }
  return out;
}

export function levelReader(image: DicomImage, index: number): LevelReader {
  return {
    level: { width: image.width, height: image.height, tileWidth: image.tileWidth, tileHeight: image.tileHeight, compression: image.compression },
    isEmpty: (col, row) => image.isEmpty(col, row),
    readTile(col, row, signal) {
      return image.readTile(col, row, `tile (${col}, ${row}) of level ${index}`, signal);
    },
  };
}

/** A label / overview / thumbnail, read whole (all its frames) within MAX_ASSOCIATED_PIXELS. */
export function associatedReader(image: DicomImage, name: string, concurrency: number): AssociatedReader {
  return {
    info: { name, width: image.width, height: image.height, compression: image.compression },
    async read(signal) {
      const pixels = image.width * image.height;
      if (pixels > MAX_ASSOCIATED_PIXELS) throw tooLarge(image.name, `its ${image.width}x${image.height} ${name} image`, pixels, MAX_ASSOCIATED_PIXELS);
      const grid = { width: image.width, height: image.height, tileWidth: image.tileWidth, tileHeight: image.tileHeight };
      const data = await composeRegion(
        grid,
        0,
        0,
        image.width,
        image.height,
        async (col, row) => (await image.readTile(col, row, `${name} tile (${col}, ${row})`, signal)) ?? blankTile(image.tileWidth, image.tileHeight),
        { signal, concurrency },
      );
      return { width: image.width, height: image.height, data };
    },
  };
}

function tooLarge(fileName: string, what: string, pixels: number, budget: number): SdsError {
  return new SdsError('SLIDE_TOO_LARGE', `${fileName}: ${what} is ${describePixels(pixels)}, more than the ${describePixels(budget)} sds decodes at once`, {
    suggestion: 'the file is corrupt, or its frames are far larger than slides use',
    context: { file: fileName, pixels, budget },
  });
}
