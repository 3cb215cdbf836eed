/**
 * A level whose pixels are TIFF tiles (or parts of them) placed at positions of their own, not on the TIFF grid:
 * Leica SCN composites each main image into the slide-sized collection at its offset, Ventana BIF places scanner
 * tiles at a stitching advance that makes neighbours overlap. OpenSlide paints these pieces onto the region in a
 * fixed order (later ones over earlier ones, transparent where a piece has no pixels); this does the same onto a
 * grid of output tiles, so such a level is one more LevelReader. Decoded TIFF tiles are kept in a small cache of
 * their own, because one of them usually feeds several output tiles.
 */
import type { SourceLevel } from '../../source.js';
import type { FileSource } from '../../file-source.js';
import { isBlank, WHITE } from '../../region.js';
import type { LevelReader } from '../../source-parts.js';
import { TileCache } from '../../tile-cache.js';
import type { RgbImage } from '../../types.js';
import { createTileDecoder, type TileDecoder } from '../../decoders/index.js';
import { codecSettings, readBlock } from '../blocks.js';
import type { TiffDirectory } from '../directory.js';

/** Part of one TIFF tile, drawn at (x, y) of the level. */
export interface Piece {
  dir: TiffDirectory;
  /** Tile index in `dir` (row-major). */
  block: number;
  /** Where the part starts inside the decoded tile. */
  srcX: number;
  srcY: number;
  /** Where it lands in the level (whole pixels), and its size. */
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A stored level (its size, the output grid's tile size, compression, downsample) made of placed pieces. */
export interface PlacedLevel extends SourceLevel {
  /** Level index, for messages. */
  index: number;
  /** In OpenSlide's paint order: where pieces overlap, the earlier one shows. */
  pieces: Piece[];
}

/** Decoded TIFF tiles kept for the output tiles that share them. */
const MEMO_BYTES = 64 * 1024 * 1024;

/** Decoded tiles of one file's directories, shared by all its placed levels. */
export class TileMemo {
  private readonly cache = new TileCache(MEMO_BYTES);
  private readonly decoders = new Map<TiffDirectory, TileDecoder>();

  constructor(private readonly file: FileSource) {}

  read(dir: TiffDirectory, block: number, what: string): Promise<RgbImage> {
    let decoder = this.decoders.get(dir);
    if (!decoder) {
      decoder = createTileDecoder(codecSettings(dir), this.file.name);
      this.decoders.set(dir, decoder);
    }
    const use = decoder;
    return this.cache.get(`${dir.index}:${block}`, () => readBlock(this.file, dir, use, block, what));
  }
}

export function placedLevelReader(memo: TileMemo, spec: PlacedLevel): LevelReader {
  const { tileWidth, tileHeight } = spec;
  const across = Math.ceil(spec.width / tileWidth);
  const down = Math.ceil(spec.height / tileHeight);
  // Which pieces touch which output tile, each list in paint order (pieces with no bytes paint nothing).
  const byTile = new Map<number, Piece[]>();
  for (const piece of spec.pieces) {
    if (piece.width <= 0 || piece.height <= 0 || piece.dir.byteCounts[piece.block] === 0) continue;
    const c0 = Math.max(0, Math.floor(piece.x / tileWidth));
    const c1 = Math.min(across - 1, Math.floor((piece.x + piece.width - 1) / tileWidth));
    const r0 = Math.max(0, Math.floor(piece.y / tileHeight));
    const r1 = Math.min(down - 1, Math.floor((piece.y + piece.height - 1) / tileHeight));
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const key = r * across + c;
        const list = byTile.get(key);
        if (list) list.push(piece);
        else byTile.set(key, [piece]);
      }
    }
  }
  const piecesAt = (col: number, row: number) => (col >= 0 && row >= 0 && col < across && row < down ? byTile.get(row * across + col) : undefined);
  return {
    level: { width: spec.width, height: spec.height, tileWidth, tileHeight, compression: spec.compression, downsample: spec.downsample },
    isEmpty: (col, row) => !piecesAt(col, row),
    async readTile(col, row, signal) {
      const pieces = piecesAt(col, row);
      if (!pieces) return undefined;
      const tx = col * tileWidth;
      const ty = row * tileHeight;
      // Decodes in parallel; painted last to first, so the first piece's pixels end on top.
      const decoded = await Promise.all(
        pieces.map((p) => {
          signal?.throwIfAborted();
          return memo.read(p.dir, p.block, `tile ${p.block} of TIFF directory ${p.dir.index} (level ${spec.index})`);
        }),
      );
      const out = new Uint8Array(tileWidth * tileHeight * 3).fill(WHITE);
      for (let i = pieces.length - 1; i >= 0; i--) {
        const p = pieces[i]!;
        const src = decoded[i]!;
        if (isBlank(src)) continue;
        const x0 = Math.max(tx, p.x);
        const x1 = Math.min(tx + tileWidth, p.x + p.width);
        const y0 = Math.max(ty, p.y);
        const y1 = Math.min(ty + tileHeight, p.y + p.height);
        // A tile decoded smaller than its directory says paints only the pixels it has.
        const sx0 = p.srcX + (x0 - p.x);
        const w = Math.min(x1 - x0, src.width - sx0);
        if (w <= 0) continue;
        for (let y = y0; y < y1; y++) {
          const sy = p.srcY + (y - p.y);
          if (sy >= src.height) break;
          const from = (sy * src.width + sx0) * 3;
          out.set(src.data.subarray(from, from + w * 3), ((y - ty) * tileWidth + (x0 - tx)) * 3);
        }
      }
      return { width: tileWidth, height: tileHeight, data: out };
    },
  };
}

/** The pieces of a whole directory drawn at (offsetX, offsetY): its tiles, each clipped to the image. */
export function directoryPieces(dir: TiffDirectory, offsetX: number, offsetY: number): Piece[] {
  const pieces: Piece[] = [];
  for (let row = 0; row < dir.blocksDown; row++) {
    for (let col = 0; col < dir.blocksAcross; col++) {
      pieces.push({
        dir,
        block: row * dir.blocksAcross + col,
        srcX: 0,
        srcY: 0,
        x: offsetX + col * dir.blockWidth,
        y: offsetY + row * dir.blockHeight,
        width: Math.min(dir.blockWidth, dir.width - col * dir.blockWidth),
        height: Math.min(dir.blockHeight, dir.height - row * dir.blockHeight),
      });
    }
  }
  return pieces;
}
