/**
 * torchvision ResNet (BasicBlock / Bottleneck, v1.5: stride in the 3x3 conv) as an encoder that
 * the classifier heads and the U-Net share. Module names follow the state_dict of each layout.
 */
import { HookRunner, type ForwardHooks } from './hooks.js';
import { addSame, BatchNorm2d, consume, Conv2d } from './layers.js';
import type { ParamBinder } from './params.js';
import { block as runBlock } from './checkpoint.js';
import { tf, type Tensor4D } from './tf.js';

export type ResNetDepth = 18 | 34 | 50;

export const RESNET_BLOCKS: Record<ResNetDepth, readonly number[]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
};

/** Where the stem and stages live in a state_dict: torchvision, MONAI `features.N`, smp `encoder.`. */
export interface ResNetNaming {
  conv1: string;
  bn1: string;
  relu: string;
  maxpool: string;
  layer(stage: number): string;
}

export const torchvisionNaming = (prefix = ''): ResNetNaming => ({
  conv1: `${prefix}conv1`,
  bn1: `${prefix}bn1`,
  relu: `${prefix}relu`,
  maxpool: `${prefix}maxpool`,
  layer: (i) => `${prefix}layer${i}`,
});

export const monaiNaming: ResNetNaming = {
  conv1: 'features.0',
  bn1: 'features.1',
  relu: 'features.2',
  maxpool: 'features.3',
  layer: (i) => `features.${3 + i}`,
};

interface Block {
  name: string;
  layer: string;
  apply(x: Tensor4D, r: HookRunner): Tensor4D;
  convs: Conv2d[];
}

function basicBlock(b: ParamBinder, name: string, layer: string, cin: number, planes: number, stride: number): Block {
  const conv1 = new Conv2d(b, `${name}.conv1`, { inChannels: cin, outChannels: planes, kernel: 3, stride, padding: 1 });
  const bn1 = new BatchNorm2d(b, `${name}.bn1`, planes);
  const conv2 = new Conv2d(b, `${name}.conv2`, { inChannels: planes, outChannels: planes, kernel: 3, padding: 1 });
  const bn2 = new BatchNorm2d(b, `${name}.bn2`, planes);
  const down = stride !== 1 || cin !== planes ? downsample(b, name, cin, planes, stride) : undefined;
  return {
    name,
    layer,
    convs: [conv1, conv2, ...(down ? [down.conv] : [])],
    apply(x, r) {
      let y = consume(r.conv(conv1, x), (c) => bn1.apply(c as Tensor4D));
      y = consume(y, (t) => r.relu(`${name}.relu.0`, t as Tensor4D));
      y = consume(y, (t) => r.conv(conv2, t as Tensor4D));
      y = consume(y, (t) => bn2.apply(t as Tensor4D));
      const identity = down ? consume(r.conv(down.conv, x), (c) => down.bn.apply(c as Tensor4D)) : x;
      const sum = consume(y, (t) => addSame(t as Tensor4D, identity));
      if (identity !== x) identity.dispose();
      return consume(sum, (t) => r.relu(`${name}.relu.1`, t as Tensor4D));
    },
  };
}

function bottleneck(b: ParamBinder, name: string, layer: string, cin: number, planes: number, stride: number): Block {
  const out = planes * 4;
  const conv1 = new Conv2d(b, `${name}.conv1`, { inChannels: cin, outChannels: planes, kernel: 1 });
  const bn1 = new BatchNorm2d(b, `${name}.bn1`, planes);
  const conv2 = new Conv2d(b, `${name}.conv2`, { inChannels: planes, outChannels: planes, kernel: 3, stride, padding: 1 });
  const bn2 = new BatchNorm2d(b, `${name}.bn2`, planes);
  const conv3 = new Conv2d(b, `${name}.conv3`, { inChannels: planes, outChannels: out, kernel: 1 });
  const bn3 = new BatchNorm2d(b, `${name}.bn3`, out);
  const down = stride !== 1 || cin !== out ? downsample(b, name, cin, out, stride) : undefined;
  return {
    name,
    layer,
    convs: [conv1, conv2, conv3, ...(down ? [down.conv] : [])],
    apply(x, r) {
      let y = r.relu(`${name}.relu.0`, bn1.apply(r.conv(conv1, x)));
      y = r.relu(`${name}.relu.1`, bn2.apply(r.conv(conv2, y)));
      y = bn3.apply(r.conv(conv3, y));
      const identity = down ? down.bn.apply(r.conv(down.conv, x)) : x;
      return r.relu(`${name}.relu.2`, addSame(y, identity));
    },
  };
}

