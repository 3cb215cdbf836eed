import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { overlayKey, VARIANTS } from '../../contracts/index.js';
import { buildModel, describeModel, initEngine, isOnnxFile, isWsinferFolder, loadWeights, openModelFile, type StateDict } from '../../models/index.js';
import { localisation, type GroundTruthMask, type LocalisationRow, type LocalisationScore } from '../../results/index.js';
import { openPatchSource, type PatchSource } from '../../pipeline/index.js';
import { evaluate, SurrogatePaths, type EvaluationReport, type MethodName, type Variant } from '../../saliency/index.js';
import { writeBarChart, writeLineChart, type Series } from '../../viz/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../common-options.js';
import { parseMethods, parseVariants, splitList } from '../list.js';
import { Progress } from '../progress.js';

export const evaluateCommand = defineCommand({
  name: 'evaluate',
  summary: "The paper's evaluation on a folder of patches: TV, insertion/deletion, prediction difference, randomization; with --analysis, localisation AUROC against ground-truth masks; report.md with plots.",
  usage: 'sds evaluate --weights W [--arch A] --data D [--surrogate P] --out DIR [--layers ...] [--methods grad,deeplift] [--limit 8] [--analysis DIR --mask name=PATH[@downsample],...]',
  schema: z.object({
    ...MODEL_OPTIONS,
    // required unless --analysis alone: checked in run()
    weights: MODEL_OPTIONS.weights.optional(),
    patch: opt.int('N', 'patch side when --data is a slide or a folder of .svs slides (default 224; tissue only)').min(32).max(4096).default(224),
    ...BACKEND_OPTION,
    data: opt.string('D', 'folder of image patches, or .safetensors with `input`').optional(),
    surrogate: opt.string('FILE', 'trained surrogate paths; adds the surrogate variant').optional(),
    out: opt.required('DIR', 'report folder (report.md, plots as SVG and PNG, report.json)'),
    layers: opt.string('L,...', 'layers (default: input and the last block of each stage)').optional(),
    methods: opt.string('M,...', 'methods among grad, deeplift, ig (default grad,deeplift)').default('grad,deeplift'),
    variants: opt.string('V,...', 'variants (default original,backward-hook,forward-hook[,surrogate])').optional(),
    limit: opt.int('N', 'patches evaluated (default 8)').min(1).max(100000).default(8),
    steps: opt.int('N', 'Integrated Gradients steps (default 50)').min(1).max(1000).default(50),
    'no-randomization': opt.flag('skip the model randomization test'),
    seed: opt.int('S', 'seed for random maps and re-initialisation (default 0)').min(0).default(0),
    analysis: opt.string('DIR', 'an `sds analyze` result (DIR/<slide name>): adds localisation AUROC per layer and variant (alone: no --weights/--data needed)').optional(),
    mask: opt.string('N=P[@D],...', "ground-truth masks for --analysis: name=PNG, optional @downsample (level-0 px per mask px; default slide width / mask width), or a sample slide's <name>.json").optional(),
    score: opt.enum(['abs', 'positive', 'negative'], 'S', 'localisation ranks pixels by abs (|saliency|, default), positive or negative saliency').default('abs'),
  }),
  async run(o) {
    if (o.mask && !o.analysis) throw new SdsError('BAD_ARGUMENT', 'evaluate: --mask needs --analysis DIR (the analysis whose maps are scored)');
    if (o.analysis && !o.mask) throw new SdsError('BAD_ARGUMENT', 'evaluate: --analysis needs --mask name=PNG[@downsample]', { suggestion: 'e.g. --mask nuclei=slide.nuclei.png' });
    // the paper's evaluation unless only localisation was asked for
    const paper = !o.analysis || o.weights !== undefined || o.data !== undefined;
    for (const k of ['weights', 'data'] as const) {
      if (paper && !o[k]) throw new SdsError('BAD_ARGUMENT', `evaluate: --${k}: is required`, { suggestion: 'see: sds evaluate --help (--analysis DIR --mask ... alone scores localisation without a model)' });
    }
    let md = '';
    let json: Record<string, unknown> = {};
    if (paper) {
      const r = await paperEvaluation({ ...o, weights: o.weights!, data: o.data! });
      md = r.md;
      json = { ...r.report };
    }
    if (o.analysis) {
      const masks = await expandSampleMasks(parseMasks(o.mask!));
      let progress: Progress | undefined;
      const rows = await localisation(o.analysis, masks, {
        score: o.score,
        onProgress: (done, total, what) => (progress ??= new Progress('overlays', total)).update(done, what),
      });
      progress?.done();
      await mkdir(o.out, { recursive: true });
      const section = await writeLocalisation(o.out, o.analysis, rows, o.score);
      md = md ? `${md}\n${section}` : `# Saliency evaluation\n\n${section}`;
      json.localisation = rows;
      await writeFile(join(o.out, 'report.md'), md);
      process.stdout.write(section);
    }
    await writeFile(join(o.out, 'report.json'), `${JSON.stringify(json, null, 1)}\n`);
    process.stderr.write(`sds: report -> ${join(o.out, 'report.md')}\n`);
    return 0;
  },
});

