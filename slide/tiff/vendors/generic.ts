/**
 * Generic tiled TIFF pyramids (OpenSlide's generic-tiff driver): every tiled directory is a level, MPP from the
 * resolution tags. Unlike OpenSlide 3.4.1, a pyramid kept in the SubIFDs of its single full-size image (`vips
 * tiffsave --subifd`) is read whole, and separate colour planes (PlanarConfiguration 2) are read as RGB.
 */
import { pyramidWithSubIfds, resolutionMpp, tiffProperties } from '../pyramid.js';
import { directoryLevelReader } from '../planes.js';
import type { TiffVendor } from '../vendor.js';

export const genericTiffVendor: TiffVendor = {
  name: 'generic-tiff',
  detect: () => true,
  async open({ file, dirs }) {
    const levels = pyramidWithSubIfds(dirs);
    return {
      vendor: 'generic-tiff',
      levels: levels.map((dir, index) => directoryLevelReader(file, dir, { index })),
      mpp: levels[0] ? resolutionMpp(levels[0]) : undefined,
      properties: tiffProperties(dirs[0]!),
    };
  },
};
