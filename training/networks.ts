/**
 * Trainable torchvision ResNet classifiers and segmentation_models_pytorch U-Nets with a ResNet
 * encoder, at any base width, named exactly as their state_dicts so that `buildModel` loads the
 * result. Basic blocks only (ResNet18 / 34): the demo models are narrow and small.
 */
import { SdsError } from '../core/errors.js';
import { tf, torchvisionInit, type Tensor2D, type Tensor4D } from '../models/index.js';
import type { StateDict } from '../models/weights/types.js';
import { RESNET_BLOCKS } from '../models/resnet.js';
import { stemMaxPool, TrainBatchNorm2d, TrainConv2d, TrainLinear, upsampleNearest2x, type ForwardContext } from './layers.js';
import { ParamStore } from './params.js';

export type TrainableDepth = 18 | 34;

class BasicBlock {
  private readonly conv1: TrainConv2d;
  private readonly bn1: TrainBatchNorm2d;
  private readonly conv2: TrainConv2d;
  private readonly bn2: TrainBatchNorm2d;
  private readonly down?: { conv: TrainConv2d; bn: TrainBatchNorm2d };

  constructor(s: ParamStore, name: string, cin: number, planes: number, stride: number) {
    this.conv1 = new TrainConv2d(s, `${name}.conv1`, { inChannels: cin, outChannels: planes, kernel: 3, stride, padding: 1 });
    this.bn1 = new TrainBatchNorm2d(s, `${name}.bn1`, planes);
    this.conv2 = new TrainConv2d(s, `${name}.conv2`, { inChannels: planes, outChannels: planes, kernel: 3, padding: 1 });
    this.bn2 = new TrainBatchNorm2d(s, `${name}.bn2`, planes);
    if (stride !== 1 || cin !== planes) {
      this.down = {
        conv: new TrainConv2d(s, `${name}.downsample.0`, { inChannels: cin, outChannels: planes, kernel: 1, stride }),
        bn: new TrainBatchNorm2d(s, `${name}.downsample.1`, planes),
      };
    }
  }

  apply(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const y = this.bn2.apply(this.conv2.apply(tf.relu(this.bn1.apply(this.conv1.apply(x), ctx))), ctx);
    const identity = this.down ? this.down.bn.apply(this.down.conv.apply(x), ctx) : x;
    return tf.relu(tf.add(y, identity)) as Tensor4D;
  }
}

/** torchvision ResNet trunk (prefix '' or smp's 'encoder.'), base width `width` (64 in torchvision). */
export class TrainResNetEncoder {
  /** Channels of the stem and of each stage output. */
  readonly featureChannels: number[];
  private readonly conv1: TrainConv2d;
  private readonly bn1: TrainBatchNorm2d;
  private readonly stages: BasicBlock[][];

  constructor(s: ParamStore, depth: TrainableDepth, width: number, prefix = '') {
    if (!(depth in RESNET_BLOCKS) || (depth as number) === 50) {
      throw new SdsError('BAD_ARGUMENT', `trainable ResNets are ResNet18 and ResNet34, not ResNet${depth}`);
    }
    this.conv1 = new TrainConv2d(s, `${prefix}conv1`, { inChannels: 3, outChannels: width, kernel: 7, stride: 2, padding: 3 });
    this.bn1 = new TrainBatchNorm2d(s, `${prefix}bn1`, width);
    let cin = width;
    this.stages = RESNET_BLOCKS[depth].map((count, st) => {
      const planes = width * 2 ** st;
      return Array.from({ length: count }, (_, i) => {
        const blk = new BasicBlock(s, `${prefix}layer${st + 1}.${i}`, cin, planes, i === 0 && st > 0 ? 2 : 1);
        cin = planes;
        return blk;
      });
    });
    this.featureChannels = [width, width, 2 * width, 4 * width, 8 * width];
  }

  /** The stem ReLU output (before the max-pool) and each stage's output. */
  forward(x: Tensor4D, ctx: ForwardContext): { stem: Tensor4D; stages: Tensor4D[] } {
    const stem = tf.relu(this.bn1.apply(this.conv1.apply(x), ctx));
    let y = stemMaxPool(stem);
    const stages: Tensor4D[] = [];
    for (const blocks of this.stages) {
      for (const blk of blocks) y = blk.apply(y, ctx);
      stages.push(y);
    }
    return { stem, stages };
  }
}

/** A network being trained: its parameters and a forward pass in either mode. */
export interface TrainableNet<Out extends tf.Tensor = tf.Tensor> {
  readonly store: ParamStore;
  /** The architecture name `buildModel` will infer from the exported keys. */
  readonly arch: string;
  readonly numClasses: number;
  /** Classifier: logits (N,K). Segmentation: logits (N,H,W,K). */
  forward(x: Tensor4D, ctx: ForwardContext): Out;
}

