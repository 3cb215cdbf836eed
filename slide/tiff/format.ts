/** The TIFF family as one slide format: parse the directories once, let the first vendor that recognises them lay out the slide. */
import { SdsError } from '../../core/errors.js';
import { FileSource } from '../file-source.js';
import { assembleSource } from '../source-parts.js';
import type { SlideFormat } from '../source.js';
import { readDirectories } from './directory.js';
import { TIFF_VENDORS } from './vendors/index.js';

/** "II*\0", "MM\0*" (classic) and "II+\0", "MM\0+" (BigTIFF). */
export function isTiffHead(head: Uint8Array | undefined): boolean {
  if (!head || head.length < 4) return false;
  const le = head[0] === 0x49 && head[1] === 0x49 && head[3] === 0;
  const be = head[0] === 0x4d && head[1] === 0x4d && head[2] === 0;
  const magic = le ? head[2] : be ? head[3] : undefined;
  return magic === 42 || magic === 43;
}

export const tiffFormat: SlideFormat = {
  name: 'tiff',
  description: 'TIFF family: Aperio SVS, Hamamatsu NDPI, OME-TIFF, Philips TIFF, Leica SCN, Ventana BIF, generic pyramidal TIFF',
  extensions: ['.svs', '.tif', '.tiff', '.scn', '.bif', '.ndpi'],
  detect: async (_path, head) => isTiffHead(head),
  async open(path, { concurrency }) {
    const file = await FileSource.open(path);
    try {
      const dirs = await readDirectories(file);
      const ctx = { file, dirs, concurrency };
      let vendor = TIFF_VENDORS.at(-1)!;
      for (const v of TIFF_VENDORS) {
        if (await v.detect(ctx)) {
          vendor = v;
          break;
        }
      }
      const parts = await vendor.open(ctx);
      if (parts.levels.length === 0) {
        throw new SdsError('SLIDE_UNSUPPORTED', `${file.name} has no tiled image; sds reads tiled pyramidal TIFF and Aperio SVS slides`, {
          suggestion: 'convert it, e.g. `vips tiffsave in.tif out.tif --tile --pyramid --compression jpeg`',
          context: { path: file.path },
        });
      }
      return assembleSource({ ...parts, name: file.name, close: () => file.close() });
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  },
};
