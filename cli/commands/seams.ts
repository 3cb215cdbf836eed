/**
 * `sds seams <analysis-dir>`: how visible the patch grid is in each overlay of a finished analysis
 * (results/seams.ts: neighbour differences across patch borders over those inside patches; 1.0 =
 * no seam, below 1 a line of fading values along the borders, above 1 a jump).
 */
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { measureSeams, readManifest } from '../../results/index.js';
import { defineCommand, opt } from '../args.js';
import { printTable } from '../table.js';

export const seamsCommand = defineCommand({
  name: 'seams',
  summary: 'How visible the patch grid is in each overlay of an analysis (1.0 = no seam).',
  usage: 'sds seams <analysis-dir> [--json]',
  schema: z.object({ json: opt.flag('print JSON instead of a table') }),
  async run(o, positionals) {
    const [dir, ...extra] = positionals;
    if (!dir || extra.length) throw new SdsError('BAD_ARGUMENT', 'give exactly one analysis folder', { suggestion: 'sds seams DIR/<slide name> (a folder with manifest.json, written by sds analyze)' });
    const m = await readManifest(dir);
    const rows = [];
    for (const overlay of m.overlays) rows.push(await measureSeams(dir, m, overlay));
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ patch: m.patches.size, overlap: m.patches.overlap, overlays: rows }, null, 1)}\n`);
      return 0;
    }
    process.stdout.write(`patches of ${m.patches.size} px, overlap ${m.patches.overlap}\n`);
    printTable(
      ['overlay', 'seam ratio', 'across borders', 'inside patches'],
      rows.map((r) => [r.key, Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : '- (flat patches)', r.seam.toExponential(3), r.inside.toExponential(3)]),
    );
    return 0;
  },
});
