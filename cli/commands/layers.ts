/**
 * `sds layers <weights>`: what a model offers for explanation, ONNX or native: every layer (module
 * path or block name) with its output shape at a patch size and its scale, the layers analyses use
 * by default, the hook points (stride-2 convolutions) the variants smooth, and whether DeepLift
 * applies. The names printed are the ones `--layers` takes.
 */
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { describeModel, initEngine, modelSpecFromArgs, openModel, tf, type Tensor4D } from '../../models/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { printTable } from '../table.js';

export const layersCommand = defineCommand({
  name: 'layers',
  summary: 'List the layers (with shapes at a patch size) and hook points of a model: ONNX, TorchScript, state_dict or safetensors.',
  usage: 'sds layers <weights> [--arch A] [--patch N] [--json]',
  schema: z.object({
    arch: opt.string('A', 'architecture of a state_dict (default: inferred from its keys)').optional(),
    patch: opt.int('N', "input side the shapes are given for (default 256, or the model's fixed size)").min(16).max(4096).optional(),
    json: opt.flag('print JSON instead of tables'),
    ...BACKEND_OPTION,
  }),
  async run(o, positionals) {
    const weights = positionals[0];
    if (!weights || positionals.length > 1) throw new SdsError('BAD_ARGUMENT', 'give exactly one model file', { suggestion: 'sds layers model.onnx (or a .safetensors / .pt / WSInfer model folder)' });
    await initEngine({ engine: o.backend, announce: false });
    const spec = modelSpecFromArgs(weights, o.arch);
    const d = await describeModel(spec);
    const model = await openModel(spec);
    const patch = o.patch ?? d.fixedPatch ?? 256;
    try {
      const shapes = new Map<string, number[]>([['input', [3, patch, patch]]]);
      try {
        tf.tidy(() => {
          model.forward(tf.zeros([1, patch, patch, 3]) as Tensor4D, {
            layer: (name, y) => {
              shapes.set(name, [y.shape[3], y.shape[1], y.shape[2]]);
              return y;
            },
          });
        });
      } catch (cause) {
        throw new SdsError('BAD_INPUT', `the model does not run on ${patch} px inputs: ${(cause as Error).message}`, { suggestion: 'give the --patch it was exported for', cause });
      }
      const hookPoints = d.hookPoints.map((name) => {
        const c = model.convs.get(name)!;
        return { name, inChannels: c.inChannels, outChannels: c.outChannels, smoothedBy: name === d.hookPoints[0] ? ['backward-hook'] : ['backward-hook', 'forward-hook', 'surrogate'] };
      });
      const layers = d.layers.map((name) => ({ name, shape: shapes.get(name) ?? null, scale: d.scales.get(name) ?? null, default: d.defaultLayers.includes(name) }));
      if (o.json) {
        const out = { weights, arch: d.arch, kind: d.kind, classes: d.numClasses, classNames: d.classNames ?? null, normalization: d.normalization, patch: patch, layers, hookPoints, defaultLayers: d.defaultLayers, deeplift: d.deepLiftObstacle ? `not available: ${d.deepLiftObstacle}` : 'available', recommended: d.recommended ?? null };
        process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
        return 0;
      }
      process.stdout.write(`${weights}: ${d.arch === 'onnx' ? 'ONNX graph' : d.arch}, ${d.kind}, ${d.numClasses} class${d.numClasses === 1 ? '' : 'es'}${d.classNames ? ` (${d.classNames.join(', ')})` : ''}, input normalization ${typeof d.normalization === 'string' ? d.normalization : 'from its config'}\n\n`);
      printTable(
        ['layer', `shape at ${patch} px (C x h x w)`, 'px per value', 'default'],
        layers.map((l) => [l.name, l.shape ? l.shape.join(' x ') : '-', l.scale === null ? '-' : String(+l.scale.toFixed(3)), l.default ? 'yes' : '']),
      );
      process.stdout.write('\n');
      printTable(
        ['hook point (stride-2 conv)', 'channels', 'smoothed by'],
        hookPoints.map((h) => [h.name, `${h.inChannels} -> ${h.outChannels}`, h.smoothedBy.join(', ')]),
      );
      process.stdout.write(`\nDeepLift: ${d.deepLiftObstacle ? `not available (Rescale covers ReLU networks; this one has ${d.deepLiftObstacle})` : 'available'}\n`);
      if (d.fixedPatch) process.stdout.write(`The graph has fixed dimensions: it runs on ${d.fixedPatch} px patches only.\n`);
      if (d.recommended && !d.fixedPatch) process.stdout.write(`The model's configuration asks for ${d.recommended.patch} px patches${d.recommended.mpp ? ` at ${d.recommended.mpp} µm/px` : ''}; analyze and batch use them unless --patch / --mpp / --level are given.\n`);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
