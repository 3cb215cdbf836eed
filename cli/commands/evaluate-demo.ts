import { z } from 'zod';
import { initEngine } from '../../models/index.js';
import { DEMO_MODELS, evaluateDemoModel, RECIPES, type DemoEvaluation } from '../../demo/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { printEvaluation } from '../demo-evaluation.js';

export const evaluateDemoCommand = defineCommand({
  name: 'evaluate-demo',
  summary: 'Held-out accuracy (classifier) and Dice (U-Net) of the demo models, on generated scenes never trained on.',
  usage: 'sds evaluate-demo [--model tumour-resnet18|tissue-unet34|all] [--dir models-demo] [--count N] [--json]',
  schema: z.object({
    model: opt.enum([...DEMO_MODELS, 'all'], 'M', `which model: ${DEMO_MODELS.join('|')}|all (default all)`).default('all'),
    dir: opt.string('DIR', 'folder with the weights (default models-demo)').default('models-demo'),
    count: opt.int('N', 'only the first N held-out patches (default: the whole held-out set)').min(1).optional(),
    json: opt.flag('print JSON instead of tables'),
    ...BACKEND_OPTION,
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
