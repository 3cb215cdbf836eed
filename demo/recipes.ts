/**
 * The two demo models, as recipes: architecture and width, data, steps, optimiser, surrogate
 * training and the held-out set. `sds train-demo` follows them; `sds evaluate-demo` measures
 * the held-out set; models-demo/README.md reports both.
 */
import { createScene } from '../slides-sample/scene.js';
import type { NetSpec } from '../training/networks.js';
import type { SceneFactory, SceneSet } from '../training/data.js';

export const DEMO_MODELS = ['tumour-resnet18', 'tissue-unet34'] as const;
export type DemoModelName = (typeof DEMO_MODELS)[number];

export interface DemoRecipe {
  name: DemoModelName;
  spec: NetSpec;
  classes: readonly string[];
  /** Training patch side (px, level 0 of the generated scenes, 0.5 µm/px). */
  patch: number;
  /** Rendered once before training: `count` items of `side` px (training crops `patch` px from them). */
  pool: { count: number; side: number };
  batch: number;
  steps: number;
  lr: number;
  weightDecay: number;
  warmup: number;
  seed: number;
  train: SceneSet;
  surrogate: { steps: number; batch: number; patch: number; lr: number; seed: number };
  /** Held-out patches: `count` patches of `patch` px from scenes never trained on. */
  heldOut: { set: SceneSet; patch: number; count: number; seed: number };
}

const scenes: SceneFactory = (o) => createScene(o);

const seeds = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Scene side: that of the bundled sample slide, so tissue pieces and tumour blobs have its scale. */
const SCENE = 8192;

export const RECIPES: Record<DemoModelName, DemoRecipe> = {
  'tumour-resnet18': {
    name: 'tumour-resnet18',
    spec: { kind: 'classifier', depth: 18, width: 16, numClasses: 2 },
    classes: ['normal', 'tumour'],
    patch: 256,
    pool: { count: 1200, side: 256 },
    batch: 16,
    steps: 200,
    lr: 2e-3,
    weightDecay: 1e-4,
    warmup: 25,
    seed: 1,
    train: { factory: scenes, seeds: seeds(1000, 16), size: SCENE },
    surrogate: { steps: 200, batch: 16, patch: 256, lr: 1e-3, seed: 11 },
    heldOut: { set: { factory: scenes, seeds: seeds(2000, 4), size: SCENE }, patch: 256, count: 192, seed: 21 },
  },
  'tissue-unet34': {
    name: 'tissue-unet34',
    spec: { kind: 'unet', depth: 34, width: 16, decoderChannels: [64, 32, 16, 16, 8], numClasses: 3 },
    classes: ['background', 'tumour', 'nuclei'],
    patch: 256,
    pool: { count: 240, side: 512 },
    batch: 8,
    steps: 400,
    lr: 2e-3,
    weightDecay: 1e-4,
    warmup: 25,
    seed: 2,
    train: { factory: scenes, seeds: seeds(1000, 16), size: SCENE },
    surrogate: { steps: 150, batch: 8, patch: 256, lr: 1e-3, seed: 12 },
    heldOut: { set: { factory: scenes, seeds: seeds(2000, 4), size: SCENE }, patch: 1536, count: 8, seed: 22 },
  },
};
