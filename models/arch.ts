import { SdsError } from '../core/errors.js';
import { MonaiTumorModel, ResNetClassifier } from './classifier.js';
import { ARCHS, type ArchName, type Model } from './model.js';
import { ParamBinder, type ParamInit } from './params.js';
import { RESNET_BLOCKS, type ResNetDepth } from './resnet.js';
import { UNet } from './unet.js';
import type { StateDict } from './weights/types.js';

export interface ArchSpec {
  arch: ArchName;
  numClasses: number;
}

export function isArch(s: string): s is ArchName {
  return (ARCHS as readonly string[]).includes(s);
}

function depthOf(arch: ArchName): ResNetDepth {
  return Number(/resnet(\d+)/.exec(arch)![1]) as ResNetDepth;
}

/** Blocks per stage (`layer(s)` names stage s), and whether they are Bottlenecks. */
function countBlocks(sd: StateDict, layer: (stage: number) => string): { blocks: number[]; bottleneck: boolean } {
  const blocks = [1, 2, 3, 4].map((s) => {
    let n = 0;
    while (sd.has(`${layer(s)}.${n}.conv1.weight`)) n++;
    return n;
  });
  return { blocks, bottleneck: sd.has(`${layer(1)}.0.conv3.weight`) };
}

function resnetDepth(sd: StateDict, layer: (stage: number) => string, source: string): ResNetDepth {
  const { blocks, bottleneck } = countBlocks(sd, layer);
  const same = (d: ResNetDepth) => RESNET_BLOCKS[d].every((n, i) => n === blocks[i]);
  if (bottleneck && same(50)) return 50;
  if (!bottleneck && same(18)) return 18;
  if (!bottleneck && same(34)) return 34;
  throw new SdsError('UNKNOWN_ARCHITECTURE', `${source}: a ResNet with ${blocks.join(',')} ${bottleneck ? 'bottleneck' : 'basic'} blocks per stage is not supported`, {
    suggestion: 'supported encoders: ResNet18, ResNet34, ResNet50',
  });
}

function classesFrom(sd: StateDict, key: string, source: string): number {
  const t = sd.get(key);
  if (!t) throw new SdsError('WEIGHTS_MISMATCH', `${source}: missing ${key}, so the number of classes is unknown`);
  return t.shape[0]!;
}

/** Architecture and class count from state_dict keys and shapes alone. */
export function inferArch(sd: StateDict, source: string): ArchSpec {
  if (sd.has('encoder.conv1.weight') && sd.has('decoder.blocks.0.conv1.0.weight')) {
    const depth = resnetDepth(sd, (s) => `encoder.layer${s}`, source);
    return { arch: `unet-resnet${depth}`, numClasses: classesFrom(sd, 'segmentation_head.0.weight', source) };
  }
  if (sd.has('features.0.weight') && sd.get('fc.weight')?.shape.length === 4) {
    const depth = resnetDepth(sd, (s) => `features.${3 + s}`, source);
    if (depth !== 18) throw new SdsError('UNKNOWN_ARCHITECTURE', `${source}: MONAI TorchVisionFCModel is supported with ResNet18 only`);
    return { arch: 'monai-resnet18', numClasses: classesFrom(sd, 'fc.weight', source) };
  }
  if (sd.has('conv1.weight') && sd.get('fc.weight')?.shape.length === 2) {
    const depth = resnetDepth(sd, (s) => `layer${s}`, source);
    return { arch: `resnet${depth}`, numClasses: classesFrom(sd, 'fc.weight', source) };
  }
  const sample = [...sd.keys()].slice(0, 5).join(', ');
  throw new SdsError('UNKNOWN_ARCHITECTURE', `${source}: cannot tell the architecture from its keys (${sd.size} tensors, e.g. ${sample || 'none'})`, {
    suggestion: `pass --arch (one of ${ARCHS.join(', ')}); supported: torchvision ResNet, MONAI TorchVisionFCModel, segmentation_models_pytorch Unet`,
  });
}

/** Class count for an explicitly named architecture (the head's shape, when present). */
function classesFor(arch: ArchName, sd: StateDict): number {
  const key = arch.startsWith('unet') ? 'segmentation_head.0.weight' : 'fc.weight';
  return sd.get(key)?.shape[0] ?? 1;
}

/** Builds the model and binds every weight; throws WEIGHTS_MISMATCH listing all problems. */
export function buildModel(sd: StateDict, source: string, arch?: string, options: { init?: ParamInit; numClasses?: number } = {}): Model {
  let spec: ArchSpec;
  if (arch) {
    if (!isArch(arch)) {
      throw new SdsError('BAD_ARGUMENT', `unknown architecture "${arch}"`, { suggestion: `use one of: ${ARCHS.join(', ')}` });
    }
    spec = { arch, numClasses: options.numClasses ?? classesFor(arch, sd) };
  } else {
    spec = inferArch(sd, source);
  }
  const binder = new ParamBinder(sd, source, spec.arch, options.init);
  let model: Model;
  try {
    if (spec.arch === 'monai-resnet18') model = new MonaiTumorModel(binder, spec.numClasses);
    else if (spec.arch.startsWith('unet-')) model = new UNet(binder, depthOf(spec.arch), spec.numClasses);
    else model = new ResNetClassifier(binder, depthOf(spec.arch), spec.numClasses);
  } catch (err) {
    binder.dispose();
    throw err;
  }
  binder.finish();
  return model;
}
