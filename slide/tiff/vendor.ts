/**
 * TIFF vendors: the TIFF-based formats (Aperio, Hamamatsu NDPI, Philips, Leica SCN, Ventana BIF, OME-TIFF,
 * generic pyramids) share the container and differ in which directories are levels, what is an associated
 * image and where MPP and properties live. Each is a module with `detect` and `open` over the parsed
 * directories, as OpenSlide's vendor drivers are; the first that detects the file opens it.
 */
import type { FileSource } from '../file-source.js';
import type { SourceParts } from '../source-parts.js';
import type { TiffDirectory } from './directory.js';

export interface TiffContext {
  file: FileSource;
  /** The main IFD chain, in file order. */
  dirs: TiffDirectory[];
  concurrency: number;
}

/** What a vendor makes of a TIFF: a source's parts but its name and close (the TIFF format owns the file). */
export type TiffParts = Omit<SourceParts, 'name' | 'close'>;

export interface TiffVendor {
  /** OpenSlide's vendor name, or ours for formats OpenSlide lacks ('ome-tiff'). */
  name: string;
  /** From the parsed directories (descriptions, tags; `readTag` for vendor tags): whether this vendor wrote the file. */
  detect(ctx: TiffContext): boolean | Promise<boolean>;
  open(ctx: TiffContext): Promise<TiffParts>;
}
