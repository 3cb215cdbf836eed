/**
 * TorchScript archives (issue #16): sds reads the parameters of a torchvision ResNet saved with
 * torch.jit.save (scripted, traced, and frozen as WSInfer's zoo ships them) without running
 * anything, and refuses other architectures with the torch.onnx.export line that makes them
 * runnable. The truth is PyTorch itself: /usr/bin/python3 (Debian python3-torch 1.13) writes the
 * ResNet18 archives at test time from the shared fixture's weights (resnet_archives.py, ~3 s; they
 * are ~45 MB each, too big to commit), whose state_dict must come back exactly and whose logits on
 * the fixture case must match the reference within 1e-4 of their scale. The non-ResNet archive is
 * committed (test/fixtures/torchscript/two_conv.pt, made by make.py there).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { buildModel, initEngine, predictBatch, readSafetensors, tf } from '../../../models/index.js';
import { OnnxModel, readOnnx } from '../../../models/onnx/index.js';
import { loadWeights } from '../../../models/weights/load.js';
import { FIXTURES, hasFixtures, relErr } from '../../support/shared.js';
import { sdsError } from '../../support/sds-error.js';

const PYTHON = '/usr/bin/python3';
const HERE = fileURLToPath(new URL('../../fixtures/torchscript/', import.meta.url));
const TWO_CONV = `${HERE}two_conv.pt`;
const haveTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;
if (!haveTorch) console.warn(`[sds tests] ${PYTHON} with torch + torchvision is absent: the TorchScript tests against PyTorch-written archives are skipped`);

/** The line the refusal promises, for an archive at `path` whose ONNX file goes to `onnx`. */
const exportLine = (path: string, onnx: string) =>
  `torch.onnx.export(torch.jit.load("${path}"), torch.zeros(1, 3, 224, 224), "${onnx}", input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}}, opset_version=13)`;

/** A stored (uncompressed) zip of `files`, CRCs left 0 (sds's reader does not check them). */
function storedZip(files: Record<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(n.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, n, data);
    central.push(cd, n);
    offset += 30 + n.length + data.length;
  }
  const size = central.reduce((a, c) => a + c.length, 0);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(central.length / 2, 8);
  eocd.writeUInt16LE(central.length / 2, 10);
  eocd.writeUInt32LE(size, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, eocd]);
}

/**
 * data.pkl of `depth` ResNet objects, each holding the one below under two names: 2^depth paths
 * through a tree of `depth` objects (a "billion laughs" of modules).
 */
function sharedModulesPickle(depth: number): Uint8Array {
  const u32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
  const str = (t: string) => [0x8c, t.length, ...Buffer.from(t)];
  const out = [0x80, 2];
  for (let i = 0; i < depth; i++) {
    out.push(0x63, ...Buffer.from('__torch__.torchvision.models.resnet\nResNet\n'), 0x29, 0x81, 0x7d);
    if (i > 0) out.push(0x28, ...str('a'), 0x6a, ...u32(i - 1), ...str('b'), 0x6a, ...u32(i - 1), 0x75);
    out.push(0x62, 0x72, ...u32(i)); // BUILD, LONG_BINPUT i
  }
  out.push(0x2e);
  return Uint8Array.from(out);
}

