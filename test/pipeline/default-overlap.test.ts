/**
 * The default overlap (contracts/analysis.ts `defaultOverlap`): a quarter of the patch, rounded down
 * so that every layer scale up to 32 that divides the patch also divides patch - overlap. Checked
 * against a brute-force search of that definition for every patch the contract accepts; against
 * `checkSpec` with the layers of a real ResNet18 (coarsest requested scale 8, and 32) for every patch
 * those layers take; filled by every parser an analysis goes through (the spec, the queue's slide
 * task, the manifest's record, the CLI flags; the HTTP request leaves it to the spec); and on a real
 * analysis with defaults: the manifest records it, and the seam measure (results/seams.ts) is near
 * 1 where the same analysis with overlap 0 shows its patch grid.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slideAnalysisFromFlags } from '../../cli/analysis-options.js';
import { analysisRecordSchema, analysisRequestSchema, defaultOverlap, parseAnalysisSpec, slideAnalysisSchema, slideTaskSchema, viewerConfig, type ModelSpec } from '../../contracts/index.js';
import { SdsError } from '../../core/errors.js';
import { describeModel, initEngine, type ModelDescription } from '../../models/index.js';
import { analyzeSlideToDir, checkSpec } from '../../pipeline/index.js';
import { measureSeams } from '../../results/seams.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';

const RANDOM: ModelSpec = { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 };

/** The rule from its definition: the largest o <= patch/4 with (patch - o) a multiple of each power of two up to 32 that divides the patch. */
function bruteForce(patch: number): number {
  const scales = [1, 2, 4, 8, 16, 32].filter((s) => patch % s === 0);
  for (let o = Math.floor(patch / 4); o > 0; o--) if (scales.every((s) => (patch - o) % s === 0)) return o;
  return 0;
}

describe('defaultOverlap: a quarter of the patch on the layers’ grid', () => {
  it('equals the brute-force rule for every patch the contract accepts (32..4096)', () => {
    for (let patch = 32; patch <= 4096; patch++) expect(defaultOverlap(patch), `patch ${patch}`).toBe(bruteForce(patch));
    expect([256, 224, 512, 128, 100, 96, 64].map((p) => defaultOverlap(p))).toEqual([64, 32, 128, 32, 24, 0, 0]);
  });

  it('every parser fills it from the patch; an explicit overlap (0 too) is kept; a negative one is refused by name', async () => {
    expect(parseAnalysisSpec({ model: RANDOM })).toMatchObject({ patch: 256, overlap: 64 });
    expect(parseAnalysisSpec({ model: RANDOM, patch: 512 }).overlap).toBe(128);
    expect(parseAnalysisSpec({ model: RANDOM, patch: 224 }).overlap).toBe(32);
    expect(parseAnalysisSpec({ model: RANDOM, patch: 512, overlap: 0 }).overlap).toBe(0);
    expect(parseAnalysisSpec({ model: RANDOM, overlap: 96 }).overlap).toBe(96);
    expect(() => parseAnalysisSpec({ model: RANDOM, overlap: -1 })).toThrow(/overlap/);
    // the queue's payloads and the manifest's record extend the spec and keep its default
    expect(slideAnalysisSchema.parse({ model: RANDOM, out: 'o', patch: 512 }).overlap).toBe(128);
    expect(slideTaskSchema.parse({ slide: 's.svs', options: { model: RANDOM, out: 'o', patch: 224 } }).options.overlap).toBe(32);
    expect(analysisRecordSchema.parse({ model: RANDOM, modelIdentity: 'x' }).overlap).toBe(64);
    // the HTTP request leaves it out, so parseAnalysisSpec resolves it against the request's patch
    const request = analysisRequestSchema.parse({ slide: 's', model: 'm', layers: ['1_1'], methods: ['grad'], variants: ['original'], patch: 512 });
    expect(request.overlap).toBeUndefined();
    expect(parseAnalysisSpec({ model: RANDOM, patch: request.patch, overlap: request.overlap }).overlap).toBe(128);
    expect(viewerConfig({}).defaults).toMatchObject({ patch: 256, overlap: 64 });
    // the CLI's flags (layers given: the model is not described)
    expect((await slideAnalysisFromFlags({ weights: 'random:resnet18', layers: ['1_1'], patch: 512, out: 'o' } as Parameters<typeof slideAnalysisFromFlags>[0])).overlap).toBe(128);
    expect((await slideAnalysisFromFlags({ weights: 'random:resnet18', layers: ['1_1'], patch: 512, overlap: 0, out: 'o' } as Parameters<typeof slideAnalysisFromFlags>[0])).overlap).toBe(0);
  });
});