export class TrainResNetClassifier implements TrainableNet<Tensor2D> {
  readonly arch: string;
  private readonly encoder: TrainResNetEncoder;
  private readonly fc: TrainLinear;

  constructor(readonly store: ParamStore, depth: TrainableDepth, width: number, readonly numClasses: number) {
    this.arch = `resnet${depth}`;
    this.encoder = new TrainResNetEncoder(store, depth, width);
    this.fc = new TrainLinear(store, 'fc', this.encoder.featureChannels[4]!, numClasses);
  }

  forward(x: Tensor4D, ctx: ForwardContext): Tensor2D {
    const f = this.encoder.forward(x, ctx).stages[3]!;
    return this.fc.apply(tf.mean(f, [1, 2]) as Tensor2D);
  }
}

/** smp `Unet(encoder_name='resnetD', decoder_channels=...)`: five decoder blocks, 3x3 head. */
export class TrainUNet implements TrainableNet<Tensor4D> {
  readonly arch: string;
  private readonly encoder: TrainResNetEncoder;
  private readonly blocks: { conv1: TrainConv2d; bn1: TrainBatchNorm2d; conv2: TrainConv2d; bn2: TrainBatchNorm2d }[];
  private readonly head: TrainConv2d;

  constructor(readonly store: ParamStore, depth: TrainableDepth, width: number, decoderChannels: readonly number[], readonly numClasses: number) {
    if (decoderChannels.length !== 5) throw new SdsError('BAD_ARGUMENT', `a U-Net has 5 decoder blocks, got ${decoderChannels.length} decoder widths`);
    this.arch = `unet-resnet${depth}`;
    this.encoder = new TrainResNetEncoder(store, depth, width, 'encoder.');
    const f = this.encoder.featureChannels;
    const skips = [f[3]!, f[2]!, f[1]!, f[0]!, 0];
    let cin = f[4]!;
    this.blocks = decoderChannels.map((cout, i) => {
      const name = `decoder.blocks.${i}`;
      const blk = {
        conv1: new TrainConv2d(store, `${name}.conv1.0`, { inChannels: cin + skips[i]!, outChannels: cout, kernel: 3, padding: 1 }),
        bn1: new TrainBatchNorm2d(store, `${name}.conv1.1`, cout),
        conv2: new TrainConv2d(store, `${name}.conv2.0`, { inChannels: cout, outChannels: cout, kernel: 3, padding: 1 }),
        bn2: new TrainBatchNorm2d(store, `${name}.conv2.1`, cout),
      };
      cin = cout;
      return blk;
    });
    this.head = new TrainConv2d(store, 'segmentation_head.0', { inChannels: cin, outChannels: numClasses, kernel: 3, padding: 1, bias: true });
  }

  forward(x: Tensor4D, ctx: ForwardContext): Tensor4D {
    const [, h, w] = x.shape;
    if (h % 32 || w % 32) throw new SdsError('BAD_INPUT', `a U-Net needs input sides that are multiples of 32, got ${h}x${w}`);
    const { stem, stages } = this.encoder.forward(x, ctx);
    const skips = [stages[2]!, stages[1]!, stages[0]!, stem];
    let y = stages[3]!;
    this.blocks.forEach((blk, i) => {
      y = upsampleNearest2x(y);
      const skip = skips[i];
      if (skip) y = tf.concat([y, skip], 3);
      y = tf.relu(blk.bn1.apply(blk.conv1.apply(y), ctx));
      y = tf.relu(blk.bn2.apply(blk.conv2.apply(y), ctx));
    });
    return this.head.apply(y);
  }
}

export type NetSpec =
  | { kind: 'classifier'; depth: TrainableDepth; width: number; numClasses: number }
  | { kind: 'unet'; depth: TrainableDepth; width: number; decoderChannels: readonly number[]; numClasses: number };

/**
 * A trainable network of `spec`: from `weights` (a checkpoint or exported state_dict; every key
 * must fit) or, without them, torchvision's initialisation seeded by `seed`.
 */
export function createTrainable(spec: NetSpec, options: { weights?: StateDict; source?: string; seed?: number } = {}): TrainableNet {
  const source = options.source ?? (options.weights ? 'weights' : `init(seed ${options.seed ?? 0})`);
  const store = new ParamStore(options.weights ?? new Map(), source, spec.kind, options.weights ? undefined : torchvisionInit(options.seed ?? 0));
  try {
    const net = spec.kind === 'classifier' ? new TrainResNetClassifier(store, spec.depth, spec.width, spec.numClasses) : new TrainUNet(store, spec.depth, spec.width, spec.decoderChannels, spec.numClasses);
    store.finish();
    return net;
  } catch (err) {
    store.dispose();
    throw err;
  }
}