describe('TorchScript archives sds does not build natively (committed two_conv.pt)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sds-torchscript-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a non-ResNet class with UNKNOWN_ARCHITECTURE, naming the class and the ONNX export line', async () => {
    const err = await sdsError(() => loadWeights(TWO_CONV));
    expect(err.code).toBe('UNKNOWN_ARCHITECTURE');
    expect(err.message).toMatch(/two_conv\.pt is a TorchScript archive of TwoConvNet/);
    expect(err.suggestion).toContain(exportLine(TWO_CONV, `${HERE}two_conv.onnx`));
    expect(err.suggestion).toContain(`--weights ${HERE}two_conv.onnx`);
  });

  it('tells a TorchScript archive by its content, not its name', async () => {
    const renamed = join(dir, 'weights.bin');
    copyFileSync(TWO_CONV, renamed);
    const err = await sdsError(() => loadWeights(renamed));
    expect(err.code).toBe('UNKNOWN_ARCHITECTURE');
    expect(err.message).toMatch(/weights\.bin is a TorchScript archive of TwoConvNet/);
  });

  it('a truncated or damaged archive is a clear error naming the file', async () => {
    const bytes = readFileSync(TWO_CONV);
    for (const cut of [bytes.length >> 1, bytes.length - 30, 200]) {
      const p = join(dir, `cut${cut}.pt`);
      writeFileSync(p, bytes.subarray(0, cut));
      const err = await sdsError(() => loadWeights(p));
      expect(err.code, `cut at ${cut}`).toBe('WEIGHTS_TRUNCATED');
      expect(err.message).toMatch(new RegExp(`cut${cut}\\.pt is truncated`));
    }
    // data.pkl overwritten with garbage after its first opcodes: the pickle reader says where.
    const damaged = Uint8Array.from(bytes);
    const at = Buffer.from(bytes).indexOf('TwoConvNet');
    damaged.fill(0xff, at + 40, at + 80);
    const p = join(dir, 'damaged.pt');
    writeFileSync(p, damaged);
    const err = await sdsError(() => loadWeights(p));
    expect(err.code).toBe('NOT_A_WEIGHTS_FILE');
    expect(err.message).toMatch(/damaged\.pt .*data\.pkl/);
  });

  it('a module tree shared under many names (2^60 paths from 60 objects) is refused at once', async () => {
    const p = join(dir, 'shared.pt');
    writeFileSync(p, storedZip({ 'shared/data.pkl': sharedModulesPickle(60), 'shared/version': Buffer.from('3\n') }));
    const t0 = performance.now();
    const err = await sdsError(() => loadWeights(p));
    expect(err.code).toBe('WEIGHTS_TOO_LARGE');
    expect(err.message).toMatch(/shared\.pt: its module tree has more than 100000 modules/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it.skipIf(!haveTorch)('the export line of the refusal works: run as printed, its ONNX file gives PyTorch\'s logits in sds', async () => {
    const copy = join(dir, 'two_conv.pt');
    copyFileSync(TWO_CONV, copy);
    const err = await sdsError(() => loadWeights(copy));
    const line = /torch\.onnx\.export\(.*opset_version=13\)/.exec(err.suggestion ?? '')?.[0];
    expect(line).toBe(exportLine(copy, join(dir, 'two_conv.onnx')));
    // PyTorch's logits on a fixed input, and the export exactly as the message prints it
    const script = `import json, math, torch\n${line}\nx = torch.tensor([math.sin(i) for i in range(2*3*32*32)]).reshape(2, 3, 32, 32)\nprint(json.dumps(torch.jit.load(${JSON.stringify(copy)})(x).flatten().tolist()))`;
    const run = spawnSync(PYTHON, ['-W', 'ignore', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const ref = Float32Array.from(JSON.parse(run.stdout.trim().split('\n').pop()!) as number[]);
    await initEngine({ announce: false });
    const model = new OnnxModel(await readOnnx(join(dir, 'two_conv.onnx')));
    try {
      const x = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.fround(Math.sin(i)));
      const out = model.run({ data: x, shape: [2, 3, 32, 32] });
      expect(out.logits.shape).toEqual([2, 2]);
      expect(relErr(out.logits.data, ref)).toBeLessThanOrEqual(1e-4);
    } finally {
      model.dispose();
    }
  }, 60_000);
});

describe.skipIf(!haveTorch || !hasFixtures)('TorchScript ResNet18 archives written by PyTorch (scripted, traced, frozen)', () => {
  let dir = '';
  const path = (name: string) => join(dir, `${name}.pt`);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sds-torchscript-'));
    const run = spawnSync(PYTHON, [`${HERE}resnet_archives.py`, `${FIXTURES}resnet18_c3.safetensors`, dir], { encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) throw new Error(`resnet_archives.py failed: ${run.stderr}`);
    await initEngine({ announce: false });
  }, 120_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    expect(tf.memory().numTensors).toBe(0);
  });

  it('scripted and traced: the state_dict is resnet18_c3.safetensors exactly (keys in order, shapes, values)', async () => {
    const ref = (await readSafetensors(`${FIXTURES}resnet18_c3.safetensors`)).tensors;
    for (const name of ['scripted', 'traced']) {
      const w = await loadWeights(path(name));
      expect(w.format).toBe('torchscript');
      expect(w.metadata.torchscript_class).toBe('torchvision.models.resnet.ResNet');
      expect([...w.tensors.keys()], name).toEqual([...ref.keys()]);
      let differing = 0;
      for (const [k, r] of ref) {
        const t = w.tensors.get(k)!;
        // num_batches_tracked is 0-d in PyTorch; the fixture's writer stored it as [1]
        expect(t.shape, `${name} ${k}`).toEqual(k.endsWith('num_batches_tracked') && r.shape.join() === '1' ? [] : r.shape);
        // F16 in the fixture, F32 in the archive: the same values (F16 -> F32 is exact); I64 as is.
        const a = t.data;
        const b = r.data;
        expect(a.length).toBe(b.length);
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
      }
      expect(differing, `${name}: values that differ`).toBe(0);
    }
    // torch.jit.save(..., _extra_files={"sds_arch": ...}) is read as metadata (spec.ts honours sds_arch)
    expect((await loadWeights(path('scripted'))).metadata.sds_arch).toBe('resnet18');
  });

  for (const name of ['scripted', 'traced', 'frozen', 'frozen_scripted']) {
    it(`${name}: sds builds the native ResNet18 and its logits match PyTorch within 1e-4`, async () => {
      const w = await loadWeights(path(name));
      if (name.startsWith('frozen')) expect(w.metadata.torchscript_frozen).toBe('true');
      const model = buildModel(w.tensors, w.source, w.metadata.sds_arch);
      try {
        expect(model.arch).toBe('resnet18');
        expect(model.numClasses).toBe(3);
        expect(model.hookPoints).toEqual(['conv1', 'layer2.0.conv1', 'layer2.0.downsample.0', 'layer3.0.conv1', 'layer3.0.downsample.0', 'layer4.0.conv1', 'layer4.0.downsample.0']);
        const c = (await readSafetensors(`${FIXTURES}resnet18_c3.case.safetensors`)).tensors;
        const input = c.get('input')!;
        const ref = c.get('logits/original')!;
        const pred = await predictBatch(model, input.data as Float32Array, input.shape as [number, number, number, number]);
        expect(pred.shape).toEqual(ref.shape);
        const err = relErr(pred.logits, ref.data as Float32Array);
        console.log(`[torchscript] ${name}: logits max rel err ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(1e-4);
      } finally {
        model.dispose();
      }
    });
  }

  it('refuses a ResNet whose conv stride was changed after construction (same state_dict, another network)', async () => {
    for (const name of ['stride1', 'stride1_traced', 'stride1_frozen']) {
      const err = await sdsError(() => loadWeights(path(name)));
      expect(err.code, name).toBe('UNKNOWN_ARCHITECTURE');
      expect(err.message).toMatch(new RegExp(`${name}\\.pt: its conv conv1 has stride \\(1, 1\\) instead of \\(2, 2\\)`));
      expect(err.suggestion).toContain(exportLine(path(name), join(dir, `${name}.onnx`)));
    }
    const err = await sdsError(() => loadWeights(path('no_maxpool')));
    expect(err.code).toBe('UNKNOWN_ARCHITECTURE');
    expect(err.message).toMatch(/no_maxpool\.pt: its maxpool is torch\.nn\.modules\.linear\.Identity/);
  });

  it('a truncated ResNet archive is a clear error', async () => {
    const bytes = readFileSync(path('traced'));
    const p = join(dir, 'half.pt');
    writeFileSync(p, bytes.subarray(0, bytes.length >> 1));
    const err = await sdsError(() => loadWeights(p));
    expect(err.code).toBe('WEIGHTS_TRUNCATED');
    expect(err.message).toMatch(/half\.pt is truncated/);
  });
});
