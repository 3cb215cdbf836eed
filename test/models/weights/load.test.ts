import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { buildModel, inferArch, initEngine, loadWeights, parseSafetensors, randomModel, serializeSafetensors, stripPrefixes, tf, type StateDict } from '../../../models/index.js';
import { bfloat16ToFloat, floatToHalf, halfToFloat } from '../../../models/weights/float16.js';
import { FIXTURES, hasFixtures } from '../../support/shared.js';

const tmp = mkdtempSync(join(tmpdir(), 'sds-weights-'));

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof SdsError ? err.code : `not an SdsError: ${String(err)}`;
  }
  return undefined;
}

describe('half and bfloat16 conversion (analytic values)', () => {
  it('decodes known bit patterns', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
    expect(bfloat16ToFloat(0x3f80)).toBe(1);
    expect(bfloat16ToFloat(0xc0a0)).toBe(-5);
  });
  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToFloat(h);
      if (Number.isFinite(v)) expect(floatToHalf(v) === h || (v === 0 && (h & 0x7fff) === 0)).toBe(true);
    }
  });
  it('rounds to nearest even', () => {
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});

describe('safetensors', () => {
  it('round-trips F32, F16, I64 with metadata', () => {
    const bytes = serializeSafetensors(
      {
        a: { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 7]) },
        h: { shape: [2], data: Float32Array.from([0.5, -1.25]), dtype: 'F16' },
        n: { shape: [1], data: BigInt64Array.from([42n]) },
      },
      { arch: 'x' },
    );
    const f = parseSafetensors(bytes);
    expect(f.metadata).toEqual({ arch: 'x' });
    expect([...f.tensors.keys()]).toEqual(['a', 'h', 'n']);
    expect(Array.from(f.tensors.get('a')!.data as Float32Array)).toEqual(Array.from(Float32Array.from([1, -2, 3.5, 0, 1e-3, 7])));
    expect(f.tensors.get('h')!.dtype).toBe('F16');
    expect(Array.from(f.tensors.get('h')!.data as Float32Array)).toEqual([0.5, -1.25]);
    expect(f.tensors.get('n')!.data[0]).toBe(42n);
  });

  it('a truncated file is reported as truncated', async () => {
    const bytes = serializeSafetensors({ a: { shape: [100], data: new Float32Array(100) } });
    const p = join(tmp, 'cut.safetensors');
    writeFileSync(p, bytes.subarray(0, bytes.length - 10));
    expect(await codeOf(loadWeights(p))).toBe('WEIGHTS_TRUNCATED');
    writeFileSync(p, bytes.subarray(0, 20));
    expect(await codeOf(loadWeights(p))).toBe('WEIGHTS_TRUNCATED');
  });

  it('a file that is not weights says so', async () => {
    const p = join(tmp, 'notes.safetensors');
    writeFileSync(p, 'these are my notes, not a model\n');
    expect(await codeOf(loadWeights(p))).toBe('NOT_A_WEIGHTS_FILE');
    const q = join(tmp, 'image.bin');
    writeFileSync(q, Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(await codeOf(loadWeights(q))).toBe('NOT_A_WEIGHTS_FILE');
    expect(await codeOf(loadWeights(join(tmp, 'absent.pt')))).toBe('FILE_NOT_FOUND');
  });
});

describe('architecture inference and key checking', () => {
  beforeAll(async () => {
    await initEngine({ announce: false });
  });

  /** The state_dict a random model of `arch` would have, read back from its parameter names. */
  function keysOf(arch: string, classes: number, prefix = ''): StateDict {
    const sd: StateDict = new Map();
    const init = (key: string, shape: readonly number[]) => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      sd.set(prefix + key, { dtype: 'F32', shape: [...shape], data });
      return data;
    };
    buildModel(new Map(), 'probe', arch, { init, numClasses: classes }).dispose();
    return sd;
  }

  it.each([
    ['resnet18', 3],
    ['resnet34', 10],
    ['resnet50', 1000],
    ['monai-resnet18', 1],
    ['unet-resnet18', 2],
    ['unet-resnet34', 3],
    ['unet-resnet50', 4],
  ])('infers %s with %i classes from the keys', (arch, classes) => {
    const sd = keysOf(arch, classes);
    expect(inferArch(sd, 'probe')).toEqual({ arch, numClasses: classes });
    const model = buildModel(sd, 'probe');
    expect(model.arch).toBe(arch);
    expect(model.hookPoints.length).toBe(7);
    if (arch.includes('50')) expect(model.hookPoints).toContain(arch.startsWith('unet') ? 'encoder.layer2.0.conv2' : 'layer2.0.conv2');
    if (arch === 'monai-resnet18') expect(model.hookPoints[1]).toBe('features.5.0.conv1');
    model.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it('strips module. and model. prefixes', () => {
    const sd = stripPrefixes(keysOf('resnet18', 2, 'module.model.'));
    expect(inferArch(sd, 'wrapped')).toEqual({ arch: 'resnet18', numClasses: 2 });
  });

  it('weights of another architecture list missing and unexpected keys', () => {
    const sd = keysOf('unet-resnet34', 3);
    let err: unknown;
    try {
      buildModel(sd, 'unet.safetensors', 'resnet18');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SdsError);
    expect((err as SdsError).code).toBe('WEIGHTS_MISMATCH');
    expect((err as SdsError).message).toMatch(/does not fit architecture resnet18: missing \d+ keys: conv1.weight.*unexpected \d+ keys: encoder.conv1.weight/);
    expect(tf.memory().numTensors).toBe(0);
  });

  it('a wrong shape names the key and both shapes', () => {
    const sd = keysOf('resnet18', 3);
    sd.set('layer1.0.conv1.weight', { dtype: 'F32', shape: [64, 64, 1, 1], data: new Float32Array(64 * 64) });
    expect(() => buildModel(sd, 'bad.safetensors')).toThrow(/wrong shape: layer1.0.conv1.weight is F32\[64,64,1,1\], expected \[64,64,3,3\]/);
    expect(tf.memory().numTensors).toBe(0);
  });

  it('an unknown state_dict asks for --arch', () => {
    const sd: StateDict = new Map([['0.weight', { dtype: 'F32', shape: [4, 3, 3, 3], data: new Float32Array(108) }]]);
    expect(() => inferArch(sd, 'tiny.pt')).toThrow(/cannot tell the architecture/);
  });

  it('a random model runs and disposes all its tensors', () => {
    const m = randomModel('resnet18', 2, 3);
    const y = tf.tidy(() => m.forward(tf.ones([1, 64, 64, 3]) as tf.Tensor4D));
    expect(y.shape).toEqual([1, 2]);
    y.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});

describe.skipIf(!hasFixtures)('fixture weight files', () => {
  it('reads F16 fixture weights with metadata and widens them to float32', async () => {
    const w = await loadWeights(`${FIXTURES}resnet18_c3.safetensors`);
    expect(w.metadata.arch).toBe('resnet18');
    expect(w.tensors.get('conv1.weight')!.dtype).toBe('F16');
    expect(w.tensors.get('conv1.weight')!.data).toBeInstanceOf(Float32Array);
  });

  it('a truncated real weights file is reported as truncated', async () => {
    const p = join(tmp, 'resnet18_cut.safetensors');
    const bytes = readFileSync(`${FIXTURES}resnet18_c3.safetensors`);
    writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(await codeOf(loadWeights(p))).toBe('WEIGHTS_TRUNCATED');
  });
});
