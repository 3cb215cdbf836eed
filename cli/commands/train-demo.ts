import { z } from 'zod';
import { initEngine, tf } from '../../models/index.js';
import { DEMO_MODELS, evaluateDemoModel, RECIPES, trainDemoModel, type DemoPhase } from '../../demo/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { Progress } from '../progress.js';
import { printEvaluation } from '../demo-evaluation.js';

const UNITS: Record<DemoPhase, string> = { data: 'patches rendered', model: 'steps', surrogate: 'surrogate steps' };

export const trainDemoCommand = defineCommand({
  name: 'train-demo',
  summary: 'Train the demo models (tumour classifier, tissue U-Net) and their surrogate paths on generated tissue.',
  usage: 'sds train-demo [--model tumour-resnet18|tissue-unet34|all] [--out models-demo] [--resume] [--steps N] [--surrogate-steps N]',
  schema: z.object({
    model: opt.enum([...DEMO_MODELS, 'all'], 'M', `which model: ${DEMO_MODELS.join('|')}|all (default all)`).default('all'),
    out: opt.string('DIR', 'where the weights go (default models-demo); checkpoints in DIR/.checkpoints').default('models-demo'),
    resume: opt.flag('continue from the last checkpoint (a finished model keeps its surrogate paths)'),
    steps: opt.int('N', "training steps (default: the recipe's; fewer for a quick try)").min(1).optional(),
    'surrogate-steps': opt.int('N', "surrogate training steps (default: the recipe's)").min(1).optional(),
    ...BACKEND_OPTION,
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const names = o.model === 'all' ? DEMO_MODELS : [o.model];
    for (const name of names) {
      const recipe = RECIPES[name];
      let progress: Progress | undefined;
      let phase: DemoPhase | undefined;
      process.stderr.write(`sds: training ${name} (${describe(recipe.spec)}, ${recipe.patch} px, batch ${recipe.batch})\n`);
      const result = await trainDemoModel(recipe, o.out, {
        resume: o.resume,
        steps: o.steps,
        surrogateSteps: o['surrogate-steps'],
        log: (line) => process.stderr.write(`sds: ${line}\n`),
        onStep: (p, step, total, loss) => {
          if (p !== phase) {
            progress?.done();
            phase = p;
            progress = new Progress(UNITS[p], total);
          }
          progress!.update(step, p === 'data' ? '' : `loss ${loss.toFixed(4)}  ${tf.memory().numTensors} tensors`);
        },
      });
      progress?.done();
      process.stderr.write(
        `sds: ${name}: training patches rendered in ${result.dataSeconds.toFixed(0)} s; ${result.steps} steps in ${result.seconds.toFixed(0)} s (final loss ${result.finalLoss.toFixed(4)}); surrogate ${result.surrogateSteps} steps in ${result.surrogateSeconds.toFixed(0)} s; ${(result.bytes / 1e6).toFixed(2)} MB -> ${result.weights}, ${result.surrogate}\n`,
      );
      printEvaluation(await evaluateDemoModel(recipe, o.out));
    }
    return 0;
  },
});

function describe(spec: (typeof RECIPES)[keyof typeof RECIPES]['spec']): string {
  return spec.kind === 'classifier' ? `ResNet${spec.depth} width ${spec.width}` : `U-Net ResNet${spec.depth} width ${spec.width}, decoder ${spec.decoderChannels.join('/')}`;
}
