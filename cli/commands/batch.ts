import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { SdsError, formatError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import { analyzeCommand, analyzeWithProgress } from './analyze.js';
import { defineCommand } from '../args.js';
import { formatSeconds } from '../progress.js';
import { printTable } from './predict.js';

const SLIDE_EXT = new Set(['.svs', '.tif', '.tiff']);

export const batchCommand = defineCommand({
  name: 'batch',
  summary: 'Analyze every slide of a folder; finished slides are skipped, so a rerun resumes; failures are reported, not fatal.',
  usage: 'sds batch <folder> --out DIR --weights W [the options of sds analyze]',
  options: analyzeCommand.options,
  schema: analyzeCommand.schema,
  async run(o, positionals) {
    const folder = positionals[0];
    if (!folder || positionals.length > 1) throw new SdsError('BAD_ARGUMENT', 'give exactly one folder of slides', { suggestion: 'sds batch <folder> --out DIR --weights W' });
    let names: string[];
    try {
      names = (await readdir(folder)).filter((f) => SLIDE_EXT.has(extname(f).toLowerCase())).sort();
    } catch (cause) {
      throw new SdsError('FILE_NOT_FOUND', `cannot read folder ${folder}`, { cause });
    }
    if (!names.length) throw new SdsError('BAD_INPUT', `no slides (.svs, .tif, .tiff) in ${folder}`);
    await initEngine({ engine: o.backend });
    const rows: string[][] = [];
    const t0 = performance.now();
    let failures = 0, patches = 0, worked = 0, workSeconds = 0;
    for (const [i, name] of names.entries()) {
      const manifest = join(o.out, basename(name, extname(name)), 'manifest.json');
      const elapsed = (performance.now() - t0) / 1000;
      // overall ETA from the slides analysed so far in this run (skipped ones cost nothing)
      const todo = names.length - i;
      const eta = worked ? formatSeconds((workSeconds / worked) * todo) : '--';
      process.stderr.write(`sds: slide ${i + 1}/${names.length} ${name}  elapsed ${formatSeconds(elapsed)}  ETA ${eta}\n`);
      if (existsSync(manifest)) {
        rows.push([name, 'done earlier', '-', '-']);
        continue;
      }
      const s0 = performance.now();
      try {
        const r = await analyzeWithProgress(o, join(folder, name), `[${i + 1}/${names.length}] `);
        patches += r.manifest.patches.count;
        const resumed = r.stats.reused ? ` (resumed: ${r.stats.reused}/${r.stats.reused + r.stats.computed} batches from the journal)` : '';
        rows.push([name, `done${resumed}`, String(r.manifest.patches.count), formatSeconds(r.stats.seconds)]);
      } catch (err) {
        failures++;
        process.stderr.write(`${formatError(err)}\n`);
        rows.push([name, `failed: ${(err as Error).message.split('\n')[0]}`, '-', formatSeconds((performance.now() - s0) / 1000)]);
      }
      worked++;
      workSeconds += (performance.now() - s0) / 1000;
    }
    process.stdout.write('\n');
    printTable(['slide', 'status', 'patches', 'time'], rows);
    const secs = (performance.now() - t0) / 1000;
    process.stdout.write(`${names.length} slides, ${failures} failed, ${patches} patches, ${formatSeconds(secs)} in all${patches ? ` (${(patches / secs).toFixed(2)} patches/s)` : ''}\n`);
    return failures ? 1 : 0;
  },
});
