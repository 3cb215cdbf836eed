/**
 * Issue #14, finding 4: a state_dict that does not fit is described by what is wrong with it.
 * Integer weights are a dtype problem (not "wrong shape"), and the expected shape of a tensor
 * whose dimensions are swapped comes from the architecture, not from the bad tensor itself.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { buildModel, initEngine, loadWeights, tf, type StateDict } from '../../../models/index.js';
import { floatArchive, type StorageType } from '../../support/hostile-weights.js';

const tmp = mkdtempSync(join(tmpdir(), 'sds-messages-'));

/** Every parameter of `arch` at stem width `width` (zeros), as a state_dict. */
function stateDict(arch: string, width: number, classes: number): StateDict {
  const stem = arch === 'monai-resnet18' ? 'features.0.weight' : arch.startsWith('unet') ? 'encoder.conv1.weight' : 'conv1.weight';
  const sd: StateDict = new Map([[stem, { dtype: 'F32', shape: [width, 3, 7, 7], data: new Float32Array(width * 147) }]]);
  const init = (key: string, shape: readonly number[]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    sd.set(key, { dtype: 'F32', shape: [...shape], data });
    return data;
  };
  buildModel(sd, 'probe', arch, { init, numClasses: classes }).dispose();
  return sd;
}

/** The same tensor with its first two dimensions swapped (values do not matter here). */
function swapped(sd: StateDict, key: string): StateDict {
  const t = sd.get(key)!;
  const out = new Map(sd);
  out.set(key, { ...t, shape: [t.shape[1]!, t.shape[0]!, ...t.shape.slice(2)] });
  return out;
}

function mismatch(sd: StateDict, source = 'bad.pt'): SdsError {
  try {
    buildModel(sd, source).dispose();
  } catch (err) {
    expect(err).toBeInstanceOf(SdsError);
    expect((err as SdsError).code).toBe('WEIGHTS_MISMATCH');
    return err as SdsError;
  }
  throw new Error('expected WEIGHTS_MISMATCH, the model was built');
}

const problems = (e: SdsError) => e.context as { wrongShape: string[]; wrongDtype?: string[]; missing: string[]; unexpected: string[] };

describe('weights that do not fit say what is wrong (issue #14, finding 4)', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  it('an int64 conv weight (a .pt with a LongStorage) is a dtype problem, not a shape problem', async () => {
    const sd = stateDict('resnet18', 8, 3);
    const tensors = Object.fromEntries(
      [...sd].map(([k, t]) => [k, { shape: t.shape, type: (k === 'conv1.weight' ? 'LongStorage' : 'FloatStorage') as StorageType }]),
    );
    const path = join(tmp, 'int64-conv.pt');
    writeFileSync(path, floatArchive(tensors));
    const w = await loadWeights(path);
    expect(w.tensors.get('conv1.weight')!.dtype).toBe('I64');
    const e = mismatch(w.tensors, w.source);
    expect(e.message).toMatch(/int64-conv\.pt does not fit architecture resnet18: wrong dtype: conv1\.weight is I64 \(integers\), weights must be floating point/);
    expect(e.message).not.toMatch(/wrong shape/);
    expect(problems(e).wrongShape).toEqual([]);
    expect(e.suggestion).toMatch(/float/);
    expect(tf.memory().numTensors).toBe(0);
  });

  it('an integer tensor of the wrong shape reports both', () => {
    const sd = stateDict('resnet18', 8, 3);
    sd.set('layer1.0.conv1.weight', { dtype: 'I32', shape: [8, 8, 1, 1], data: new Int32Array(64) });
    const e = mismatch(sd);
    expect(e.message).toMatch(/wrong dtype: layer1\.0\.conv1\.weight is I32 \(integers\)/);
    expect(e.message).toMatch(/wrong shape: layer1\.0\.conv1\.weight is I32\[8,8,1,1\], expected \[8,8,3,3\]/);
  });

  it('a stem conv with swapped dimensions: the expected shape comes from the architecture', () => {
    const e = mismatch(swapped(stateDict('resnet18', 8, 3), 'conv1.weight'));
    expect(e.message).toMatch(/wrong shape: conv1\.weight is F32\[3,8,7,7\], expected \[8,3,7,7\] \(the same sizes in another order/);
    // one problem, not a cascade through every layer built from a width of 3
    expect(problems(e).wrongShape).toHaveLength(1);
    expect(problems(e).missing).toEqual([]);
  });

  it('a classifier head with swapped dimensions keeps the class count of its bias', () => {
    const e = mismatch(swapped(stateDict('resnet18', 8, 3), 'fc.weight'));
    expect(e.message).toMatch(/wrong shape: fc\.weight is F32\[64,3\], expected \[3,64\]/);
    expect(problems(e).wrongShape).toHaveLength(1);
  });

  it('a U-Net decoder conv with swapped dimensions: expected from the encoder widths, no cascade', () => {
    const sd = stateDict('unet-resnet18', 8, 2);
    expect(sd.get('decoder.blocks.0.conv1.0.weight')!.shape).toEqual([256, 96, 3, 3]);
    const e = mismatch(swapped(sd, 'decoder.blocks.0.conv1.0.weight'));
    expect(e.message).toMatch(/wrong shape: decoder\.blocks\.0\.conv1\.0\.weight is F32\[96,256,3,3\], expected \[256,96,3,3\]/);
    expect(problems(e).wrongShape).toHaveLength(1);
  });

  it('a U-Net stem and segmentation head with swapped dimensions', () => {
    const sd = swapped(swapped(stateDict('unet-resnet18', 8, 2), 'encoder.conv1.weight'), 'segmentation_head.0.weight');
    const e = mismatch(sd);
    expect(e.message).toMatch(/encoder\.conv1\.weight is F32\[3,8,7,7\], expected \[8,3,7,7\]/);
    expect(e.message).toMatch(/segmentation_head\.0\.weight is F32\[16,2,3,3\], expected \[2,16,3,3\]/);
    expect(problems(e).wrongShape).toHaveLength(2);
  });

  it('a MONAI stem with swapped dimensions', () => {
    const e = mismatch(swapped(stateDict('monai-resnet18', 8, 1), 'features.0.weight'));
    expect(e.message).toMatch(/wrong shape: features\.0\.weight is F32\[3,8,7,7\], expected \[8,3,7,7\]/);
    expect(problems(e).wrongShape).toHaveLength(1);
  });

  it('narrow models still take their widths from the weights', () => {
    for (const [arch, width] of [['resnet18', 16], ['resnet50', 8], ['unet-resnet34', 8], ['monai-resnet18', 4]] as const) {
      const m = buildModel(stateDict(arch, width, 2), 'narrow');
      expect(m.arch).toBe(arch);
      m.dispose();
    }
    expect(tf.memory().numTensors).toBe(0);
  });
});
