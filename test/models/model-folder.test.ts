/**
 * A WSInfer model folder opened as a model (issue #16): the config's normalization replaces the
 * weights' default (the logits equal the bare ONNX model's on input normalized by hand with the
 * config's mean and std), its class names name the outputs, and its patch geometry is recommended
 * as the same field of view (350 px at 0.25 µm/px resized to 224 px = 224 px at 0.390625 µm/px).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeModel, initEngine, nchwToNhwc, normalizeRgb, openModel, tf, type Tensor4D } from '../../models/index.js';
import { OnnxModel, readOnnx } from '../../models/onnx/index.js';
import { relErr, SHARED } from '../support/shared.js';
import { writeWsinferFolder } from '../support/wsinfer-folder.js';

const ONNX = `${SHARED}fixtures/onnx-reference/mobilenet_v3_small_c4.onnx`;
const present = existsSync(ONNX);
if (!present) console.warn(`[sds tests] ${ONNX} is absent: the WSInfer model-folder test is skipped`);

describe.skipIf(!present)('a WSInfer model folder as a model', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-model-folder-'));
  const folder = join(root, 'breast');
  const mean: [number, number, number] = [0.7238, 0.5716, 0.6779];
  const std: [number, number, number] = [0.112, 0.1459, 0.1089];

  beforeAll(async () => {
    await initEngine({ announce: false });
    writeWsinferFolder(folder, ONNX, 'model.onnx', { classNames: ['Other', 'Tumor', 'Necrosis', 'Stroma'], resize: 224, mean, std });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('describes it with the config: classes, normalization, recommended patch and resolution', async () => {
    const d = await describeModel({ kind: 'file', weights: folder });
    expect(d.classNames).toEqual(['Other', 'Tumor', 'Necrosis', 'Stroma']);
    expect(d.normalization).toEqual({ mean, std });
    expect(d.recommended).toEqual({ patch: 224, mpp: (0.25 * 350) / 224 });
    expect(d.recommended!.mpp).toBeCloseTo(0.390625, 12);
  });

  it("normalizes with the config's mean and std: logits equal the bare model's on hand-normalized input", async () => {
    const model = await openModel({ kind: 'file', weights: folder });
    const bare = new OnnxModel(await readOnnx(ONNX));
    try {
      expect(model.normalization).toEqual({ mean, std });
      expect(bare.normalization).toBe('imagenet');
      const [h, w] = [112, 112];
      const rgb = Float32Array.from({ length: 3 * h * w }, (_, i) => ((i * 7919) % 256) / 255);
      const ours = normalizeRgb(Float32Array.from(rgb), 1, h, w, model.normalization);
      const hand = Float32Array.from(rgb, (v, i) => (v - mean[Math.floor(i / (h * w))]!) / std[Math.floor(i / (h * w))]!);
      expect(relErr(ours, hand)).toBeLessThan(1e-6);
      const x = tf.tensor4d(nchwToNhwc(ours, 1, 3, h, w), [1, h, w, 3]) as Tensor4D;
      const xh = tf.tensor4d(nchwToNhwc(hand, 1, 3, h, w), [1, h, w, 3]) as Tensor4D;
      const a = tf.tidy(() => model.forward(x));
      const b = tf.tidy(() => bare.forward(xh));
      expect(relErr(a.dataSync() as Float32Array, b.dataSync() as Float32Array)).toBeLessThan(1e-6);
      tf.dispose([x, xh, a, b]);
    } finally {
      model.dispose();
      bare.dispose();
    }
  });

  it('refuses a config whose class count differs from the weights', async () => {
    const bad = join(root, 'bad');
    mkdirSync(bad);
    copyFileSync(ONNX, join(bad, 'model.onnx'));
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ spec_version: '1.0', architecture: 'x', num_classes: 2, class_names: ['a', 'b'], patch_size_pixels: 224, spacing_um_px: 0.5, transform: [{ name: 'ToTensor' }] }));
    await expect(openModel({ kind: 'file', weights: bad })).rejects.toThrow(/config\.json says 2 classes, the weights give 4/);
    expect(tf.memory().numTensors).toBe(0);
  });
});
