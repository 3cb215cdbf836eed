/**
 * The method's core claim on real tissue: at hidden layers each smoothing variant's gradient has
 * less total variation than the original's. Real H&E (MoNuSeg mosaic) through the real nuclei
 * U-Net from ../shared/models, and the fixture ResNet18 with its surrogate paths.
 */
import { existsSync, mkdirSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, loadModel, normalizeRgb, readSafetensors, tf, type Model } from '../../models/index.js';
import { attributeBatch, SurrogatePaths, totalVariation, VariantModel, type Variant } from '../../saliency/index.js';
import { denormalizeImagenet, writePanel, type PanelCell } from '../../viz/index.js';
import { FIXTURES, hasFixtures, SHARED } from '../support/shared.js';

const MOSAIC = `${SHARED}slides/monuseg-test-mosaic.tiff`;
const NUCLEI = `${SHARED}models/nuclei_unet_resnet34.safetensors`;
const OUT = new URL('../../test-output/', import.meta.url).pathname;
const have = hasFixtures && existsSync(MOSAIC) && existsSync(NUCLEI);

async function patch(x: number, y: number, size: number): Promise<Float32Array> {
  const { data } = await sharp(MOSAIC, { page: 0 }).extract({ left: x, top: y, width: size, height: size }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const hw = size * size;
  const out = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) out[c * hw + p] = data[p * 3 + c]! / 255;
  return normalizeRgb(out, 1, size, size, 'imagenet');
}

async function tvByVariant(model: Model, variants: Variant[], surrogate: SurrogatePaths | undefined, data: Float32Array, size: number, layers: string[], target?: number) {
  const tv = new Map<Variant, Map<string, number>>();
  const maps = new Map<Variant, Map<string, PanelCell>>();
  for (const v of variants) {
    const res = await attributeBatch(new VariantModel(model, v, surrogate), 'grad', data, [1, 3, size, size], { layers, targets: target === undefined ? undefined : [target] });
    tv.set(v, new Map());
    maps.set(v, new Map());
    for (const [l, r] of res.layers) {
      const [n, c, h, w] = r.shape;
      tv.get(v)!.set(l, totalVariation(r.attr, n, c, h, w)[0]!);
      maps.get(v)!.set(l, { map: r.map, height: h, width: w, title: `${v} ${l}` });
    }
  }
  return { tv, maps };
}

describe.skipIf(!have)('smoothing lowers total variation at hidden layers (real H&E)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
    mkdirSync(OUT, { recursive: true });
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBe(0);
  });

  it('nuclei U-Net (MoNuSeg): backward-hook and forward-hook below original at 1_2, 2_3, 3_5', async () => {
    const model = await loadModel(NUCLEI);
    try {
      const size = 256;
      const data = await patch(1100, 1100, size);
      const layers = ['1_2', '2_3', '3_5'];
      const { tv, maps } = await tvByVariant(model, ['original', 'backward-hook', 'forward-hook'], undefined, data, size, layers, 1);
      for (const l of layers) {
        expect(tv.get('backward-hook')!.get(l)!, `backward-hook ${l}`).toBeLessThan(tv.get('original')!.get(l)!);
        expect(tv.get('forward-hook')!.get(l)!, `forward-hook ${l}`).toBeLessThan(tv.get('original')!.get(l)!);
      }
      const image: PanelCell = { rgb: denormalizeImagenet(data, size, size), height: size, width: size, title: 'H&E' };
      await writePanel(`${OUT}nuclei-unet-grad-variants.png`, (['original', 'backward-hook', 'forward-hook'] as Variant[]).map((v) => [image, ...layers.map((l) => maps.get(v)!.get(l)!)]), 256, ['original', 'backward-hook', 'forward-hook']);
    } finally {
      model.dispose();
    }
  });

  it('ResNet18 fixture model: all three variants below original at 1_1, 2_0, 3_1', async () => {
    const model = await loadModel(`${FIXTURES}resnet18_c3.safetensors`);
    const surrogate = SurrogatePaths.fromStateDict(model, (await readSafetensors(`${FIXTURES}resnet18_c3.surrogate.safetensors`)).tensors, 'surrogate');
    try {
      const data = await patch(2100, 600, 224);
      const layers = ['1_1', '2_0', '3_1'];
      const { tv } = await tvByVariant(model, ['original', 'backward-hook', 'forward-hook', 'surrogate'], surrogate, data, 224, layers);
      for (const v of ['backward-hook', 'forward-hook', 'surrogate'] as Variant[])
        for (const l of layers) expect(tv.get(v)!.get(l)!, `${v} ${l}`).toBeLessThan(tv.get('original')!.get(l)!);
    } finally {
      surrogate.dispose();
      model.dispose();
    }
  });
});
