/**
 * Issue #16: a network we have natively, imported through ONNX, gives the native answers. PyTorch
 * exports torchvision resnet18(num_classes=3) with the torch-reference weights
 * (test/support/torch-export.py, at test time into a tmp dir: the file is 45 MB); then the ONNX
 * model's hook points equal the native ResNet18's, and for every variant (the surrogate with the
 * reference paths loaded into each model) the logits, grad and DeepLift at the case's layers
 * (native `S_B` = module `layerS.B`) and GradCAM at the last block equal the native model's within
 * 1e-4 of max|native|. PyTorch's own logits and the case's Captum attributions are the independent
 * truth both are held to. IG is covered by ig.resnet18.fixtures.test.ts and onnx-cases.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTorchvisionOnnx, torchExportUnavailable } from '../../bench/torch-onnx.js';
import { initEngine, readSafetensors, tf } from '../../models/index.js';
import { OnnxModel, readOnnx } from '../../models/onnx/index.js';
import { createMethod, SurrogatePaths, VARIANTS, VariantModel, type MethodName } from '../../saliency/index.js';
import { attributeNchw, fixtureVariant, loadCase, toNchw, type FixtureCase } from '../support/fixture-case.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

const noTorch = hasFixtures ? torchExportUnavailable() : null;
if (noTorch) console.warn(`[sds tests] ${noTorch}: the ONNX-exported ResNet18 vs native tests are skipped`);

/** Native block `S_B` is torchvision's module `layerS.B`. */
const onnxLayer = (l: string) => l.replace(/^(\d)_(\d+)$/, 'layer$1.$2');

describe.skipIf(!hasFixtures || noTorch !== null)('torchvision resnet18 exported by torch.onnx equals the native ResNet18 (resnet18_c3)', () => {
  let tmp = '';
  let native: FixtureCase;
  /** The same case seen through the ONNX model and its own surrogate paths. */
  let viaOnnx: FixtureCase;
  let onnx: OnnxModel;
  let onnxPaths: SurrogatePaths;
  let torchLogits: number[];
  let wrongClasses: Error | undefined;

  beforeAll(async () => {
    await initEngine({ announce: false });
    tmp = mkdtempSync(join(tmpdir(), 'sds-onnx-r18-')); // here, not at collection: a skipped suite runs no afterAll
    const file = join(tmp, 'resnet18_c3.onnx');
    // the error path beside it (two processes, two cores): weights of another class count
    const [ran, wrong] = await Promise.all([
      exportTorchvisionOnnx({ out: file, classes: 3, weights: `${FIXTURES}resnet18_c3.safetensors`, size: 96, logitsFor: `${FIXTURES}resnet18_c3.case.safetensors` }),
      exportTorchvisionOnnx({ out: join(tmp, 'wrong.onnx'), classes: 5, weights: `${FIXTURES}resnet18_c3.safetensors`, size: 96 }).then(() => undefined, (err: unknown) => err as Error),
    ]);
    torchLogits = ran!.logits;
    wrongClasses = wrong;
    native = await loadCase('resnet18_c3');
    onnx = new OnnxModel(await readOnnx(file));
    onnxPaths = SurrogatePaths.fromStateDict(onnx, (await readSafetensors(`${FIXTURES}resnet18_c3.surrogate.safetensors`)).tensors, 'resnet18_c3.surrogate');
    viaOnnx = { ...native, model: onnx, surrogate: onnxPaths, layers: native.layers.map(onnxLayer), dispose: () => {} };
  });
  afterAll(() => {
    onnxPaths?.dispose();
    onnx?.dispose();
    native?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    expect(tf.memory().numTensors).toBe(0);
  });

  it('hook points and layers: the native names, blocks as module paths', () => {
    expect(onnx.hookPoints).toEqual(native.model.hookPoints);
    expect(onnx.hookPoints).toEqual(['conv1', 'layer2.0.conv1', 'layer2.0.downsample.0', 'layer3.0.conv1', 'layer3.0.downsample.0', 'layer4.0.conv1', 'layer4.0.downsample.0']);
    for (const l of native.model.layerNames) expect(onnx.layerNames, l).toContain(onnxLayer(l));
    expect(onnx.numClasses).toBe(3);
    expect(onnx.kind).toBe('classifier');
    expect(onnx.deepLiftObstacle).toBeUndefined();
  });

  it('the export script refuses weights of another shape, naming the file and the mismatch', () => {
    expect(wrongClasses).toBeInstanceOf(Error);
    expect(wrongClasses!.message).toMatch(/resnet18_c3\.safetensors is not a torchvision resnet18\(num_classes=5\) state_dict: size mismatch for fc\.weight.*pass the --arch and --classes/);
    expect(existsSync(join(tmp, 'wrong.onnx'))).toBe(false);
  });

  for (const v of VARIANTS) {
    it(`${v}: logits equal the native model's and PyTorch's`, async () => {
      const [a, b] = tf.tidy(() => [new VariantModel(onnx, v, onnxPaths).forward(native.x), new VariantModel(native.model, v, native.surrogate).forward(native.x)]);
      const [got, want] = [await toNchw(a!), await toNchw(b!)];
      tf.dispose([a!, b!]);
      expect(relErr(got, want), `logits/${v} vs native`).toBeLessThanOrEqual(1e-4);
      expect(relErr(got, native.tensors.get(`logits/${fixtureVariant(v)}`)!.data as Float32Array), `logits/${v} vs PyTorch`).toBeLessThanOrEqual(1e-4);
      if (v === 'original') expect(relErr(got, torchLogits), 'PyTorch on the exported weights').toBeLessThanOrEqual(1e-4);
    });

    for (const method of ['grad', 'deeplift'] as MethodName[]) {
      it(`${v}: ${method} at every case layer (input, 1_1, 2_0, 3_1, 4_1) equals the native model's`, async () => {
        const ours = await attributeNchw(viaOnnx, v, method, viaOnnx.layers);
        const want = await attributeNchw(native, v, method, native.layers);
        for (const layer of native.layers) {
          const key = `${fixtureVariant(v)}/${method}/${layer}`;
          const a = ours.get(onnxLayer(layer))!;
          const w = want.get(layer)!;
          expect(a.shape, key).toEqual(w.shape);
          const err = relErr(a.data, w.data);
          if (err > 1e-5) console.log(`[onnx-resnet18] ${key}: ONNX vs native max rel err ${err.toExponential(2)}`);
          expect(err, `${key} vs native`).toBeLessThanOrEqual(1e-4);
          expect(relErr(a.data, native.tensors.get(`attr/${key}`)!.data as Float32Array), `${key} vs Captum`).toBeLessThanOrEqual(1e-4);
        }
      });
    }

    it(`${v}: GradCAM at the last block (4_1 = layer4.1) equals the native model's`, async () => {
      const run = async (c: FixtureCase, layer: string) => {
        const res = await createMethod('gradcam', new VariantModel(c.model, v, c.surrogate)).attribute(c.x, { layers: [layer], targets: c.targets });
        const t = res.attributions.get(layer)!;
        const d = await toNchw(t);
        t.dispose();
        return d;
      };
      const got = await run(viaOnnx, 'layer4.1');
      const want = await run(native, '4_1');
      expect(got.length).toBe(2 * 3 * 3);
      expect(relErr(got, want), `gradcam/${v} vs native`).toBeLessThanOrEqual(1e-4);
      if (v === 'original') expect(relErr(got, native.tensors.get('gradcam/4_1')!.data as Float32Array), 'gradcam vs Captum').toBeLessThanOrEqual(1e-4);
    });
  }
});
