/** Whole-network training in TensorFlow.js: the demo models are trained with this. */
export { ParamStore, type ParamEntry } from './params.js';
export { batchNormTrain, batchNormEval, updatedRunningStats, BN_EPS, BN_MOMENTUM, type BatchStats } from './batchnorm.js';
export { TrainConv2d, TrainBatchNorm2d, TrainLinear, type ForwardContext } from './layers.js';
export { TrainResNetEncoder, TrainResNetClassifier, TrainUNet, createTrainable, type TrainableNet, type TrainableDepth, type NetSpec } from './networks.js';
export { AdamW, DEFAULT_ADAMW, warmupCosine, type AdamWOptions } from './adam.js';
export { crossEntropy, softDice, diceCrossEntropy } from './losses.js';
export { AccuracyCounter, DiceCounter, argmaxAt } from './metrics.js';
export { trainStep, lossAndGradients, predict, type LossFn } from './step.js';
export { saveCheckpoint, loadCheckpoint, type Checkpoint } from './checkpoint.js';
export {
  ClassificationSampler,
  SegmentationSampler,
  SceneIndex,
  PatchPool,
  patchLabel,
  segmentationLabels,
  normaliseInto,
  dihedral,
  DEFAULT_RULES,
  NORMAL,
  TUMOUR,
  CLASSIFIER_CLASSES,
  SEGMENTATION_CLASSES,
  type SceneLike,
  type SceneRegionLike,
  type SceneFactory,
  type SceneSet,
  type PatchRules,
  type Batch,
  type ClassifiedPatch,
  type SegmentedTile,
} from './data.js';
