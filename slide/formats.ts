/** Which files are slides: the one list that `batch`'s folder scan, the server's catalog and training data share. */
import { extname } from 'node:path';

/** File extensions the slide reader opens (Aperio SVS and tiled TIFF pyramids). */
export const SLIDE_EXTENSIONS = ['.svs', '.tif', '.tiff'] as const;

export function isSlidePath(path: string): boolean {
  return (SLIDE_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());
}
