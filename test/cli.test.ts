import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../models/index.js';
import { FIXTURES, hasFixtures, relErr } from './shared.js';

const run = promisify(execFile);
const SDS = new URL('../bin/sds.js', import.meta.url).pathname;
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
});
