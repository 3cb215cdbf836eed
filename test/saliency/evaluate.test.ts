import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { spearman } from '../../saliency/index.js';
import { FIXTURES, hasFixtures, SHARED } from '../support/shared.js';

const run = promisify(execFile);
const SDS = new URL('../../bin/sds.js', import.meta.url).pathname;
const MOSAIC = `${SHARED}slides/monuseg-test-mosaic.tiff`;

describe('spearman (analytic)', () => {
  it('is 1 for a monotone map, -1 reversed, and handles ties', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 1000])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    expect(spearman([1, 1, 2, 2], [1, 1, 2, 2])).toBeCloseTo(1, 12);
  });
});

describe.skipIf(!hasFixtures || !existsSync(MOSAIC))('sds evaluate on real H&E patches', () => {
  it('writes report.md with TV, insertion/deletion, prediction difference and randomization, and the plots', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sds-eval-'));
    // ImageFolder layout: one subfolder per class gives labels, hence accuracy
    const patches = join(tmp, 'patches');
    for (const [i, [x, y]] of [[300, 400], [2100, 1300]].entries()) {
      mkdirSync(join(patches, `class${i}`), { recursive: true });
      await sharp(MOSAIC, { page: 0 }).extract({ left: x!, top: y!, width: 64, height: 64 }).removeAlpha().png().toFile(join(patches, `class${i}`, `p${i}.png`));
    }
    const out = join(tmp, 'report');
    const { stdout } = await run(process.execPath, [SDS, 'evaluate', '--weights', `${FIXTURES}resnet18_c3.safetensors`, '--data', patches, '--surrogate', `${FIXTURES}resnet18_c3.surrogate.safetensors`, '--layers', 'input,2_0', '--methods', 'grad', '--out', out], { maxBuffer: 1 << 24 });
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(stdout).toBe(md);
    for (const section of ['## Total variation', '## Insertion and deletion', '## Prediction difference', '## Model randomization']) expect(md).toContain(section);
    for (const plot of ['tv-grad', 'deletion-grad', 'insertion-grad', 'randomization-original', 'randomization-backward-hook']) {
      expect(existsSync(join(out, `${plot}.svg`)), plot).toBe(true);
      const meta = await sharp(join(out, `${plot}.png`)).metadata();
      expect(meta.width).toBe(640);
    }
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      tv: { variant: string; method: string; layer: string; tv: number }[];
      randomization: { step: string; spearman: number; variant: string }[];
      prediction: { variant: string; all: number; agreement: number; accuracy?: number }[];
    };
    const orig = report.prediction.find((p) => p.variant === 'original')!;
    expect([orig.all, orig.agreement]).toEqual([0, 1]);
    expect(report.prediction.map((p) => p.variant)).toEqual(['original', 'backward-hook', 'forward-hook', 'surrogate']);
    // the backward hook changes no prediction; every row has an accuracy in [0, 1]
    expect(report.prediction[1]!.all).toBe(0);
    for (const p of report.prediction) expect(p.accuracy === 0 || p.accuracy === 0.5 || p.accuracy === 1).toBe(true);
    const tv = (v: string) => report.tv.find((r) => r.variant === v && r.layer === '2_0')!.tv;
    for (const v of ['backward-hook', 'forward-hook', 'surrogate']) expect(tv(v), v).toBeLessThan(tv('original'));
    // the unrandomized model agrees with itself; every randomization step is recorded
    expect(report.randomization.filter((r) => r.step === 'none').every((r) => Math.abs(r.spearman - 1) < 1e-9)).toBe(true);
    expect(new Set(report.randomization.map((r) => r.step))).toEqual(new Set(['none', 'fc', 'layer4', 'layer3', 'layer2', 'layer1', 'everything']));
  });
});
