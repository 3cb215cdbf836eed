import { z } from 'zod';
import { openSlide, type SlideInfo } from '../../slide/index.js';
import { defineCommand, opt } from '../args.js';
import { printTable } from '../table.js';
import { slidePath } from '../positionals.js';

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'Describe a whole-slide image of any supported format: vendor, levels (stored and virtual), tile sizes, compression, MPP, objective, associated images, OpenSlide-named properties.',
  usage: 'sds info <slide or DICOM folder> [--json]',
  schema: z.object({
    json: opt.flag('print JSON instead of tables'),
  }),
  async run(o, positionals) {
    const path = slidePath(positionals, 'info');
    // probe: false — describing a slide should work even when its tiles do not decode.
    const slide = await openSlide(path, { probe: false });
    try {
      if (o.json) process.stdout.write(`${JSON.stringify(slide.info, null, 1)}\n`);
      else printInfo(slide.info);
      return 0;
    } finally {
      await slide.close();
    }
  },
});

function printInfo(info: SlideInfo): void {
  const mpp = info.mpp ? (info.mpp.x === info.mpp.y ? `${round(info.mpp.x)} µm/px` : `${round(info.mpp.x)} x ${round(info.mpp.y)} µm/px`) : 'unknown';
  process.stdout.write(`${info.path}\n  vendor: ${info.vendor}\n  MPP: ${mpp}\n  objective: ${info.magnification ? `${info.magnification}x` : 'unknown'}\n\n`);
  printTable(
    ['level', 'size', 'downsample', 'tile', 'compression'],
    info.levels.map((l) => [String(l.index), `${l.width}x${l.height}`, round(l.downsample), `${l.tileWidth}x${l.tileHeight}`, l.virtual ? `virtual (2x2 mean of level ${l.index - 1})` : l.compression]),
  );
  if (info.associated.length) {
    process.stdout.write('\n');
    printTable(['associated', 'size', 'compression'], info.associated.map((a) => [a.name, `${a.width}x${a.height}`, a.compression]));
  }
  const props = Object.entries(info.properties).sort(([a], [b]) => a.localeCompare(b));
  if (props.length) {
    process.stdout.write('\n');
    // One line per property; long values (an XML description) cut to keep the table readable (--json has them whole).
    printTable(['property', 'value'], props.map(([k, v]) => [k, v.length > 100 ? `${v.slice(0, 97).replace(/\s+/g, ' ')}...` : v.replace(/\s+/g, ' ')]));
  }
}

function round(v: number): string {
  return String(Math.round(v * 10_000) / 10_000);
}