function downsample(b: ParamBinder, name: string, cin: number, cout: number, stride: number) {
  return {
    conv: new Conv2d(b, `${name}.downsample.0`, { inChannels: cin, outChannels: cout, kernel: 1, stride }),
    bn: new BatchNorm2d(b, `${name}.downsample.1`, cout),
  };
}

/** Encoder outputs: the stem ReLU output (before max-pool) and each stage's last block. */
export interface EncoderFeatures {
  stem: Tensor4D;
  stages: Tensor4D[];
}

export class ResNetEncoder {
  readonly depth: ResNetDepth;
  /** Channels of the stem (64 in torchvision); stage s has width * 2^(s-1) planes. */
  readonly width: number;
  readonly outChannels: number;
  /** Channels of the stem and of each stage output. */
  readonly featureChannels: readonly number[];
  readonly layerNames: readonly string[];
  readonly hookPoints: readonly string[];
  readonly convs: ReadonlyMap<string, Conv2d>;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly stages: Block[][];

  constructor(
    b: ParamBinder,
    depth: ResNetDepth,
    private readonly naming: ResNetNaming,
  ) {
    this.depth = depth;
    // torchvision's width is 64; narrower ResNets (the demo models) say theirs through conv1's shape
    const width = b.shapeOf(`${naming.conv1}.weight`)?.[0] ?? 64;
    this.width = width;
    this.conv1 = new Conv2d(b, naming.conv1, { inChannels: 3, outChannels: width, kernel: 7, stride: 2, padding: 3 });
    this.bn1 = new BatchNorm2d(b, naming.bn1, width);
    const isBottleneck = depth === 50;
    const make = isBottleneck ? bottleneck : basicBlock;
    const expansion = isBottleneck ? 4 : 1;
    let cin = width;
    this.stages = RESNET_BLOCKS[depth].map((count, s) => {
      const planes = width * 2 ** s;
      const blocks: Block[] = [];
      for (let i = 0; i < count; i++) {
        const stride = i === 0 && s > 0 ? 2 : 1;
        blocks.push(make(b, `${naming.layer(s + 1)}.${i}`, `${s + 1}_${i}`, cin, planes, stride));
        cin = planes * expansion;
      }
      return blocks;
    });
    this.outChannels = cin;
    this.featureChannels = [width, ...[1, 2, 3, 4].map((s) => width * 2 ** (s - 1) * expansion)];
    this.layerNames = ['input', ...this.stages.flat().map((blk) => blk.layer)];
    const convs = [this.conv1, ...this.stages.flat().flatMap((blk) => blk.convs)];
    this.convs = new Map(convs.map((c) => [c.name, c]));
    this.hookPoints = convs.filter((c) => c.stride === 2).map((c) => c.name);
  }