type PaperOptions = Omit<z.infer<typeof evaluateCommand.schema>, 'weights' | 'data'> & { weights: string; data: string };

async function paperEvaluation(o: PaperOptions): Promise<{ md: string; report: EvaluationReport }> {
  await initEngine({ engine: o.backend });
  // a native architecture keeps its state dict (model randomization rebuilds from it); an imported
  // graph (ONNX, a WSInfer folder) is opened as openModel does, and cannot be randomized
  const imported = (await isOnnxFile(o.weights)) || (await isWsinferFolder(o.weights));
  if (imported && !o['no-randomization']) {
    throw new SdsError('BAD_ARGUMENT', `${o.weights}: the model randomization test rebuilds the model with re-initialised blocks, which sds does for its native architectures only`, { suggestion: 'add --no-randomization to evaluate an ONNX model or a WSInfer folder' });
  }
  const w = imported ? undefined : await loadWeights(o.weights);
  const model = w ? buildModel(w.tensors, w.source, o.arch ?? w.metadata.sds_arch) : (await openModelFile(o.weights)).model;
  const stateDict: StateDict = w?.tensors ?? new Map();
  let surrogate: SurrogatePaths | undefined;
  let source: PatchSource | undefined;
  try {
    if (o.surrogate) {
      const s = await loadWeights(o.surrogate);
      surrogate = SurrogatePaths.fromStateDict(model, s.tensors, s.source);
    }
    const methods = parseMethods(o.methods);
    const variants = o.variants ? parseVariants(o.variants) : VARIANTS.filter((v) => v !== 'surrogate' || surrogate);
    if (variants.includes('surrogate') && !surrogate) throw new SdsError('BAD_ARGUMENT', 'the surrogate variant needs --surrogate PATHS');
    const stageEnds = imported
      ? (await describeModel({ kind: 'file', weights: o.weights })).defaultLayers
      : model.layerNames.filter((l, i, all) => l !== 'input' && all[i + 1]?.split('_')[0] !== l.split('_')[0]);
    const layers = o.layers ? splitList(o.layers) : ['input', ...stageEnds];
    source = await openPatchSource(o.data, model.normalization, { patch: o.patch });
    process.stderr.write(`sds: evaluating ${model.arch} on ${Math.min(o.limit, source.count)} patches of ${source.description}\n`);
    let progress: Progress | undefined;
    const report = await evaluate(model, stateDict, source, {
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
    process.stdout.write(md);
    return { md, report };
  } finally {
    await source?.close?.();
    surrogate?.dispose();
    model.dispose();
  }
}

/** `name=PATH[@downsample]`, comma-separated; without `name=` the file name names the mask. */
export function parseMasks(s: string): GroundTruthMask[] {
  return splitList(s).map((item) => {
    const eq = item.indexOf('=');
    let name = eq > 0 ? item.slice(0, eq) : '';
    let png = eq > 0 ? item.slice(eq + 1) : item;
    let downsample: number | undefined;
    const at = png.lastIndexOf('@');
    if (at > 0 && /^\d+(\.\d+)?$/.test(png.slice(at + 1))) {
      downsample = Number(png.slice(at + 1));
      png = png.slice(0, at);
      if (!(downsample > 0)) throw new SdsError('BAD_ARGUMENT', `--mask ${item}: the downsample must be positive`);
    }
    if (!name) name = basename(png).replace(/\.[^.]+$/, '');
    if (!png) throw new SdsError('BAD_ARGUMENT', `--mask "${item}" names no file`, { suggestion: 'use name=PATH[@downsample]' });
    return { name, png, downsample };
  });
}

/**
 * A generated sample's `<name>.json` stands for its ground truth: nuclei and tumour masks with their
 * downsamples (the tissue mask is what the analysis already restricts to, so it is left out).
 */
async function expandSampleMasks(masks: GroundTruthMask[]): Promise<GroundTruthMask[]> {
  const out: GroundTruthMask[] = [];
  for (const m of masks) {
    if (!m.png.endsWith('.json')) {
      out.push(m);
      continue;
    }
    let j: { masks?: Record<string, { file: string; downsample: number }> };
    try {
      j = JSON.parse(await readFile(m.png, 'utf8')) as typeof j;
    } catch (cause) {
      throw new SdsError('BAD_INPUT', `cannot read ${m.png}`, { cause, suggestion: 'give name=PNG[@downsample], or the JSON written beside a generated sample slide' });
    }
    const found = Object.entries(j.masks ?? {}).filter(([k]) => k !== 'tissue');
    if (!found.length) throw new SdsError('BAD_INPUT', `${m.png} lists no masks`, { suggestion: 'give name=PNG[@downsample]' });
    for (const [k, v] of found) out.push({ name: k, png: join(dirname(m.png), v.file), downsample: v.downsample });
  }
  return out;
}

async function writeLocalisation(dir: string, analysis: string, rows: LocalisationRow[], score: LocalisationScore): Promise<string> {
  const scoreName = { abs: '|saliency|', positive: 'saliency', negative: '-saliency' }[score];
  let md = `## Localisation against ground truth (AUROC)\n\nAnalysis \`${analysis}\`. For each overlay, the AUROC of its map over tissue pixels against each mask brought to the overlay's resolution (an overlay pixel is inside when at least half of its area is). 0.5 is chance, 1 a map that ranks every mask pixel above every other. The charts rank by ${scoreName}; the tables also give |v| and the signed value v: below 0.5 for v means the structure carries negative saliency (the AUROC of -v is 1 minus it). Model outputs are class probabilities, for reference.\n\n`;
  const overlays = [...new Map(rows.map((r) => [overlayKey(r), r])).values()];
  const multiMethod = new Set(overlays.filter((r) => r.variant !== 'model').map((r) => r.method)).size > 1;
  const seriesName = (r: LocalisationRow) => (r.variant === 'model' ? 'model output' : multiMethod ? `${r.variant} ${r.method}` : r.variant);
  for (const mask of [...new Set(rows.map((r) => r.mask))]) {
    const mine = rows.filter((r) => r.mask === mask);
    const layers = [...new Set(mine.map((r) => r.layer))];
    const names = [...new Set(mine.map(seriesName))];
    const series: Series[] = names.map((name) => ({ name, values: layers.map((l) => mine.find((r) => seriesName(r) === name && r.layer === l)?.auroc ?? NaN) }));
    const file = `localisation-${mask.replace(/[^A-Za-z0-9_-]+/g, '_')}`;
    await writeBarChart(join(dir, file), `Localisation of ${mask}: AUROC of ${scoreName}`, layers, series, 'AUROC', { yRange: [0, 1], reference: { value: 0.5, label: 'chance' } });
    md += `### ${mask}\n\n![localisation ${mask}](${file}.png)\n\n`;
    md += table(
      ['variant', 'method', 'layer', 'AUROC of \\|v\\|', 'AUROC of v', 'mask pixels', 'tissue pixels'],
      mine.map((r) => [r.variant, r.method, r.layer, f4(r.aurocAbs), f4(r.aurocSigned), String(r.positives), `${r.n}${r.exact ? '' : ` (binned, ±${r.maxError.toExponential(1)})`}`]),
    );
    md += '\n';
  }
  return md;
}

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
