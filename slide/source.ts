/**
 * The slide-source contract: what every slide format gives the rest of sds. A format is a module that says
 * whether it can open a path (a file, or a folder for DICOM series) and, opened, gives its stored levels as
 * grids of tiles, its properties and its associated images. Everything above it (region reads, the tile
 * cache, virtual levels, tissue detection, the server's catalog, `batch`'s folder scan) works on this
 * contract only, never on a format (viv's PixelSource, TIAToolbox's WSIReader.open).
 */
import type { Dirent } from 'node:fs';
import type { TileCache } from './tile-cache.js';
import type { AssociatedImageInfo, Mpp, RgbImage } from './types.js';

/** One stored pyramid level, as a grid of tiles. Tile (col, row) covers level pixels [col*tileWidth, ...). */
export interface SourceLevel {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  /** How its tiles are stored, for people: 'JPEG', 'JPEG 2000', 'WebP (lossless)', ... */
  compression: string;
  /**
   * Level-0 pixels per pixel of this level where the format states it (OpenSlide takes MRXS's and BIF's from the
   * file); absent: OpenSlide's rule, the mean of the width and height ratios to level 0.
   */
  downsample?: number;
}

export interface SlideSource {
  /** OpenSlide's vendor name where OpenSlide reads the format ('aperio', 'hamamatsu', 'mirax', ...), else ours ('ome-tiff', 'dicom'). */
  readonly vendor: string;
  /** Stored levels, largest first; at least one. */
  readonly levels: readonly SourceLevel[];
  /** µm per level-0 pixel, when the file says. */
  readonly mpp?: Mpp;
  /** Objective power (20, 40, ...), when the file says. */
  readonly objectivePower?: number;
  /**
   * Properties with OpenSlide's names: the vendor's own (`aperio.AppMag`, `hamamatsu.SourceLens`, ...) and the
   * standard ones (`openslide.vendor`, `openslide.mpp-x`, `openslide.objective-power`, `openslide.bounds-*`).
   */
  readonly properties: Readonly<Record<string, string>>;
  readonly associated: readonly AssociatedImageInfo[];
  /**
   * RGB of tile (col, row) of stored level `level`, covering at least the part of the tile inside the level
   * (edge tiles may be full-size or cropped); `undefined` where the file stores nothing (background, shown
   * white). Errors are SdsError naming the file and the tile.
   */
  readTile(level: number, col: number, row: number, signal?: AbortSignal): Promise<RgbImage | undefined>;
  /** Whether the file stores nothing for tile (col, row), known from its tables without reading pixels. */
  isEmpty(level: number, col: number, row: number): boolean;
  /** RGB of an associated image by name (`label`, `macro`, `thumbnail`, ...). */
  readAssociated(name: string, signal?: AbortSignal): Promise<RgbImage>;
  close(): Promise<void>;
}

/** What a format gets when it opens a path. */
export interface SourceOpenOptions {
  /** Decoded pixels the format may keep (e.g. MRXS camera images shared by grid tiles); keys must start with `${format}:`. */
  cache: TileCache;
  /** Decodes in flight within one read. */
  concurrency: number;
}

/** A directory entry as the folder scan sees it. */
export type FolderEntry = Pick<Dirent, 'name' | 'isFile' | 'isDirectory' | 'isSymbolicLink'>;

/** What a format claims of one folder's listing (see `SlideFormat.claim`). */
export interface FolderClaim {
  /** Paths to open as slides (files or folders). */
  slides: string[];
  /** Names in the folder that belong to those slides and are not slides themselves (data folders, other files of a series). */
  owned: string[];
}

export interface SlideFormat {
  /** Short name: 'tiff', 'mrxs', 'dicom'. */
  readonly name: string;
  /** For people: 'TIFF family (Aperio SVS, generic pyramidal TIFF, ...)'. */
  readonly description: string;
  /** Lower-case file extensions with the dot, of files this format opens (may be empty for a folder format). */
  readonly extensions: readonly string[];
  /**
   * Whether this format reads `path`. `head` is up to the first 4 KiB of a file (undefined for a folder). Cheap:
   * magic bytes, the extension, a folder's listing. The registry asks formats in order; the first yes opens it.
   */
  detect(path: string, head: Uint8Array | undefined): Promise<boolean>;
  open(path: string, options: SourceOpenOptions): Promise<SlideSource>;
  /**
   * Folder scan: of `entries` (the listing of `folder`), which are slides of this format and which names belong
   * to them. Formats without folders or companion files need not implement it (their files are found by extension).
   */
  claim?(folder: string, entries: readonly FolderEntry[]): Promise<FolderClaim>;
}
