import sharp from 'sharp';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { openSlide } from '../../slide/index.js';
import { defineCommand, opt } from '../args.js';
import { slidePath } from '../positionals.js';

/** A whole-number option whose errors name it (`x must be a number`). */
const int = (what: string, value: string, help: string) =>
  z.coerce.number({ error: `${what} must be a number` }).int({ error: `${what} must be a whole number` }).meta({ value, help });

export const regionCommand = defineCommand({
  name: 'region',
  summary: 'Write one region of a whole-slide image as PNG (coordinates as OpenSlide: x, y at level 0).',
  usage: 'sds region <slide> [--level L] --x X --y Y --width W --height H --out F.png',
  schema: z.object({
    level: int('level', 'L', 'pyramid level (default 0); see `sds info`').min(0).default(0),
    x: int('x', 'X', 'left edge in level-0 pixels'),
    y: int('y', 'Y', 'top edge in level-0 pixels'),
    width: int('width', 'W', 'width in pixels of --level').min(1),
    height: int('height', 'H', 'height in pixels of --level').min(1),
    out: opt.required('FILE', 'output PNG'),
  }),
  async run(o, positionals) {
    const path = slidePath(positionals, 'region');
    if (!/\.png$/i.test(o.out)) throw new SdsError('BAD_ARGUMENT', `region: --out ${o.out} is not a .png file`, { suggestion: 'name the output F.png' });
    const slide = await openSlide(path, { probe: false });
    try {
      const t0 = performance.now();
      const rgb = await slide.readRegion(o.level, o.x, o.y, o.width, o.height);
      await sharp(rgb, { raw: { width: o.width, height: o.height, channels: 3 } }).png().toFile(o.out);
      process.stderr.write(`sds: level ${o.level} region at (${o.x}, ${o.y}) ${o.width}x${o.height} -> ${o.out} (${(performance.now() - t0).toFixed(0)} ms)\n`);
      return 0;
    } finally {
      await slide.close();
    }
  },
});
