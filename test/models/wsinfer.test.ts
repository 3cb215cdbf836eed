/**
 * WSInfer model folders (issue #16): config.json as the wsinfer-zoo ships it (the values of
 * breast-tumor-resnet34.tcga-brca, as WSInfer's own test suite writes that config) gives the
 * patch size, spacing, resize, normalization and class names; the weights file is found by name;
 * every broken folder (no config, bad JSON, a field against the schema, class names that do not
 * match num_classes, no weights, a transform WSInfer 1.0 does not define) is a clear SdsError.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../core/errors.js';
import { isWsinferFolder, readWsinferFolder } from '../../models/wsinfer.js';
import { sdsError } from '../support/sds-error.js';

/** config.json of the zoo's breast-tumor-resnet34.tcga-brca (as in WSInfer's tests/test_all.py). */
const BREAST_TUMOR = {
  spec_version: '1.0',
  architecture: 'resnet34',
  num_classes: 2,
  class_names: ['Other', 'Tumor'],
  patch_size_pixels: 350,
  spacing_um_px: 0.25,
  transform: [
    { name: 'Resize', arguments: { size: 224 } },
    { name: 'ToTensor' },
    { name: 'Normalize', arguments: { mean: [0.7238, 0.5716, 0.6779], std: [0.112, 0.1459, 0.1089] } },
  ],
};

