import { z } from 'zod';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION, INPUT_OPTIONS, MODEL_OPTIONS } from '../common-options.js';
import { printTable } from '../table.js';
import { classFractions, classScores, initEngine, openModel, modelSpecFromArgs, NORMALIZATIONS, predictBatch, readInput, writeSafetensors } from '../../models/index.js';

export const predictCommand = defineCommand({
  name: 'predict',
  summary: 'Run a model on an image or a tensor batch and print its predictions.',
  usage: 'sds predict --weights W [--arch A] --input IN [--normalize imagenet|minus1to1|none] [--out OUT] [--json]',
  schema: z.object({
    ...MODEL_OPTIONS,
    ...INPUT_OPTIONS,
    ...BACKEND_OPTION,
    out: opt.string('FILE', 'write `logits` (NCHW, like PyTorch) to this .safetensors file').optional(),
    json: opt.flag('print JSON instead of a table'),
    batch: opt.int('N', 'images per forward pass (default 16)').min(1).max(4096).default(16),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const model = await openModel(modelSpecFromArgs(o.weights, o.arch));
    try {
      const input = await readInput(o.input, o.normalize ?? model.normalization);
      const t0 = performance.now();
      const pred = await predictBatch(model, input.data, input.shape, o.batch);
      const ms = performance.now() - t0;
      if (o.out) await writeSafetensors(o.out, { logits: { shape: pred.shape, data: pred.logits } }, { arch: model.arch });
      const n = input.shape[0];
      const k = model.numClasses;
      if (model.kind === 'classifier') {
        const scores = classScores(pred.logits, n, k);
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ arch: model.arch, kind: model.kind, shape: pred.shape, images: input.names.map((name, i) => ({ name, classes: scores[i] })) }, null, 1)}\n`);
        } else {
          const top = Math.min(k, 3);
          const head = ['image', ...Array.from({ length: top }, (_, j) => `#${j + 1} class (${k === 1 ? 'sigmoid' : 'prob'}, logit)`)];
          const rows = scores.map((s, i) => [input.names[i]!, ...s.slice(0, top).map((c) => `${c.cls} (${c.probability.toFixed(4)}, ${c.logit.toFixed(4)})`)]);
          printTable(head, rows);
        }
      } else {
        const [, , h, w] = pred.shape as [number, number, number, number];
        const fractions = classFractions(pred.logits, n, k, h, w);
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ arch: model.arch, kind: model.kind, shape: pred.shape, images: input.names.map((name, i) => ({ name, classFractions: fractions[i] })) }, null, 1)}\n`);
        } else {
          printTable(['image', ...Array.from({ length: k }, (_, c) => `class ${c}${c === 0 ? ' (bg)' : ''}`)], fractions.map((f, i) => [input.names[i]!, ...f.map((v) => `${(v * 100).toFixed(1)}%`)]));
        }
      }
      process.stderr.write(`sds: ${model.arch}, ${n} image(s) ${input.shape[2]}x${input.shape[3]}, ${(ms / n).toFixed(1)} ms/image${o.out ? `, logits -> ${o.out}` : ''}\n`);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
