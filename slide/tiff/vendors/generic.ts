/** Generic tiled TIFF pyramids (OpenSlide's generic-tiff driver): every tiled directory is a level, MPP from the resolution tags. */
import { tiffLevelReader } from '../blocks.js';
import { pyramidLevels, resolutionMpp, tiffProperties } from '../pyramid.js';
import type { TiffVendor } from '../vendor.js';

export const genericTiffVendor: TiffVendor = {
  name: 'generic-tiff',
  detect: () => true,
  async open({ file, dirs }) {
    const levels = pyramidLevels(dirs);
    return {
      vendor: 'generic-tiff',
      levels: levels.map((dir, index) => tiffLevelReader(file, dir, { index })),
      mpp: levels[0] ? resolutionMpp(levels[0]) : undefined,
      properties: tiffProperties(dirs[0]!),
    };
  },
};
