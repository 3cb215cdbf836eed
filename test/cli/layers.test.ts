/**
 * `sds layers <weights>` (issue #16) for ONNX and native models: the layers and their shapes at a
 * patch size equal the reference sidecar's (PyTorch module paths, shapes from PyTorch), the hook
 * points equal the sidecar's stride-2 convs, DeepLift's availability is stated with the node that
 * prevents it; a fixed-size graph is described at its own size; a non-RGB model is refused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sdsRun } from '../support/cli-process.js';
import { SHARED } from '../support/shared.js';

const DIR = `${SHARED}fixtures/onnx-reference/`;
const present = existsSync(`${DIR}vgg_small_bn_c2.onnx`);
if (!present) console.warn(`[sds tests] ${DIR} is absent: sds layers on the reference ONNX models is skipped`);
const OPS = new URL('../fixtures/onnx-ops/', import.meta.url).pathname;

interface LayersJson {
  arch: string;
  kind: string;
  classes: number;
  patch: number;
  layers: { name: string; shape: number[] | null; scale: number | null; default: boolean }[];
  hookPoints: { name: string; inChannels: number; outChannels: number; smoothedBy: string[] }[];
  defaultLayers: string[];
  deeplift: string;
}

async function layersJson(args: string[]): Promise<LayersJson> {
  const r = await sdsRun(['layers', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as LayersJson;
}

describe('sds layers', () => {
  it.skipIf(!present)('ONNX: module-path layers with the shapes PyTorch gives, the hook points, DeepLift available', async () => {
    const side = JSON.parse(readFileSync(`${DIR}vgg_small_bn_c2.json`, 'utf8')) as { layers: Record<string, { shape: number[] }>; hook_points: { module: string; in_channels: number; out_channels: number }[] };
    const j = await layersJson([`${DIR}vgg_small_bn_c2.onnx`, '--patch', '104']);
    expect([j.arch, j.kind, j.classes, j.patch]).toEqual(['onnx', 'classifier', 2, 104]);
    for (const [name, l] of Object.entries(side.layers)) expect(j.layers.find((x) => x.name === name)?.shape, name).toEqual(l.shape.slice(1));
    expect(j.hookPoints.map((h) => [h.name, h.inChannels, h.outChannels])).toEqual(side.hook_points.map((h) => [h.module, h.in_channels, h.out_channels]));
    expect(j.hookPoints[0]!.smoothedBy).toEqual(['backward-hook']);
    expect(j.defaultLayers).toEqual(['features.6', 'features.13']);
    expect(j.deeplift).toBe('available');
  });

  it.skipIf(!present)('ONNX with sigmoid gates: DeepLift not available, naming the node', async () => {
    const j = await layersJson([`${DIR}efficientnet_b0_c3.onnx`]);
    expect(j.deeplift).toBe('not available: node /features/features.0/features.0.2/Sigmoid (Sigmoid)');
    expect(j.defaultLayers).toEqual(['features.2', 'features.3']);
    const table = await sdsRun(['layers', `${DIR}efficientnet_b0_c3.onnx`]);
    expect(table.stdout).toMatch(/^features\.3\s+40 x 32 x 32\s+8\s+yes$/m);
  });

  it('native: block names, hook points in registration order', async () => {
    const j = await layersJson(['random:resnet18', '--patch', '224']);
    expect(j.arch).toBe('resnet18');
    expect(j.layers.map((l) => l.name)).toEqual(['input', '1_0', '1_1', '2_0', '2_1', '3_0', '3_1', '4_0', '4_1']);
    expect(j.layers.find((l) => l.name === '2_1')!.shape).toEqual([128, 28, 28]);
    expect(j.hookPoints.map((h) => h.name)).toEqual(['conv1', 'layer2.0.conv1', 'layer2.0.downsample.0', 'layer3.0.conv1', 'layer3.0.downsample.0', 'layer4.0.conv1', 'layer4.0.downsample.0']);
    expect(j.defaultLayers).toEqual(['1_1', '2_1']);
  });

  it('a graph with fixed dimensions is described at its own size; a 4-channel model is refused', async () => {
    const j = await layersJson([`${OPS}ops_net_o11.onnx`]);
    expect(j.patch).toBe(12);
    const r = await sdsRun(['layers', `${OPS}tensor_ops_o13.onnx`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/tensor_ops_o13\.onnx: the model takes 4 input channels; sds explains models of RGB slide patches/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
