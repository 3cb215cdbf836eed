import { resolve } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { DEFAULT_SAMPLE_PATH, ensureSample } from '../../slides-sample/index.js';
import { defineCommand, opt } from '../args.js';
import { Progress } from '../progress.js';

/** "8192" (square) or "8192x6144". */
function parseSize(s: string): { width: number; height: number } {
  const m = /^(\d+)(?:x(\d+))?$/.exec(s.trim());
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(width >= 64 && height >= 64 && width <= 200_000 && height <= 200_000)) {
    throw new SdsError('BAD_ARGUMENT', `sample: --size ${s} is not N or WxH with sides 64..200000`, { suggestion: 'e.g. --size 8192 or --size 4096x3072' });
  }
  return { width, height };
}

/** A number option with plain-worded errors. */
const number = (value: string, help: string) => z.coerce.number({ error: 'must be a number' }).meta({ value, help });

export const sampleCommand = defineCommand({
  name: 'sample',
  summary: 'Make (or reuse) the synthetic H&E sample slide with its ground-truth masks; prints its path.',
  usage: 'sds sample [--out slides-sample/sample.svs] [--size 8192] [--seed 1] [--force]',
  schema: z.object({
    out: opt.string('FILE', 'slide path (.svs); masks and JSON go beside it (default slides-sample/sample.svs in the sds folder)').default(DEFAULT_SAMPLE_PATH),
    size: opt.string('N|WxH', 'level-0 size in pixels (default 8192)').default('8192'),
    seed: number('S', 'scene seed (default 1); the same seed gives the same bytes').int({ error: 'must be a whole number' }).min(0).max(2 ** 32 - 1).default(1),
    mpp: number('M', 'microns per pixel (default 0.5, i.e. 20x)').min(0.1).max(4).default(0.5),
    force: opt.flag('regenerate even when a valid sample is there'),
  }),
  async run(o) {
    if (!/\.svs$/i.test(o.out)) throw new SdsError('BAD_ARGUMENT', `sample: --out ${o.out} should end in .svs`, { suggestion: 'e.g. --out slides-sample/sample.svs' });
    const { width, height } = parseSize(o.size);
    const path = resolve(o.out);
    const t0 = performance.now();
    const progress = new Progress('rows', height);
    const { manifest, created } = await ensureSample({
      path,
      width,
      height,
      seed: o.seed,
      mpp: o.mpp,
      force: o.force,
      onProgress: (done) => progress.update(done),
    });
    if (created) progress.done();
    if (created) {
      const mb = (manifest.bytes / 2 ** 20).toFixed(1);
      process.stderr.write(`sds: wrote ${width}x${height} sample (seed ${o.seed}, ${manifest.levels.length} levels, ${mb} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    } else {
      process.stderr.write('sds: sample already there (same seed and size); --force regenerates it\n');
    }
    process.stdout.write(`${path}\n`);
    return 0;
  },
});
