import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { initEngine, openModel, modelSpecFromArgs, NORMALIZATIONS, readInput, readSafetensors, writeSafetensors } from '../../models/index.js';
import { insertionDeletion } from '../../saliency/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION, INPUT_OPTIONS, MODEL_OPTIONS } from '../common-options.js';
import { Progress } from '../progress.js';
import { printTable } from '../table.js';

export const insdelCommand = defineCommand({
  name: 'insdel',
  summary: 'Insertion and deletion scores (RISE) of saliency maps.',
  usage: 'sds insdel --weights W [--arch A] --input IN --saliency S [--key K] --out OUT',
  schema: z.object({
    ...MODEL_OPTIONS,
    ...INPUT_OPTIONS,
    ...BACKEND_OPTION,
    saliency: opt.required('FILE', '.safetensors holding maps at input resolution, (N,H,W) or (H,W)'),
    key: opt.string('K', 'tensor name in --saliency (default: the only tensor, or `saliency`)').optional(),
    out: opt.required('FILE', 'output .safetensors: deletion_scores, insertion_scores (N,n+1), deletion_auc, insertion_auc (N)'),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const model = await openModel(modelSpecFromArgs(o.weights, o.arch));
    try {
      const input = await readInput(o.input, o.normalize ?? model.normalization);
      const [n, , h, w] = input.shape;
      const maps = (await readSafetensors(o.saliency)).tensors;
      const key = o.key ?? (maps.size === 1 ? [...maps.keys()][0]! : 'saliency');
      const s = maps.get(key);
      if (!s) throw new SdsError('BAD_INPUT', `${o.saliency} has no tensor "${key}" (it has: ${[...maps.keys()].slice(0, 8).join(', ')})`, { suggestion: 'name it with --key' });
      const sn = s.shape.length === 2 ? 1 : s.shape[0]!;
      const [sh, sw] = s.shape.slice(-2) as [number, number];
      if ((s.shape.length !== 2 && s.shape.length !== 3) || sh !== h || sw !== w || (sn !== n && sn !== 1)) {
        throw new SdsError('BAD_INPUT', `saliency "${key}" is [${s.shape.join(',')}]; the input is ${n} image(s) of ${h}x${w}`, {
          suggestion: 'give maps at input resolution, (N,H,W) or (H,W); `sds attribute` writes layer-resolution maps, upscale them first',
        });
      }
      const images = s.shape.length === 2 ? 1 : n;
      const progress = new Progress('images', images);
      const steps = Math.ceil((h * w) / (8 * w)) + 1;
      const del = new Float32Array(images * steps);
      const ins = new Float32Array(images * steps);
      const dAuc = new Float32Array(images);
      const iAuc = new Float32Array(images);
      const rows: string[][] = [];
      for (let i = 0; i < images; i++) {
        const r = await insertionDeletion(model, input.data.subarray(i * 3 * h * w, (i + 1) * 3 * h * w), h, w, (s.data as Float32Array).subarray(i * h * w, (i + 1) * h * w));
        del.set(r.deletion, i * steps);
        ins.set(r.insertion, i * steps);
        dAuc[i] = r.deletionAuc;
        iAuc[i] = r.insertionAuc;
        rows.push([input.names[i]!, String(r.cls), r.deletionAuc.toFixed(4), r.insertionAuc.toFixed(4)]);
        progress.update(i + 1);
      }
      progress.done();
      await writeSafetensors(o.out, {
        deletion_scores: { shape: [images, steps], data: del },
        insertion_scores: { shape: [images, steps], data: ins },
        deletion_auc: { shape: [images], data: dAuc },
        insertion_auc: { shape: [images], data: iAuc },
      });
      printTable(['image', 'class', 'deletion AUC (lower is better)', 'insertion AUC (higher is better)'], rows);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