  /**
   * Runs the encoder; stops early (returning `stopped`) once `until` has been produced.
   * With `start`, the pass begins at that layer's output (`start.value`, e.g. an interpolated
   * or perturbed activation) and takes the features below it from `start.below`.
   */
  forward(x: Tensor4D, r: HookRunner, until?: string, start?: EncoderStart): { features?: EncoderFeatures; stopped?: Tensor4D } {
    let stem: Tensor4D;
    let y: Tensor4D;
    const stages: Tensor4D[] = [];
    let skipping = start !== undefined && start.layer !== 'input';
    if (skipping) {
      const below = start!.below;
      stem = below.stem;
      y = start!.value;
      for (let s = 0; s < this.stages.length && this.stages[s]!.every((b) => b.layer !== start!.layer); s++) stages.push(below.stages[s]!);
    } else {
      x = r.layer('input', start ? start.value : x);
      if (until === 'input') return { stopped: x };
      // one tidy per block: a block's intermediates go as soon as it is done (what the backward
      // pass needs is saved on the tape), so a 1536 px pass never holds every activation at once
      stem = r.relu(this.naming.relu, tf.tidy(() => this.bn1.apply(r.conv(this.conv1, x))));
      y = r.maxPool(this.naming.maxpool, stem, { size: 3, stride: 2, pad: 1 });
    }
    for (const blocks of this.stages.slice(stages.length)) {
      for (const blk of blocks) {
        if (skipping) {
          if (blk.layer === start!.layer) skipping = false;
          continue;
        }
        y = r.layer(blk.layer, runBlock((v) => blk.apply(v, r), [y]));
        if (until === blk.layer) return { stopped: y };
      }
      stages.push(y);
    }
    return { features: { stem, stages } };
  }

  /** Stem and stage outputs of `x` strictly below `layer`: what a pass from `layer` still needs. */
  featuresBelow(layer: string, x: Tensor4D, hooks: ForwardHooks = {}): EncoderFeatures & { value: Tensor4D } {
    const lastOfStage = new Map(this.stages.map((blocks, s) => [blocks.at(-1)!.layer, s]));
    const stages: Tensor4D[] = [];
    let stem = x;
    const r = new HookRunner({
      ...hooks,
      relu: (name, v) => {
        const out = (hooks.relu ? hooks.relu(name, v) : tf.relu(v)) as Tensor4D;
        if (name === this.naming.relu) stem = out;
        return out;
      },
      layer: (name, v) => {
        const out = hooks.layer ? hooks.layer(name, v) : v;
        if (lastOfStage.has(name) && name !== layer) stages.push(out);
        return out;
      },
    });
    const value = layer === 'input' ? x : this.forward(x, r, layer).stopped!;
    return { stem, stages, value };
  }
}

/** Features below a layer, kept, and tiled on demand to a k-times batch. */
export class KeptFeatures {
  private readonly tiled = new Map<number, EncoderFeatures>();
  constructor(
    private readonly base: EncoderFeatures,
    /** the layer's own output */
    readonly value: Tensor4D,
  ) {}

  static of(encoder: ResNetEncoder, layer: string, x: Tensor4D, hooks?: ForwardHooks): KeptFeatures {
    const f = tf.tidy(() => {
      const b = encoder.featuresBelow(layer, x, hooks);
      return [b.stem, ...b.stages, b.value].map((t) => tf.clone(t)); // own copies: the stem may be x itself
    });
    return new KeptFeatures({ stem: f[0]!, stages: f.slice(1, -1) }, f.at(-1)!);
  }

  forBatch(n: number): EncoderFeatures {
    const have = this.base.stem.shape[0];
    if (n === have) return this.base;
    let t = this.tiled.get(n);
    if (!t) {
      const k = n / have;
      const tile = (v: Tensor4D) => tf.keep(tf.tile(v, [k, 1, 1, 1]));
      t = { stem: tile(this.base.stem), stages: this.base.stages.map(tile) };
      this.tiled.set(n, t);
    }
    return t;
  }

  dispose(): void {
    this.value.dispose();
    for (const f of [this.base, ...this.tiled.values()]) {
      f.stem.dispose();
      for (const s of f.stages) s.dispose();
    }
    this.tiled.clear();
  }
}

/** Where a forward pass starts when it starts above the input. */
export interface EncoderStart {
  layer: string;
  value: Tensor4D;
  below: EncoderFeatures;
}

export { HookRunner, type ForwardHooks };
