import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { buildModel, initEngine, loadWeights } from '../../models/index.js';
import { openPatchSource, type PatchSource } from '../../pipeline/index.js';
import { evaluate, SurrogatePaths, type EvaluationReport, type MethodName, type Variant } from '../../saliency/index.js';
import { writeLineChart, type Series } from '../../viz/index.js';
import { defineCommand } from '../args.js';
import { BACKEND_OPTION, MODEL_OPTIONS, MODEL_SCHEMA } from '../common-options.js';
import { parseMethods, parseVariants, splitList } from '../list.js';
import { Progress } from '../progress.js';

export const evaluateCommand = defineCommand({
  name: 'evaluate',
  summary: "The paper's evaluation on a folder of patches: TV, insertion/deletion, prediction difference, randomization; report.md with plots.",
  usage: 'sds evaluate --weights W [--arch A] --data D [--surrogate P] --out DIR [--layers ...] [--methods grad,deeplift] [--limit 8]',
  options: {
    ...MODEL_OPTIONS,
    patch: { type: 'string', value: 'N', help: 'patch side when --data is a slide or a folder of .svs slides (default 224; tissue only)' },
    ...BACKEND_OPTION,
    data: { type: 'string', value: 'D', help: 'folder of image patches, or .safetensors with `input`' },
    surrogate: { type: 'string', value: 'FILE', help: 'trained surrogate paths; adds the surrogate variant' },
    out: { type: 'string', value: 'DIR', help: 'report folder (report.md, plots as SVG and PNG, report.json)' },
    layers: { type: 'string', value: 'L,...', help: 'layers (default: input and the last block of each stage)' },
    methods: { type: 'string', value: 'M,...', help: 'methods among grad, deeplift, ig (default grad,deeplift)' },
    variants: { type: 'string', value: 'V,...', help: 'variants (default original,backward-hook,forward-hook[,surrogate])' },
    limit: { type: 'string', value: 'N', help: 'patches evaluated (default 8)' },
    steps: { type: 'string', value: 'N', help: 'Integrated Gradients steps (default 50)' },
    'no-randomization': { type: 'boolean', help: 'skip the model randomization test' },
    seed: { type: 'string', value: 'S', help: 'seed for random maps and re-initialisation (default 0)' },
  },
  schema: z.object({
    ...MODEL_SCHEMA,
    patch: z.coerce.number().int().min(32).max(4096).default(224),
    data: z.string({ error: 'is required' }),
    surrogate: z.string().optional(),
    out: z.string({ error: 'is required' }),
    layers: z.string().optional(),
    methods: z.string().default('grad,deeplift'),
    variants: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(100000).default(8),
    steps: z.coerce.number().int().min(1).max(1000).default(50),
    'no-randomization': z.boolean().optional(),
    seed: z.coerce.number().int().min(0).default(0),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const w = await loadWeights(o.weights);
    const model = buildModel(w.tensors, w.source, o.arch);
    let surrogate: SurrogatePaths | undefined;
    let source: PatchSource | undefined;
    try {
      if (o.surrogate) {
        const s = await loadWeights(o.surrogate);
        surrogate = SurrogatePaths.fromStateDict(model, s.tensors, s.source);
      }
      const methods = parseMethods(o.methods);
      const variants = parseVariants(o.variants ?? ['original', 'backward-hook', 'forward-hook', ...(surrogate ? ['surrogate'] : [])].join(','));
      if (variants.includes('surrogate') && !surrogate) throw new SdsError('BAD_ARGUMENT', 'the surrogate variant needs --surrogate PATHS');
      const stageEnds = model.layerNames.filter((l, i, all) => l !== 'input' && all[i + 1]?.split('_')[0] !== l.split('_')[0]);
      const layers = o.layers ? splitList(o.layers) : ['input', ...stageEnds];
      source = await openPatchSource(o.data, model.normalization, { patch: o.patch });
      process.stderr.write(`sds: evaluating ${model.arch} on ${Math.min(o.limit, source.count)} patches of ${source.description}\n`);
      let progress: Progress | undefined;
      const report = await evaluate(model, w.tensors, source, {
        layers,
        methods,
        variants,
        surrogate,
        limit: o.limit,
        steps: o.steps,
        randomization: !o['no-randomization'],
        seed: o.seed,
        onProgress: (what, done, total) => {
          if (!progress || done === 0) progress = new Progress('jobs', total);
          progress.update(done, what);
        },
      });
      progress?.done();
      await mkdir(o.out, { recursive: true });
      const md = await writeReport(o.out, report, model.arch, layers, methods, variants);
      await writeFile(join(o.out, 'report.json'), `${JSON.stringify(report, null, 1)}\n`);
      process.stdout.write(md);
      process.stderr.write(`sds: report -> ${join(o.out, 'report.md')}\n`);
      return 0;
    } finally {
      await source?.close?.();
      surrogate?.dispose();
      model.dispose();
    }
  },
});

const f4 = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : '-');