describe('the default passes checkSpec wherever overlap 0 does', () => {
  let resnet: ModelDescription;
  beforeAll(async () => {
    await initEngine({ announce: false });
    resnet = await describeModel(RANDOM);
  }, 60_000);

  it('ResNet18 with coarsest requested scale 8 (1_1, 2_1) and 32 (1_1..4_1): patches 224, 256, 512 and every other patch those layers take', () => {
    const sets = [['1_1', '2_1'], ['1_1', '2_1', '3_1', '4_1']];
    expect(sets.map((s) => Math.max(...s.map((l) => resnet.scales.get(l)!)))).toEqual([8, 32]);
    const expected: Record<number, number> = { 224: 32, 256: 64, 512: 128 };
    for (const layers of sets)
      for (const [patch, overlap] of Object.entries(expected)) {
        const spec = parseAnalysisSpec({ model: RANDOM, layers, patch: Number(patch) });
        expect(spec.overlap).toBe(overlap);
        expect(() => checkSpec(resnet, spec)).not.toThrow();
      }
    let checked = 0;
    for (const layers of sets)
      for (let patch = 32; patch <= 1024; patch += 4) {
        try {
          checkSpec(resnet, parseAnalysisSpec({ model: RANDOM, layers, patch, overlap: 0 }));
        } catch {
          continue; // a patch these layers do not take at all
        }
        const spec = parseAnalysisSpec({ model: RANDOM, layers, patch });
        expect(() => checkSpec(resnet, spec), `layers ${layers.join(',')} patch ${patch} overlap ${spec.overlap}`).not.toThrow();
        checked++;
      }
    // 1_1,2_1 take every multiple of 8 (125 of them), 1_1..4_1 every multiple of 32 (32)
    expect(checked).toBe(125 + 32);
  });

  it('a layer coarser than 32 px per value: refused with a patch and overlap that fit it', () => {
    const deep: ModelDescription = { ...resnet, layers: [...resnet.layers, 'deep'], scales: new Map([...resnet.scales, ['deep', 64]]) };
    const spec = parseAnalysisSpec({ model: RANDOM, layers: ['1_1', 'deep'], patch: 384 });
    expect(spec.overlap).toBe(96);
    let err: unknown;
    try {
      checkSpec(deep, spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SdsError);
    expect((err as SdsError).message).toMatch(/layer deep has one value per 64 px; patch \(384\) and patch - overlap \(288\) must be multiples of 64/);
    expect((err as SdsError).suggestion).toBe('e.g. patch 384, overlap 64 (or 0)');
    expect(() => checkSpec(deep, { ...spec, overlap: 64 })).not.toThrow();
  });
});

describe('an analysis with defaults', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-default-overlap-'));
  const slide = join(root, 'blob.tif');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('records the overlap in its manifest and shows no patch grid, where overlap 0 does', async () => {
    await writeTiff(slide, tissuePattern(512, 512), 512, 512);
    // 128 px patches (default overlap 32), a random ResNet18's gradient at 1_1 and 2_1
    const run = (o: { overlap?: number }, out: string) => analyzeSlideToDir({ slide, out: join(root, out), model: RANDOM, layers: ['1_1', '2_1'], methods: ['grad'], variants: ['original'], patch: 128, workers: 1, outputs: false, journal: false, ...o });
    const ratios = async (r: Awaited<ReturnType<typeof run>>, out: string) => Promise.all(r.manifest.overlays.map(async (o) => (await measureSeams(join(root, out, 'blob'), r.manifest, o)).ratio));
    const blended = await run({}, 'default');
    expect(blended.manifest.patches.overlap).toBe(32);
    expect(blended.manifest.analysis?.overlap).toBe(32);
    const side = await run({ overlap: 0 }, 'zero');
    expect(side.manifest.patches.overlap).toBe(0);
    // stride 96 instead of 128: more patches over the same tissue
    expect(blended.manifest.patches.count).toBeGreaterThan(side.manifest.patches.count);
    const b = await ratios(blended, 'default');
    const z = await ratios(side, 'zero');
    for (const r of b) expect(Math.abs(r - 1)).toBeLessThan(0.15);
    // zero padding fades each patch's map towards its edges: a line along every patch border
    expect(Math.max(...z.map((r) => Math.abs(r - 1)))).toBeGreaterThan(0.25);
  }, 60_000);
});
