import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../models/index.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

const run = promisify(execFile);
const SDS = new URL('../../bin/sds.js', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'sds-cli-'));

async function sds(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SDS, ...args], { env: { ...process.env, SDS_BACKEND: 'wasm' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('sds CLI', () => {
  it('--help lists the commands', async () => {
    const r = await sds(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/predict/);
    expect(r.stdout).toMatch(/bench/);
  });

  it('a bad flag is a clear error, not a crash', async () => {
    const r = await sds(['predict', '--wieghts', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: predict: Unknown option '--wieghts'/);
    expect(r.stderr).toMatch(/hint: see: sds predict --help/);
  });

  it.skipIf(!hasFixtures)('predict reproduces the fixture logits from the command line', async () => {
    const out = join(tmp, 'logits.safetensors');
    const r = await sds(['predict', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`, '--out', out]);
    expect(r.stderr).toMatch(/sds: engine wasm/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/#1 class/);
    const got = (await readSafetensors(out)).tensors.get('logits')!;
    const ref = (await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`)).tensors.get('logits/original')!;
    expect(got.shape).toEqual([2, 3]);
    expect(relErr(got.data as Float32Array, ref.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    // the table's top class is the fixture's target
    const targets = (await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`)).tensors.get('targets')!;
    const json = await sds(['predict', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`, '--json']);
    const parsed = JSON.parse(json.stdout) as { images: { classes: { cls: number }[] }[] };
    expect(parsed.images.map((im) => im.classes[0]!.cls)).toEqual(Array.from(targets.data as BigInt64Array, Number));
  });

  it.skipIf(!hasFixtures)('weights of another architecture: exit 1 with the key problems named', async () => {
    const r = await sds(['predict', '--weights', `${FIXTURES}unet_resnet34_c3.safetensors`, '--arch', 'resnet18', '--input', `${FIXTURES}resnet18_c3.case.safetensors`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not fit architecture resnet18: missing/);
  });

  it.skipIf(!hasFixtures)('attribute writes attr/map/tv equal to the reference (deeplift, surrogate)', async () => {
    const out = join(tmp, 'attr.safetensors');
    const r = await sds([
      'attribute', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`,
      '--layer', 'input,2_0', '--method', 'deeplift', '--variant', 'surrogate', '--surrogate', `${FIXTURES}resnet18_c3.surrogate.safetensors`,
      '--target', '2,2', '--metrics', 'tv', '--out', out,
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/total variation per image/);
    const got = (await readSafetensors(out)).tensors;
    const ref = (await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`)).tensors;
    for (const layer of ['input', '2_0']) {
      const a = got.get(`attr/${layer}`)!;
      expect(a.shape).toEqual(ref.get(`attr/surrogate/deeplift/${layer}`)!.shape);
      expect(relErr(a.data as Float32Array, ref.get(`attr/surrogate/deeplift/${layer}`)!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      expect(relErr(got.get(`tv/${layer}`)!.data as Float32Array, ref.get(`tv/surrogate/deeplift/${layer}`)!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      const [n, c, h, w] = a.shape as number[];
      expect(got.get(`map/${layer}`)!.shape).toEqual([n, h, w]);
      // map = signed channel mean of attr
      const attr = a.data as Float32Array;
      const map = got.get(`map/${layer}`)!.data as Float32Array;
      let s = 0;
      for (let ch = 0; ch < c!; ch++) s += attr[ch * h! * w!]!;
      expect(map[0]).toBeCloseTo(s / c!, 6);
    }
  });

  it.skipIf(!hasFixtures)('an unknown layer is a clear error', async () => {
    const r = await sds(['attribute', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`, '--layer', '5_0', '--method', 'grad', '--out', join(tmp, 'x.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown layer "5_0" for resnet18\n  hint: use one of: input, 1_0, 1_1/);
  });

  it.skipIf(!hasFixtures)('insdel reproduces the reference deletion and insertion scores', async () => {
    const out = join(tmp, 'insdel.safetensors');
    const r = await sds(['insdel', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`, '--saliency', `${FIXTURES}resnet18_c3.case.safetensors`, '--key', 'insdel/saliency', '--out', out]);
    expect(r.code).toBe(0);
    const got = (await readSafetensors(out)).tensors;
    const ref = (await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`)).tensors;
    expect(got.get('deletion_scores')!.shape).toEqual([1, 13]);
    expect(relErr(got.get('deletion_scores')!.data as Float32Array, ref.get('insdel/deletion_scores')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(relErr(got.get('insertion_scores')!.data as Float32Array, ref.get('insdel/insertion_scores')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(relErr(got.get('insertion_auc')!.data as Float32Array, ref.get('insdel/insertion_auc')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  });

  it.skipIf(!hasFixtures)('attribute --upsample feeds insdel: DeepLift 2_0 maps reproduce the reference scores', async () => {
    const maps = join(tmp, 'maps.safetensors');
    const png = join(tmp, 'maps.png');
    const a = await sds(['attribute', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`, '--layer', '2_0', '--method', 'deeplift', '--upsample', 'nearest', '--png', png, '--out', maps]);
    expect(a.code).toBe(0);
    const up = (await readSafetensors(maps)).tensors.get('saliency/2_0')!;
    expect(up.shape).toEqual([2, 96, 96]);
    const ref = (await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`)).tensors;
    expect(relErr((up.data as Float32Array).subarray(0, 96 * 96), ref.get('insdel/saliency')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    const out = join(tmp, 'insdel2.safetensors');
    expect((await sds(['insdel', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--input', `${FIXTURES}resnet18_c3.case.safetensors`, '--saliency', maps, '--key', 'saliency/2_0', '--out', out])).code).toBe(0);
    const got = (await readSafetensors(out)).tensors;
    expect(got.get('deletion_scores')!.shape).toEqual([2, 13]);
    expect(relErr((got.get('deletion_scores')!.data as Float32Array).subarray(0, 13), ref.get('insdel/deletion_scores')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    const { default: sharp } = await import('sharp');
    expect((await sharp(png).metadata()).format).toBe('png');
  });
});
