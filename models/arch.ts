import { SdsError } from '../core/errors.js';
import { MonaiTumorModel, ResNetClassifier } from './classifier.js';
import { ARCHS, type ArchName, type Model } from './model.js';
import { ParamBinder, type ParamInit, type ShapeHints } from './params.js';
import { monaiNaming, RESNET_BLOCKS, torchvisionNaming, type ResNetDepth, type ResNetNaming } from './resnet.js';
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

/** Length of a 1-D tensor `key`, if the state_dict has one. */
function length1d(sd: StateDict, key: string): number | undefined {
  const s = sd.get(key)?.shape;
  return s?.length === 1 && s[0]! > 0 ? s[0] : undefined;
}

/**
 * Class count of a head: its bias's length (1-D, so it cannot be transposed), else the weight's
 * first dimension.
 */
function headClasses(sd: StateDict, weightKey: string): number | undefined {
  return length1d(sd, weightKey.replace(/weight$/, 'bias')) ?? sd.get(weightKey)?.shape[0];
}

function classesFrom(sd: StateDict, key: string, source: string): number {
  const n = headClasses(sd, key);
  if (n === undefined) {
    throw new SdsError('WEIGHTS_MISMATCH', `${source}: missing ${key}, so the number of classes is unknown`, {
      suggestion: 'check that the file holds the whole model (its classifier or segmentation head too)',
    });
  }
  return n;
}

/** smp's default `decoder_channels`, as the U-Net uses them when its weights do not say otherwise. */
const DECODER_CHANNELS = [256, 128, 64, 32, 16];

/** Out-channels of a conv from its BatchNorm's 1-D parameters, when present. */
function bnChannels(sd: StateDict, bn: string): number | undefined {
  for (const p of ['weight', 'bias', 'running_mean', 'running_var']) {
    const n = length1d(sd, `${bn}.${p}`);
    if (n !== undefined) return n;
  }
  return undefined;
}

/** A conv weight [out, in, k, k] with the given in-channels and kernel: its out-channels, else undefined. */
function convOut(sd: StateDict, key: string, inChannels: number, kernel: number): number | undefined {
  const s = sd.get(key)?.shape;
  return s?.length === 4 && s[1] === inChannels && s[2] === kernel && s[3] === kernel && s[0]! > 0 ? s[0] : undefined;
}

/**
 * The shapes the models read their widths from (`ParamBinder.shapeOf`), derived from the
 * architecture: a width is taken from a tensor only when that tensor's other dimensions agree
 * with the architecture, else from its BatchNorm or its neighbours, else the model's default.
 * So a tensor with swapped dimensions is reported against the right shape, and alone.
 */
function shapeHints(arch: ArchName, sd: StateDict): ShapeHints {
  const hints = new Map<string, readonly number[] | null>();
  const naming: ResNetNaming = arch === 'monai-resnet18' ? monaiNaming : torchvisionNaming(arch.startsWith('unet-') ? 'encoder.' : '');
  const stemKey = `${naming.conv1}.weight`;
  const width =
    convOut(sd, stemKey, 3, 7) ??
    bnChannels(sd, naming.bn1) ??
    // the first block's first conv reads the stem's output (basic and bottleneck blocks alike)
    sd.get(`${naming.layer(1)}.0.conv1.weight`)?.shape[1];
  hints.set(stemKey, width === undefined ? null : [width, 3, 7, 7]);
  if (arch.startsWith('unet-')) {
    const w = width ?? 64;
    const expansion = depthOf(arch) === 50 ? 4 : 1;
    const f = [w, w * expansion, 2 * w * expansion, 4 * w * expansion, 8 * w * expansion];
    const skips = [f[3]!, f[2]!, f[1]!, f[0]!, 0];
    let cin = f[4]!;
    DECODER_CHANNELS.forEach((standard, i) => {
      const name = `decoder.blocks.${i}`;
      const inChannels = cin + skips[i]!;
      const cout =
        convOut(sd, `${name}.conv1.0.weight`, inChannels, 3) ??
        bnChannels(sd, `${name}.conv1.1`) ??
        bnChannels(sd, `${name}.conv2.1`) ??
        standard;
      hints.set(`${name}.conv1.0.weight`, [cout, inChannels, 3, 3]);
      cin = cout;
    });
  }
  return hints;
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

/** Class count for an explicitly named architecture (the head's bias or shape, when present). */
function classesFor(arch: ArchName, sd: StateDict): number {
  return headClasses(sd, arch.startsWith('unet') ? 'segmentation_head.0.weight' : 'fc.weight') ?? 1;
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
  const binder = new ParamBinder(sd, source, spec.arch, options.init, shapeHints(spec.arch, sd));
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
