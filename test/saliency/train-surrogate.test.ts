import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine, readSafetensors, tf, type HostTensor } from '../../models/index.js';
import { SurrogatePaths, SurrogateTrainer, toTorchLayout } from '../../saliency/index.js';
import { loadCase, type FixtureCase } from '../support/fixture-case.js';
import { FIXTURES, hasFixtures, relErr } from '../support/shared.js';

const run = promisify(execFile);
const SDS = new URL('../../bin/sds.js', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'sds-train-'));
const LR = 1e-3;
const EPS = 1e-8;

/**
 * After one Adam step every parameter moves by lr * g / (|g| + eps). Where the reference gradient
 * is within 100 eps of zero that ratio is decided by float32 noise in g (ours and PyTorch's
 * alike), so there only the step bound |delta| <= lr is checked; everywhere else 1e-4 of scale.
 */
function expectAfterOneStep(ours: Float32Array, ref: Float32Array, gradRef: Float32Array, before: Float32Array, key: string): void {
  let scale = 0;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < ref.length; i++) {
    if (Math.abs(gradRef[i]!) >= 100 * EPS) {
      if (Math.abs(ours[i]! - ref[i]!) > 1e-4 * scale) expect.fail(`${key}[${i}]: ${ours[i]} vs ${ref[i]} (grad ${gradRef[i]})`);
    } else if (Math.abs(ours[i]! - before[i]!) > LR * (1 + 1e-3)) {
      expect.fail(`${key}[${i}] moved by ${ours[i]! - before[i]!}, more than lr`);
    }
  }
}

describe.skipIf(!hasFixtures)('surrogate training equals PyTorch (resnet18_c3 train/*)', () => {
  let c: FixtureCase;
  let init: Map<string, HostTensor>;
  beforeAll(async () => {
    await initEngine({ announce: false });
    c = await loadCase('resnet18_c3');
    init = (await readSafetensors(`${FIXTURES}resnet18_c3.surrogate.safetensors`)).tensors;
  });
  afterAll(() => {
    c?.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it('loss, gradients, one Adam step, loss after', async () => {
    const paths = SurrogatePaths.fromStateDict(c.model, init, 'init', { trainable: true });
    const trainer = new SurrogateTrainer(c.model, paths);
    try {
      const { loss, grads } = trainer.lossAndGradients(c.x);
      expect(relErr([(await loss.data())[0]!], c.tensors.get('train/loss0')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      loss.dispose();
      let checked = 0;
      for (const [k, g] of grads) {
        const ref = c.tensors.get(`train/grad0/${k}`);
        if (ref) {
          expect(relErr((await toTorchLayout(g)).data, ref.data as Float32Array), k).toBeLessThanOrEqual(1e-4);
          checked++;
        }
        g.dispose();
      }
      expect(checked).toBe(8);
      await trainer.trainStep(c.x);
      const after = await paths.toStateDict();
      for (const [k, t] of after) {
        const ref = c.tensors.get(`train/after1/${k}`);
        if (ref) expectAfterOneStep(t.data, ref.data as Float32Array, c.tensors.get(`train/grad0/${k}`)!.data as Float32Array, init.get(k)!.data as Float32Array, k);
      }
      expect(relErr([await trainer.loss(c.x)], c.tensors.get('train/loss1')!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    } finally {
      trainer.dispose();
      paths.dispose();
    }
  });

  it('the CLI: one step from --init reproduces train/after1', async () => {
    const out = join(tmp, 'one-step.safetensors');
    await run(process.execPath, [SDS, 'train-surrogate', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--data', `${FIXTURES}resnet18_c3.case.safetensors`, '--init', `${FIXTURES}resnet18_c3.surrogate.safetensors`, '--steps', '1', '--out', out]);
    const got = (await readSafetensors(out)).tensors;
    expect(got.size).toBe(24); // 6 paths x conv_one/conv_two x weight/bias
    for (const [k, t] of got) {
      const ref = c.tensors.get(`train/after1/${k}`);
      if (ref) expectAfterOneStep(t.data as Float32Array, ref.data as Float32Array, c.tensors.get(`train/grad0/${k}`)!.data as Float32Array, init.get(k)!.data as Float32Array, k);
    }
  });

  it('resuming from the epoch checkpoint gives the same paths as an uninterrupted run', async () => {
    const args = ['train-surrogate', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--data', `${FIXTURES}resnet18_c3.case.safetensors`, '--init', `${FIXTURES}resnet18_c3.surrogate.safetensors`, '--batch', '1'];
    const straight = join(tmp, 'straight.safetensors');
    const resumed = join(tmp, 'resumed.safetensors');
    await run(process.execPath, [SDS, ...args, '--epochs', '2', '--out', straight]);
    await run(process.execPath, [SDS, ...args, '--epochs', '1', '--out', resumed]);
    const { stderr } = await run(process.execPath, [SDS, ...args, '--epochs', '2', '--resume', '--out', resumed]);
    expect(stderr).toMatch(/resuming from .*after epoch 1 \(step 2\)/);
    const a = (await readSafetensors(straight)).tensors;
    const b = (await readSafetensors(resumed)).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(Array.from(b.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
  });
});
