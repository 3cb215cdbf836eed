import type { ForwardHooks, HookConv } from './hooks.js';
import type { Tensor, Tensor4D } from './tf.js';

export const ARCHS = ['resnet18', 'resnet34', 'resnet50', 'monai-resnet18', 'unet-resnet18', 'unet-resnet34', 'unet-resnet50'] as const;
export type ArchName = (typeof ARCHS)[number];
/** A hand-written architecture, or a graph imported from ONNX (models/onnx). */
export type ModelArch = ArchName | 'onnx';

export const NORMALIZATIONS = ['imagenet', 'minus1to1', 'none'] as const;
export type NamedNormalization = (typeof NORMALIZATIONS)[number];
/** A named normalization, or a model configuration's own per-channel mean and std (for RGB in [0, 1]). */
export type Normalization = NamedNormalization | { mean: [number, number, number]; std: [number, number, number] };

export type ModelKind = 'classifier' | 'segmentation';

/**
 * A PyTorch model re-expressed in TensorFlow.js. Inputs are NHWC float32, already normalized.
 * Every named layer output and every conv can be reached through `ForwardHooks`, so variants
 * (backward/forward hook, surrogate) and attribution methods wrap a model instead of forking it.
 */
export interface Model {
  readonly arch: ModelArch;
  readonly kind: ModelKind;
  readonly numClasses: number;
  /** The input normalization the model was trained with. */
  readonly normalization: Normalization;
  /** 'input' then 'X_Y' for every block (ONNX: every module path with a spatial output), in forward order. */
  readonly layerNames: readonly string[];
  /** Stride-2 convolutions in PyTorch registration order (SPEC 2). */
  readonly hookPoints: readonly string[];
  readonly convs: ReadonlyMap<string, HookConv>;
  /**
   * Set when DeepLift's Rescale rule does not cover the model: names the first node whose
   * nonlinearity is not a ReLU (a sigmoid gate, SiLU, Hardswish, ...). Hand-written models are
   * ReLU networks.
   */
  readonly deepLiftObstacle?: string;
  /** Classifier: logits (N,K). Segmentation: logits (N,H,W,K). */
  forward(x: Tensor4D, hooks?: ForwardHooks): Tensor;
  /** Runs only as far as `layer` and returns its output (N,h,w,C). */
  forwardTo(layer: string, x: Tensor4D, hooks?: ForwardHooks): Tensor4D;
  /**
   * Prepares passes that start at `layer`'s output, with everything below it (U-Net skips)
   * computed once from `x`: what Integrated Gradients and perturbations need, without
   * re-running (or back-propagating through) the layers below.
   */
  prepareFrom(layer: string, x: Tensor4D, hooks?: ForwardHooks): LayerStart;
  dispose(): void;
}

export interface LayerStart {
  /** The layer's output for `x` (kept until `dispose`). */
  readonly value: Tensor4D;
  /** Output for `value` in place of the layer's output; `value`'s batch may be k times x's. */
  run(value: Tensor4D, hooks?: ForwardHooks): Tensor;
  dispose(): void;
}
