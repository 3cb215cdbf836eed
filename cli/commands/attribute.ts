import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { initEngine, openModel, modelSpecFromArgs, NORMALIZATIONS, readInput, tf, writeSafetensors, type WritableTensor } from '../../models/index.js';
import { attributeBatch, explainedModel, IG_RULES, METHODS, totalVariation, upscaleMap, UPSAMPLING, VARIANTS } from '../../saliency/index.js';
import { denormalizeImagenet, writePanel, type PanelCell } from '../../viz/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION, INPUT_OPTIONS, MODEL_OPTIONS } from '../common-options.js';
import { splitList } from '../list.js';
import { Progress } from '../progress.js';

export const attributeCommand = defineCommand({
  name: 'attribute',
  summary: 'Attribute a prediction to layers (grad, DeepLift, IG, GradCAM) under a smoothing variant.',
  usage:
    'sds attribute --weights W [--arch A] --input IN --layer L[,L...] --method grad|deeplift|ig|gradcam --variant original|backward-hook|forward-hook|surrogate [--surrogate P] [--target T[,T...]] [--steps 50] [--metrics tv] --out OUT',
  schema: z.object({
    ...MODEL_OPTIONS,
    ...INPUT_OPTIONS,
    ...BACKEND_OPTION,
    layer: opt.required('L,...', 'layers: input and/or X_Y block outputs, e.g. 1_1,2_0'),
    method: opt.enum(METHODS, 'M', `one of ${METHODS.join(', ')} (gradcam: last block only)`, { error: `must be one of ${METHODS.join(', ')}` }),
    variant: opt.enum(VARIANTS, 'V', `one of ${VARIANTS.join(', ')} (default original)`, { error: `must be one of ${VARIANTS.join(', ')}` }).default('original'),
    surrogate: opt.string('FILE', 'surrogate paths (.safetensors) for --variant surrogate').optional(),
    target: opt.string('T,...', 'class per image, or one for all (default: argmax; segmentation: majority class)').optional(),
    steps: opt.int('N', 'Integrated Gradients steps (default 50)').min(1).max(10000).default(50),
    rule: opt.enum(IG_RULES, 'R', `Integrated Gradients rule: ${IG_RULES.join('|')} (default gausslegendre)`).default('gausslegendre'),
    metrics: opt.enum(['tv'], 'tv', 'also compute: tv (total variation per image)').optional(),
    upsample: opt.enum(UPSAMPLING, 'MODE', 'also write saliency/<layer> (N,H,W) at input resolution: nearest|bilinear').optional(),
    png: opt.string('FILE', 'also write a PNG: each image beside its maps (red positive, blue negative)').optional(),
    batch: opt.int('N', 'images per pass (default 8)').min(1).max(1024).default(8),
    out: opt.required('FILE', 'output .safetensors: attr/<layer> (N,C,h,w), map/<layer> (N,h,w), tv/<layer> (N), targets'),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const layers = splitList(o.layer);
    const targets = o.target === undefined ? undefined : splitList(o.target).map(Number);
    if (targets?.some((t) => !Number.isInteger(t))) throw new SdsError('BAD_ARGUMENT', `--target must be integers, got "${o.target}"`);
    const base = await openModel(modelSpecFromArgs(o.weights, o.arch));
    const { model, surrogate } = await explainedModel(base, o.variant, o.surrogate).catch((err: unknown) => {
      base.dispose();
      throw err;
    });
    try {
      const input = await readInput(o.input, o.normalize ?? base.normalization);
      const progress = new Progress('images', input.shape[0]);
      const t0 = performance.now();
      const res = await attributeBatch(model, o.method, input.data, input.shape, {
        layers,
        targets,
        steps: o.steps,
        rule: o.rule,
        batch: o.batch,
        onProgress: (done) => progress.update(done),
      });
      progress.done();
      const out: Record<string, WritableTensor> = { targets: { shape: [res.targets.length], data: BigInt64Array.from(res.targets, BigInt) } };
      const tvRows: string[] = [];
      for (const [layer, r] of res.layers) {
        const [, c, h, w] = r.shape;
        out[`attr/${layer}`] = { shape: r.shape, data: r.attr };
        out[`map/${layer}`] = { shape: [input.shape[0], h, w], data: r.map };
        if (o.metrics === 'tv') {
          const tv = totalVariation(r.attr, input.shape[0], c, h, w);
          out[`tv/${layer}`] = { shape: [input.shape[0]], data: Float32Array.from(tv) };
          tvRows.push(`${layer.padEnd(6)} ${Array.from(tv, (v) => v.toFixed(4)).join('  ')}`);
        }
      }
      const [n, , H, W] = input.shape;
      if (o.upsample) {
        for (const [layer, r] of res.layers) {
          const [, , h, w] = r.shape;
          const up = tf.tidy(() => upscaleMap(tf.tensor4d(r.map, [n, h, w, 1]), H, W, o.upsample).dataSync() as Float32Array);
          out[`saliency/${layer}`] = { shape: [n, H, W], data: up };
        }
      }
      if (o.png) {
        const rows: PanelCell[][] = [];
        for (let i = 0; i < n; i++) {
          const row: PanelCell[] = [];
          if (base.normalization === 'imagenet') row.push({ rgb: denormalizeImagenet(input.data.subarray(i * 3 * H * W, (i + 1) * 3 * H * W), H, W), height: H, width: W, title: input.names[i] });
          for (const [layer, r] of res.layers) {
            const [, , h, w] = r.shape;
            row.push({ map: r.map.slice(i * h * w, (i + 1) * h * w), height: h, width: w, title: `${layer} (${h}x${w})` });
          }
          rows.push(row);
        }
        await writePanel(o.png, rows, 256);
      }
      await writeSafetensors(o.out, out, { arch: base.arch, method: o.method, variant: o.variant, layers: layers.join(',') });
      if (tvRows.length) process.stdout.write(`total variation per image (${o.method}, ${o.variant})\n${tvRows.join('\n')}\n`);
      process.stderr.write(`sds: ${o.method} at ${layers.join(',')} (${o.variant}), ${input.shape[0]} image(s), targets ${res.targets.join(',')}, ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${o.out}\n`);
      return 0;
    } finally {
      surrogate?.dispose();
      base.dispose();
    }
  },
});
