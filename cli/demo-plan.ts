/**
 * What `sds start` analyses, in the order it runs: the demo models' analyses of the sample slide.
 * Ordered for a quick first picture: the short classifier analysis (grad, original and
 * backward-hook, its first two blocks: 582 tissue patches of the 8192 px sample at the default
 * overlap, about 35 s on 2 cores) comes first, so the viewer has overlays within the first minute;
 * the full plans of the classifier and the U-Net follow (minutes). Every step takes the default
 * overlap (contracts/analysis.ts defaultOverlap), so the demo's maps show no patch grid. Each step is its own cached analysis folder under the results folder.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { AnalysisSpecInput, MapMethod, Variant } from '../contracts/index.js';
import { describeModel } from '../models/index.js';

export const DEMO_MODELS = ['tumour-resnet18', 'tissue-unet34'] as const;

export interface DemoStep {
  /** for people: the model's name, with "(quick)" for the short plan */
  name: string;
  /** the results folder of this step (the analysis lies in `<out>/<slide stem>/`) */
  out: string;
  /** how the manifest names the weights */
  weightsLabel: string;
  spec: AnalysisSpecInput & { layers: string[]; methods: MapMethod[]; variants: Variant[] };
}

/** What the demo explains with one model: every block of the classifier, the last block of each U-Net stage; `quick`: grad at the first two. */
async function demoSpec(weights: string, quick: boolean): Promise<DemoStep['spec']> {
  const surrogate = weights.replace(/\.safetensors$/, '.surrogate.safetensors');
  const hasSurrogate = existsSync(surrogate);
  const model = await describeModel({ kind: 'file', weights });
  const blocks = model.layers.filter((l) => /^\d+_\d+$/.test(l));
  let layers = blocks;
  if (model.kind === 'segmentation') {
    const last = new Map<string, string>();
    for (const l of blocks) last.set(l.split('_')[0]!, l);
    layers = [...last.values()];
  }
  const base = { model: { kind: 'file' as const, weights } };
  if (quick) return { ...base, layers: layers.slice(0, 2), methods: ['grad'], variants: ['original', 'backward-hook'] };
  return { ...base, layers, methods: ['grad', 'deeplift'], variants: ['original', 'backward-hook', ...(hasSurrogate ? (['surrogate'] as const) : [])], ...(hasSurrogate ? { surrogate } : {}) };
}

/**
 * The steps for the demo models found in `modelsDir` (`weights` paths of those present): the quick
 * classifier analysis first, then (unless `quick`) each model's full plan.
 */
export async function demoSteps(models: string[], results: string, quick: boolean): Promise<DemoStep[]> {
  const steps: DemoStep[] = [];
  const step = async (weights: string, q: boolean) => {
    const name = basename(weights, '.safetensors');
    steps.push({ name: q ? `${name} (quick)` : name, out: join(results, q ? `${name}-quick` : name), weightsLabel: `models-demo/${name}.safetensors`, spec: await demoSpec(weights, q) });
  };
  if (models[0]) await step(models[0], true);
  if (!quick) for (const weights of models) await step(weights, false);
  return steps;
}