let root = '';
let n = 0;
/** A fresh folder holding `files` (objects are written as JSON). */
function folder(files: Record<string, unknown>): string {
  const dir = join(root, `m${n++}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}
const zoo = (config: unknown, weights: Record<string, string> = { 'torchscript_model.pt': 'weights' }) => folder({ 'config.json': config, ...weights });
const withTransform = (transform: unknown[]) => ({ ...BREAST_TUMOR, transform });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sds-wsinfer-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('readWsinferFolder: a zoo folder', () => {
  it('reads breast-tumor-resnet34.tcga-brca: 350 px at 0.25 um/px, resized to 224, its normalization and class names', async () => {
    const dir = zoo(BREAST_TUMOR);
    expect(await readWsinferFolder(dir)).toEqual({
      weightsPath: join(dir, 'torchscript_model.pt'),
      architecture: 'resnet34',
      numClasses: 2,
      classNames: ['Other', 'Tumor'],
      patchSize: 350,
      spacing: 0.25,
      resize: 224,
      normalization: { mean: [0.7238, 0.5716, 0.6779], std: [0.112, 0.1459, 0.1089] },
      source: dir,
    });
  });

  it('without Resize the patch is fed as cut; without Normalize the model sees RGB / 255', async () => {
    const m = await readWsinferFolder(zoo(withTransform([{ name: 'ToTensor' }])));
    expect(m.resize).toBeUndefined();
    expect(m.normalization).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
  });

  it('Resize takes torchvision\'s forms of a square size: 224, [224], [224, 224], after ToTensor too', async () => {
    for (const size of [224, [224], [224, 224]]) {
      const m = await readWsinferFolder(zoo(withTransform([{ name: 'ToTensor' }, { name: 'Resize', arguments: { size, antialias: true } }])));
      expect(m.resize, JSON.stringify(size)).toBe(224);
    }
  });

  it('picks the weights: state_dicts first, then ONNX, then the zoo\'s TorchScript; any extension case', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ 'torchscript_model.pt': 'x', 'pytorch_model.bin': 'x' }, 'pytorch_model.bin'],
      [{ 'torchscript_model.pt': 'x', 'torchscript_model.onnx': 'x' }, 'torchscript_model.onnx'],
      [{ 'model.pt': 'x', 'model.onnx': 'x', 'Model.SafeTensors': 'x' }, 'Model.SafeTensors'],
      [{ 'model.pt': 'x', 'torchscript_model.pt': 'x', 'notes.txt': 'x' }, 'model.pt'],
    ];
    for (const [weights, want] of cases) {
      const dir = zoo(BREAST_TUMOR, weights);
      expect((await readWsinferFolder(dir)).weightsPath, Object.keys(weights).join()).toBe(join(dir, want));
    }
  });

  it('isWsinferFolder: a folder with config.json, nothing else', async () => {
    const dir = zoo(BREAST_TUMOR);
    expect(await isWsinferFolder(dir)).toBe(true);
    expect(await isWsinferFolder(join(dir, 'torchscript_model.pt'))).toBe(false);
    expect(await isWsinferFolder(folder({ 'model.pt': 'x' }))).toBe(false);
    expect(await isWsinferFolder(join(root, 'no-such-folder'))).toBe(false);
  });
});

describe('readWsinferFolder: broken folders are clear errors', () => {
  it('no config.json, or not a folder', async () => {
    const dir = folder({ 'torchscript_model.pt': 'x' });
    const err = await sdsError(readWsinferFolder(dir));
    expect(err.code).toBe('FILE_NOT_FOUND');
    expect(err.message).toBe(`${dir} has no config.json, so it is not a WSInfer model folder`);
    const file = join(dir, 'torchscript_model.pt');
    expect((await sdsError(readWsinferFolder(file))).message).toMatch(/torchscript_model\.pt: it is a file, not a folder/);
    expect((await sdsError(readWsinferFolder(join(root, 'gone')))).message).toMatch(/gone: it does not exist/);
  });

  it('config.json that is not JSON', async () => {
    const dir = zoo('{"spec_version": "1.0", "architecture": ');
    const err = await sdsError(readWsinferFolder(dir));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(new RegExp(`^${join(dir, 'config.json')} is not valid JSON \\(`));
  });

  it('schema violations name the field', async () => {
    const { patch_size_pixels: _, ...noPatch } = BREAST_TUMOR;
    const cases: [unknown, RegExp][] = [
      [noPatch, /config\.json: patch_size_pixels: /],
      [{ ...BREAST_TUMOR, spec_version: '2.0' }, /config\.json: spec_version: .*"1\.0"/],
      [{ ...BREAST_TUMOR, num_classes: 0 }, /num_classes: /],
      [{ ...BREAST_TUMOR, patch_size_pixels: 350.5 }, /patch_size_pixels: /],
      [{ ...BREAST_TUMOR, spacing_um_px: 0 }, /spacing_um_px: /],
      [{ ...BREAST_TUMOR, class_names: ['Tumor', 'Tumor'] }, /class_names: class names must be unique/],
      [{ ...BREAST_TUMOR, class_names: 'Other,Tumor' }, /class_names: /],
      [withTransform([{ name: 'ToTensor', args: {} }]), /transform\.0: .*args/],
      [withTransform([{ name: 'Resize', arguments: 224 }]), /transform\.0\.arguments: /],
      [[BREAST_TUMOR], /config\.json: .*object/],
    ];
    for (const [config, want] of cases) {
      const err = await sdsError(readWsinferFolder(zoo(config)));
      expect(err.code, String(want)).toBe('BAD_INPUT');
      expect(err.message).toMatch(want);
    }
  });

  it('class_names that do not match num_classes', async () => {
    const err = await sdsError(readWsinferFolder(zoo({ ...BREAST_TUMOR, num_classes: 3 })));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toMatch(/config\.json: class_names has 2 names but num_classes is 3/);
  });

  it('no weights file, or two of one kind', async () => {
    const dir = zoo(BREAST_TUMOR, { 'README.md': 'x' });
    const err = await sdsError(readWsinferFolder(dir));
    expect(err.code).toBe('FILE_NOT_FOUND');
    expect(err.message).toBe(`${dir} has no weights file beside config.json (it holds README.md)`);
    expect(err.suggestion).toMatch(/torchscript_model\.pt/);
    const two = await sdsError(readWsinferFolder(zoo(BREAST_TUMOR, { 'a.onnx': 'x', 'b.onnx': 'x' })));
    expect(two.code).toBe('BAD_INPUT');
    expect(two.message).toMatch(/2 weights files of one kind \(a\.onnx, b\.onnx\)/);
  });

  it('a transform sds cannot apply (not in spec 1.0, out of order, bad or unsupported arguments)', async () => {
    const normalize = BREAST_TUMOR.transform[2]!;
    const cases: [unknown[], RegExp][] = [
      [[{ name: 'ToTensor' }, { name: 'CenterCrop', arguments: { size: 200 } }], /transform\[1\] \(CenterCrop\) is not a transform of the WSInfer config spec 1\.0 \(Resize, ToTensor, Normalize\)/],
      [[normalize, { name: 'ToTensor' }], /transform\[0\] \(Normalize\) comes before ToTensor/],
      [[{ name: 'Resize', arguments: { size: 224 } }], /transform has no ToTensor/],
      [[{ name: 'ToTensor' }, { name: 'Normalize', arguments: { mean: [0.5, 0.5], std: [0.2, 0.2, 0.2] } }], /transform\[1\] \(Normalize\) has arguments sds cannot apply: mean: mean needs 3 values/],
      [[{ name: 'ToTensor' }, { name: 'Normalize', arguments: { mean: [0, 0, 0], std: [0.2, 0, 0.2] } }], /transform\[1\] \(Normalize\) has arguments sds cannot apply: std\.1: /],
      [[{ name: 'Resize', arguments: { size: [224, 200] } }, { name: 'ToTensor' }], /transform\[0\] \(Resize\) resizes to 224x200, which is not square/],
      [[{ name: 'Resize', arguments: { size: 224, interpolation: 'nearest' } }, { name: 'ToTensor' }], /transform\[0\] \(Resize\) has arguments sds cannot apply: interpolation: /],
      [[{ name: 'Resize', arguments: {} }, { name: 'ToTensor' }], /transform\[0\] \(Resize\) has arguments sds cannot apply: size: /],
      [[{ name: 'ToTensor' }, { name: 'ToTensor' }], /transform\[1\] \(ToTensor\) is a second ToTensor/],
    ];
    for (const [transform, want] of cases) {
      const err = await sdsError(readWsinferFolder(zoo(withTransform(transform))));
      expect(err.code, String(want)).toBe('WEIGHTS_UNSUPPORTED');
      expect(err.message).toMatch(want);
    }
  });
});
