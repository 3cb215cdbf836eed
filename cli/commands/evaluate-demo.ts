import { z } from 'zod';
import { initEngine } from '../../models/index.js';
import { DEMO_MODELS, evaluateDemoModel, RECIPES, type DemoEvaluation } from '../../demo/index.js';
import { defineCommand } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { printTable } from './predict.js';

export const evaluateDemoCommand = defineCommand({
  name: 'evaluate-demo',
  summary: 'Held-out accuracy (classifier) and Dice (U-Net) of the demo models, on generated scenes never trained on.',
  usage: 'sds evaluate-demo [--model tumour-resnet18|tissue-unet34|all] [--dir models-demo] [--count N] [--json]',
  options: {
    model: { type: 'string', value: 'M', help: `which model: ${DEMO_MODELS.join('|')}|all (default all)` },
    dir: { type: 'string', value: 'DIR', help: 'folder with the weights (default models-demo)' },
    count: { type: 'string', value: 'N', help: 'only the first N held-out patches (default: the whole held-out set)' },
    json: { type: 'boolean', help: 'print JSON instead of tables' },
    ...BACKEND_OPTION,
  },
  schema: z.object({
    model: z.enum([...DEMO_MODELS, 'all']).default('all'),
    dir: z.string().default('models-demo'),
    count: z.coerce.number().int().min(1).optional(),
    json: z.boolean().optional(),
    backend: z.string().optional(),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const names = o.model === 'all' ? DEMO_MODELS : [o.model];
    const results: DemoEvaluation[] = [];
    for (const name of names) {
      const r = await evaluateDemoModel(RECIPES[name], o.dir, { count: o.count });
      results.push(r);
      if (!o.json) printEvaluation(r);
    }
    if (o.json) process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
    return 0;
  },
});

const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : `${(100 * v).toFixed(1)}%`);

export function printEvaluation(r: DemoEvaluation): void {
  process.stdout.write(`\n${r.name}: ${r.patches} held-out patch${r.patches === 1 ? '' : 'es'} of ${r.patch} px (scenes never trained on), ${r.seconds.toFixed(0)} s\n`);
  const rows: string[][] =
    r.kind === 'classifier'
      ? [
          ['accuracy (normal vs tumour)', `${pct(r.accuracy)} (${r.correct}/${r.patches})`],
          ['normal: right / called tumour', `${r.confusion![0]![0]} / ${r.confusion![0]![1]}`],
          ['tumour: right / called normal', `${r.confusion![1]![1]} / ${r.confusion![1]![0]}`],
        ]
      : [...Object.entries(r.dice!).map(([c, d]) => [`Dice ${c}`, d.toFixed(3)]), ['pixel accuracy', pct(r.pixelAccuracy)]];
  if (r.surrogateAgreement !== undefined) rows.push([r.kind === 'classifier' ? 'surrogate: top-1 agreement' : 'surrogate: pixel agreement', pct(r.surrogateAgreement)]);
  printTable(['measure', 'value'], rows);
}
