/**
 * `sds evaluate` on an ONNX model (issue #16): the prediction difference of the forward-hook and
 * surrogate variants equals PyTorch's (the case file's pred_diff, averaged over its images); the
 * model randomization test, which rebuilds native architectures only, is refused with the flag
 * that skips it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../models/index.js';
import { sdsRun } from '../support/cli-process.js';
import { SHARED } from '../support/shared.js';

const DIR = `${SHARED}fixtures/onnx-reference/`;
const present = existsSync(`${DIR}vgg_small_bn_c2.onnx`);
if (!present) console.warn(`[sds tests] ${DIR} is absent: sds evaluate on an ONNX model is skipped`);

describe.skipIf(!present)('sds evaluate on an ONNX model', () => {
  const out = mkdtempSync(join(tmpdir(), 'sds-evaluate-onnx-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const base = ['evaluate', '--weights', `${DIR}vgg_small_bn_c2.onnx`, '--data', `${DIR}vgg_small_bn_c2.case.safetensors`, '--methods', 'grad', '--layers', 'features.6', '--out', out];

  it('refuses the randomization test, naming --no-randomization', async () => {
    const r = await sdsRun(base);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/randomization test rebuilds the model .* native architectures only/);
    expect(r.stderr).toMatch(/--no-randomization/);
  });

  it("the variants' prediction difference equals PyTorch's", async () => {
    const r = await sdsRun([...base, '--no-randomization', '--surrogate', `${DIR}vgg_small_bn_c2.surrogate.safetensors`]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { prediction: { variant: string; all: number; target: number }[] };
    const ref = (await readSafetensors(`${DIR}vgg_small_bn_c2.case.safetensors`)).tensors;
    const mean = (k: string) => Array.from(ref.get(k)!.data as Float32Array).reduce((a, b) => a + b, 0) / 2;
    for (const v of ['forward-hook', 'surrogate']) {
      const row = report.prediction.find((p) => p.variant === v)!;
      const key = v.replace('-', '_');
      expect(row.all).toBeCloseTo(mean(`pred_diff/${key}/all`), 5);
      expect(row.target).toBeCloseTo(mean(`pred_diff/${key}/target`), 5);
    }
    expect(report.prediction.find((p) => p.variant === 'backward-hook')!.all).toBe(0);
  });
});
