import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { initEngine, normalizeRgb, openModel } from '../../models/index.js';
import { VARIANTS, type Variant } from '../../contracts/index.js';
import { attributeBatch, totalVariation, VariantModel } from '../../saliency/index.js';
import { syntheticHePatch } from '../../slides-sample/synthetic-patch.js';
import { writePanel, type PanelCell } from '../../viz/index.js';
import { defineCommand, opt } from '../args.js';
import { printTable } from '../table.js';

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'The checkerboard and its removal, on a generated H&E-like patch: gradient maps per layer and variant (PNG) and their total variation.',
  usage: 'sds demo [--out DIR] [--weights W]',
  schema: z.object({
    out: opt.string('DIR', 'where the PNG goes (default demo-output)').default('demo-output'),
    weights: opt.string('FILE', 'a ResNet classifier to explain instead of the seeded random ResNet18').optional(),
    backend: opt.string('E', 'engine: node-gpu|node|wasm|cpu').optional(),
  }),
  async run(o) {
    await initEngine({ engine: o.backend });
    const model = await openModel(o.weights ? { kind: 'file', weights: o.weights } : { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 });
    try {
      const size = 224;
      const rgb = syntheticHePatch(size, 1);
      const x = normalizeRgb(Float32Array.from(rgb), 1, size, size, 'imagenet');
      const layers = ['1_1', '2_1', '3_1'];
      // every variant that needs no trained weights
      const variants: Variant[] = VARIANTS.filter((v) => v !== 'surrogate');
      const image = new Uint8Array(size * size * 3);
      for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) image[p * 3 + c] = Math.round(rgb[c * size * size + p]! * 255);
      const rows: PanelCell[][] = [];
      const tv: string[][] = [];
      for (const v of variants) {
        const res = await attributeBatch(new VariantModel(model, v), 'grad', x, [1, 3, size, size], { layers });
        const row: PanelCell[] = [{ rgb: image, height: size, width: size, title: 'patch' }];
        const t: string[] = [v];
        for (const l of layers) {
          const r = res.layers.get(l)!;
          const [, c, h, w] = r.shape;
          row.push({ map: r.map, height: h, width: w, title: `${l} (${h}x${w})` });
          t.push(totalVariation(r.attr, 1, c, h, w)[0]!.toFixed(3));
        }
        rows.push(row);
        tv.push(t);
      }
      await mkdir(o.out, { recursive: true });
      const png = resolve(join(o.out, 'grad-variants.png'));
      await writePanel(png, rows, 224, variants);
      process.stdout.write(`Gradient of the top class at hidden layers of ${o.weights ? model.arch : 'a seeded random ResNet18'} on a generated H&E-like patch.\n`);
      process.stdout.write('Total variation (lower = less checkerboard):\n');
      printTable(['variant', ...layers], tv);
      process.stdout.write(`\nmaps: ${png}\n(red positive, blue negative; rows: original, backward-hook, forward-hook)\n`);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
