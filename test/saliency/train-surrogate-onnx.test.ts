/**
 * Issue #16: `sds train-surrogate` trains the surrogate paths of an imported ONNX graph as it does
 * for the native architectures. The CLI runs a few full-batch steps on the VGG reference model
 * (fixtures/onnx-reference, --data its case file's `input` batch); the saved paths have exactly
 * the keys and shapes of the reference surrogate file PyTorch wrote for that model
 * (`<hook point>.conv_one.weight|bias`, `conv_two`), and the loss goes down: the CLI's first and
 * last printed losses, and SPEC 3's loss recomputed here from the model's own conv hooks for the
 * seeded initial paths and for the trained ones (the first printed loss must equal the former).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, nchwToNhwc, pytorchConvInit, readSafetensors, tf, type HostTensor, type Tensor4D } from '../../models/index.js';
import { OnnxModel, readOnnx } from '../../models/onnx/index.js';
import { SurrogatePaths } from '../../saliency/index.js';
import { SHARED } from '../support/shared.js';

const DIR = `${SHARED}fixtures/onnx-reference/`;
const NAME = 'vgg_small_bn_c2';
const present = existsSync(`${DIR}${NAME}.onnx`) && existsSync(`${DIR}${NAME}.surrogate.safetensors`);
if (!present) console.warn(`[sds tests] ${DIR} is absent: surrogate training on an ONNX model is not tested`);

const SDS = new URL('../../bin/sds.js', import.meta.url).pathname;
const STEPS = 8;

/** SPEC 3's loss, sum over paths of mean |path(X) - Y|, with X and Y recorded from the frozen model's own convs. */
function surrogateLoss(model: OnnxModel, paths: SurrogatePaths, x: Tensor4D): number {
  const terms: tf.Scalar[] = [];
  try {
    tf.tidy(() => {
      model.forward(x, {
        conv: (conv, v, apply) => {
          const y = apply(v);
          const p = paths.paths.get(conv.name);
          // kept: the executor releases everything made during its pass
          if (p) terms.push(tf.keep(tf.tidy(() => tf.mean(tf.abs(tf.sub(p.apply(v), y))))));
          return y;
        },
      });
    });
    expect(terms.length).toBe(2);
    return terms.reduce((s, t) => s + t.dataSync()[0]!, 0);
  } finally {
    tf.dispose(terms);
  }
}

describe.skipIf(!present)(`train-surrogate on an ONNX model (${NAME})`, () => {
  let tmp = '';
  let out = '';
  let model: OnnxModel;
  let x: Tensor4D;
  let stderr = '';
  let code = 0;

  beforeAll(async () => {
    await initEngine({ announce: false });
    tmp = mkdtempSync(join(tmpdir(), 'sds-train-onnx-')); // here, not at collection: a skipped suite runs no afterAll
    out = join(tmp, 'paths.safetensors');
    const cli = promisify(execFile)(process.execPath, [SDS, 'train-surrogate', '--weights', `${DIR}${NAME}.onnx`, '--data', `${DIR}${NAME}.case.safetensors`, '--out', out, '--steps', String(STEPS), '--batch', '2', '--lr', '3e-3', '--seed', '0'], { env: { ...process.env, SDS_BACKEND: 'wasm' } });
    model = new OnnxModel(await readOnnx(`${DIR}${NAME}.onnx`));
    const input = (await readSafetensors(`${DIR}${NAME}.case.safetensors`)).tensors.get('input')!;
    const [n, c, h, w] = input.shape as [number, number, number, number];
    x = tf.tensor4d(nchwToNhwc(input.data as Float32Array, n, c, h, w), [n, h, w, c]);
    try {
      stderr = (await cli).stderr;
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      [code, stderr] = [e.code ?? 1, e.stderr ?? String(err)];
    }
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    expect(tf.memory().numTensors).toBe(0);
  });

  it('the saved paths have the keys and shapes of the reference surrogate file', async () => {
    expect(code, stderr).toBe(0);
    const ref = (await readSafetensors(`${DIR}${NAME}.surrogate.safetensors`)).tensors;
    const got = await readSafetensors(out);
    const shapes = (m: Map<string, HostTensor>) => Object.fromEntries([...m].map(([k, t]) => [k, t.shape]).sort());
    expect(shapes(got.tensors)).toEqual(shapes(ref));
    expect(Object.keys(shapes(ref))).toEqual(['features.14.conv_one.bias', 'features.14.conv_one.weight', 'features.14.conv_two.bias', 'features.14.conv_two.weight', 'features.7.conv_one.bias', 'features.7.conv_one.weight', 'features.7.conv_two.bias', 'features.7.conv_two.weight']);
    expect(got.metadata.hook_points).toBe('features.7,features.14');
    expect(got.metadata.steps).toBe(String(STEPS));
    const ckpt = await readSafetensors(`${out}.ckpt.safetensors`);
    expect(ckpt.metadata.step).toBe(String(STEPS));
  });

  it('the loss goes down: as printed, and recomputed from the model for the initial and the trained paths', async () => {
    expect(code, stderr).toBe(0);
    // progress lines: "<step>/<total> steps ... loss <x>" (the first and the last are always printed)
    const printed = [...stderr.matchAll(/^(\d+)\/\d+ steps .* loss (\S+)/gm)].map((m) => ({ step: Number(m[1]), loss: Number(m[2]) }));
    expect(printed[0]?.step, stderr).toBe(1);
    expect(printed.at(-1)?.step, stderr).toBe(STEPS);
    const last = Number(/(\d+) steps, last loss (\S+) ->/.exec(stderr)?.[2]);
    expect(last).toBeCloseTo(printed.at(-1)!.loss, 5);
    expect(last).toBeLessThan(0.9 * printed[0]!.loss);

    // the CLI's initialisation (seed 0) and what it trained, on the same batch
    const init = SurrogatePaths.fromStateDict(model, new Map(), 'random init', { init: pytorchConvInit(0) });
    const trained = SurrogatePaths.fromStateDict(model, (await readSafetensors(out)).tensors, out);
    try {
      const before = surrogateLoss(model, init, x);
      const after = surrogateLoss(model, trained, x);
      // trainStep reports the loss before its update: step 1's is the initial paths' loss (5 printed digits)
      expect(Math.abs(before - printed[0]!.loss)).toBeLessThanOrEqual(1e-4 * before + 5e-6);
      expect(after).toBeLessThan(last);
      expect(after).toBeLessThan(0.9 * before);
    } finally {
      init.dispose();
      trained.dispose();
    }
  });
});
