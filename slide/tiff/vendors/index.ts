/**
 * The TIFF vendors in detection order: specific layouts first, the generic pyramid last (it takes any tiled TIFF).
 * A new TIFF-based format is one module in this folder and one line here.
 */
import type { TiffVendor } from '../vendor.js';
import { aperioVendor } from './aperio.js';
import { genericTiffVendor } from './generic.js';
import { hamamatsuVendor } from './hamamatsu.js';
import { leicaVendor } from './leica.js';
import { omeTiffVendor } from './ome.js';
import { philipsVendor } from './philips.js';
import { ventanaVendor } from './ventana.js';

export const TIFF_VENDORS: readonly TiffVendor[] = [omeTiffVendor, philipsVendor, leicaVendor, ventanaVendor, hamamatsuVendor, aperioVendor, genericTiffVendor];