function table(head: string[], rows: string[][]): string {
  return `| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`;
}

async function writeReport(dir: string, r: EvaluationReport, arch: string, layers: string[], methods: MethodName[], variants: Variant[]): Promise<string> {
  let md = `# Saliency evaluation: ${arch}\n\n${r.images} patches of ${r.size[0]}x${r.size[1]} px. Layers: ${layers.join(', ')}.\n\n`;
  md += '## Total variation (lower is smoother)\n\n';
  for (const m of methods) {
    const series: Series[] = variants.map((v) => ({ name: v, values: layers.map((l) => r.tv.find((t) => t.variant === v && t.method === m && t.layer === l)?.tv ?? NaN) }));
    await writeLineChart(join(dir, `tv-${m}`), `Total variation, ${m}`, layers, series, 'TV');
    md += `![TV ${m}](tv-${m}.png)\n\n`;
    md += table(['variant', ...layers], series.map((s) => [s.name, ...s.values.map(f4)]));
    const orig = series.find((s) => s.name === 'original');
    if (orig) {
      // hidden layers where TV is defined (the last block's gradient is spatially constant: TV 0)
      const hidden = layers.map((l, i) => i).filter((i) => layers[i] !== 'input' && orig.values[i]! > 0);
      const red = series
        .filter((s) => s.name !== 'original')
        .map((s) => `${s.name} ${(100 * (1 - hidden.reduce((a, i) => a + s.values[i]! / orig.values[i]!, 0) / hidden.length)).toFixed(1)}%`);
      md += `\nTV reduction over hidden layers (${m}): ${red.join(', ')}\n\n`;
    }
  }
  md += '## Insertion and deletion (RISE; maps judged on the original model)\n\n';
  for (const kind of ['deletion', 'insertion'] as const) {
    for (const m of methods) {
      const series: Series[] = variants.map((v) => ({ name: v, values: layers.map((l) => r.insdel.find((t) => t.variant === v && t.method === m && t.layer === l)?.[kind] ?? NaN) }));
      series.push({ name: 'random map', values: layers.map((l) => r.insdel.find((t) => t.variant === 'random' && t.layer === l)?.[kind] ?? NaN) });
      const cam = r.insdel.find((t) => t.method === 'gradcam');
      if (cam) series.push({ name: 'GradCAM', values: layers.map((l) => (l === cam.layer ? cam[kind] : NaN)) });
      await writeLineChart(join(dir, `${kind}-${m}`), `${kind === 'deletion' ? 'Deletion AUC (lower is better)' : 'Insertion AUC (higher is better)'}, ${m}`, layers, series, `${kind} AUC`);
      md += `![${kind} ${m}](${kind}-${m}.png)\n\n`;
      md += table(['maps', ...layers], series.map((s) => [s.name, ...s.values.map(f4)]));
      md += '\n';
    }
  }
  if (r.prediction.length) {
    md += '## Prediction difference against the original (x100), top-1 agreement and accuracy\n\n';
    const acc = (p: (typeof r.prediction)[number]) => (p.accuracy === undefined ? 'no labels' : `${(100 * p.accuracy).toFixed(1)}%`);
    md += table(['variant', 'all classes', 'predicted class', 'agreement', 'accuracy'], r.prediction.map((p) => [p.variant, (100 * p.all).toFixed(3), (100 * p.target).toFixed(3), `${(100 * p.agreement).toFixed(1)}%`, acc(p)]));
    md += '\nAccuracy needs labels: put patches in one subfolder per class (sorted names are classes 0, 1, ...).\n';
    md += '\n';
  }
  if (r.randomization.length) {
    md += `## Model randomization (${r.method}; cumulative from the top)\n\nSpearman correlation of each map with the trained model's map: a faithful method loses it as weights are randomised.\n\n`;
    const steps = [...new Set(r.randomization.map((x) => x.step))];
    for (const v of [...new Set(r.randomization.map((x) => x.variant))]) {
      const series: Series[] = layers.map((l) => ({ name: l, values: steps.map((s) => r.randomization.find((x) => x.variant === v && x.step === s && x.layer === l)?.spearman ?? NaN) }));
      await writeLineChart(join(dir, `randomization-${v}`), `Randomization, ${v}`, steps, series, 'Spearman vs trained');
      md += `![randomization ${v}](randomization-${v}.png)\n\n`;
      md += table(['layer', ...steps], series.map((s) => [s.name, ...s.values.map(f4)]));
      const rows = layers.map((l) => [l, ...steps.map((s) => {
        const x = r.randomization.find((y) => y.variant === v && y.step === s && y.layer === l)!;
        return `${f4(x.deletion)} / ${f4(x.randomDeletion)}`;
      })]);
      md += `\nDeletion AUC of the map / of a random map, per step (${v}):\n\n${table(['layer', ...steps], rows)}\n`;
    }
  }
  await writeFile(join(dir, 'report.md'), md);
  return md;
}
