/** torchvision ResNet classifiers and MONAI's TorchVisionFCModel (Camelyon16 tumour model). */
import { SdsError } from '../core/errors.js';
import { HookRunner, type ForwardHooks } from './hooks.js';
import { Conv2d, Linear } from './layers.js';
import type { ArchName, LayerStart, Model, Normalization } from './model.js';
import type { ParamBinder } from './params.js';
import { KeptFeatures, monaiNaming, ResNetEncoder, torchvisionNaming, type ResNetDepth } from './resnet.js';
import { tf, type Tensor, type Tensor2D, type Tensor4D } from './tf.js';

abstract class EncoderModel implements Model {
  abstract readonly arch: ArchName;
  abstract readonly normalization: Normalization;
  readonly kind = 'classifier' as const;
  readonly layerNames: readonly string[];
  readonly hookPoints: readonly string[];
  readonly convs: ReadonlyMap<string, Conv2d>;

  constructor(
    protected readonly encoder: ResNetEncoder,
    readonly numClasses: number,
    private readonly binder: ParamBinder,
  ) {
    this.layerNames = encoder.layerNames;
    this.hookPoints = encoder.hookPoints;
    this.convs = encoder.convs;
  }

  protected abstract head(features: Tensor4D, r: HookRunner): Tensor;

  forward(x: Tensor4D, hooks?: ForwardHooks): Tensor {
    const r = new HookRunner(hooks);
    const { features } = this.encoder.forward(x, r);
    return this.head(features!.stages[3]!, r);
  }

  forwardTo(layer: string, x: Tensor4D, hooks?: ForwardHooks): Tensor4D {
    assertLayer(this, layer);
    return this.encoder.forward(x, new HookRunner(hooks), layer).stopped!;
  }

  prepareFrom(layer: string, x: Tensor4D, hooks?: ForwardHooks): LayerStart {
    assertLayer(this, layer);
    const below = KeptFeatures.of(this.encoder, layer, x, hooks);
    return {
      value: below.value,
      run: (value, h) => {
        const r = new HookRunner(h);
        const { features } = this.encoder.forward(value, r, undefined, { layer, value, below: below.forBatch(value.shape[0]) });
        return this.head(features!.stages[3]!, r);
      },
      dispose: () => below.dispose(),
    };
  }

  dispose(): void {
    this.binder.dispose();
  }
}

export function assertLayer(model: Model, layer: string): void {
  if (!model.layerNames.includes(layer)) {
    throw new SdsError('BAD_ARGUMENT', `unknown layer "${layer}" for ${model.arch}`, {
      suggestion: `use one of: ${model.layerNames.join(', ')}`,
    });
  }
}

export class ResNetClassifier extends EncoderModel {
  readonly arch: ArchName;
  readonly normalization = 'imagenet' as const;
  private readonly fc: Linear;

  constructor(b: ParamBinder, depth: ResNetDepth, numClasses: number) {
    const encoder = new ResNetEncoder(b, depth, torchvisionNaming());
    super(encoder, numClasses, b);
    this.arch = `resnet${depth}`;
    this.fc = new Linear(b, 'fc', encoder.outChannels, numClasses);
  }

  protected head(f: Tensor4D): Tensor2D {
    return this.fc.apply(tf.mean(f, [1, 2]) as Tensor2D);
  }
}

/** features.0-7, AvgPool2d(7, stride 1), a 1x1 conv `fc`; one logit; input in [-1, 1]. */
export class MonaiTumorModel extends EncoderModel {
  readonly arch = 'monai-resnet18' as const;
  readonly normalization = 'minus1to1' as const;
  private readonly fc: Conv2d;

  constructor(b: ParamBinder, numClasses: number) {
    const encoder = new ResNetEncoder(b, 18, monaiNaming);
    super(encoder, numClasses, b);
    this.fc = new Conv2d(b, 'fc', { inChannels: encoder.outChannels, outChannels: numClasses, kernel: 1, bias: true });
  }

  protected head(f: Tensor4D, r: HookRunner): Tensor2D {
    const [, h, w] = f.shape;
    if (h !== 7 || w !== 7) {
      throw new SdsError('BAD_INPUT', `monai-resnet18 needs 224x224 patches (its AvgPool2d(7) head then gives one logit); the last block here is ${h}x${w}`, {
        suggestion: 'use 224 px patches for this model',
      });
    }
    const y = r.conv(this.fc, tf.avgPool(f, 7, 1, 'valid'));
    return tf.reshape(y, [y.shape[0], this.numClasses]);
  }
}
