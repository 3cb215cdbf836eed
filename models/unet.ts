/** segmentation_models_pytorch `Unet` with a ResNet encoder (SPEC 10). */
import { SdsError } from '../core/errors.js';
import { HookRunner, type ForwardHooks } from './hooks.js';
import { assertLayer } from './classifier.js';
import { BatchNorm2d, concatChannels, consume, Conv2d, upsampleNearest2x } from './layers.js';
import type { ArchName, LayerStart, Model } from './model.js';
import type { ParamBinder } from './params.js';
import { KeptFeatures, ResNetEncoder, torchvisionNaming, type EncoderFeatures, type ResNetDepth } from './resnet.js';
import { block as runBlock } from './checkpoint.js';
import { tf, type Tensor4D } from './tf.js';

/** smp's default `decoder_channels`; narrower decoders are read from their weights' shapes. */
const DECODER_CHANNELS = [256, 128, 64, 32, 16];

/** Conv2dReLU: 3x3 conv without bias, BatchNorm, ReLU. */
class ConvBnRelu {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(
    b: ParamBinder,
    readonly name: string,
    cin: number,
    cout: number,
  ) {
    this.conv = new Conv2d(b, `${name}.0`, { inChannels: cin, outChannels: cout, kernel: 3, padding: 1 });
    this.bn = new BatchNorm2d(b, `${name}.1`, cout);
  }
  apply(x: Tensor4D, r: HookRunner): Tensor4D {
    const b = consume(r.conv(this.conv, x), (c) => this.bn.apply(c as Tensor4D));
    return consume(b, (t) => r.relu(`${this.name}.2`, t as Tensor4D));
  }
}

export class UNet implements Model {
  readonly arch: ArchName;
  readonly kind = 'segmentation' as const;
  readonly normalization = 'imagenet' as const;
  readonly layerNames: readonly string[];
  readonly hookPoints: readonly string[];
  readonly convs: ReadonlyMap<string, Conv2d>;
  private readonly encoder: ResNetEncoder;
  private readonly blocks: { conv1: ConvBnRelu; conv2: ConvBnRelu }[];
  private readonly head: Conv2d;

  constructor(
    private readonly binder: ParamBinder,
    depth: ResNetDepth,
    readonly numClasses: number,
  ) {
    this.arch = `unet-resnet${depth}`;
    this.encoder = new ResNetEncoder(binder, depth, torchvisionNaming('encoder.'));
    const f = this.encoder.featureChannels; // stem, layer1..4
    const skips = [f[3]!, f[2]!, f[1]!, f[0]!, 0];
    let cin = f[4]!;
    this.blocks = DECODER_CHANNELS.map((standard, i) => {
      const name = `decoder.blocks.${i}`;
      const cout = binder.shapeOf(`${name}.conv1.0.weight`)?.[0] ?? standard;
      const blk = {
        conv1: new ConvBnRelu(binder, `${name}.conv1`, cin + skips[i]!, cout),
        conv2: new ConvBnRelu(binder, `${name}.conv2`, cout, cout),
      };
      cin = cout;
      return blk;
    });
    this.head = new Conv2d(binder, 'segmentation_head.0', { inChannels: cin, outChannels: numClasses, kernel: 3, padding: 1, bias: true });
    this.layerNames = this.encoder.layerNames;
    this.hookPoints = this.encoder.hookPoints;
    const decoderConvs = [...this.blocks.flatMap((b) => [b.conv1.conv, b.conv2.conv]), this.head];
    this.convs = new Map([...this.encoder.convs, ...decoderConvs.map((c) => [c.name, c] as const)]);
  }

  /** Logits (N,H,W,K). Input sides must be multiples of 32 (five halvings), as in smp. */
  forward(x: Tensor4D, hooks?: ForwardHooks): Tensor4D {
    this.checkSize(x);
    const r = new HookRunner(hooks);
    return this.decode(this.encoder.forward(x, r).features!, r);
  }

  private checkSize(x: Tensor4D): void {
    const [, h, w] = x.shape;
    if (h % 32 || w % 32) {
      throw new SdsError('BAD_INPUT', `${this.arch} needs input sides that are multiples of 32, got ${h}x${w}`, {
        suggestion: 'crop or pad the patch, e.g. to 256 or 512 px',
      });
    }
  }

  prepareFrom(layer: string, x: Tensor4D, hooks?: ForwardHooks): LayerStart {
    assertLayer(this, layer);
    this.checkSize(x);
    const below = KeptFeatures.of(this.encoder, layer, x, hooks);
    return {
      value: below.value,
      run: (value, h) => {
        const r = new HookRunner(h);
        const { features } = this.encoder.forward(value, r, undefined, { layer, value, below: below.forBatch(value.shape[0]) });
        return this.decode(features!, r);
      },
      dispose: () => below.dispose(),
    };
  }

  private decode(features: EncoderFeatures, r: HookRunner): Tensor4D {
    const { stem, stages } = features;
    const skips = [stages[2]!, stages[1]!, stages[0]!, stem];
    let y = stages[3]!;
    this.blocks.forEach((blk, i) => {
      const skip = skips[i];
      const block = (v: Tensor4D, s?: Tensor4D) => {
        let z = upsampleNearest2x(v);
        if (s) z = consume(z, (u) => concatChannels([u as Tensor4D, s]));
        const h = consume(z, (u) => blk.conv1.apply(u as Tensor4D, r));
        return consume(h, (u) => blk.conv2.apply(u as Tensor4D, r));
      };
      // large blocks keep only their inputs for the backward pass and recompute the rest
      y = runBlock((v, s) => block(v, s), skip ? [y, skip] : [y]);
    });
    return r.conv(this.head, y);
  }

  forwardTo(layer: string, x: Tensor4D, hooks?: ForwardHooks): Tensor4D {
    assertLayer(this, layer);
    return this.encoder.forward(x, new HookRunner(hooks), layer).stopped!;
  }

  dispose(): void {
    this.binder.dispose();
  }
}
