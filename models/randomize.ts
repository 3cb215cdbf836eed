/** Model randomization (SPEC 9): cumulative re-initialisation from the top of the network. */
import type { ArchName } from './model.js';
import { torchvisionInit } from './random-init.js';
import type { StateDict } from './weights/types.js';

export interface RandomizationStep {
  name: string;
  /** Parameter-name prefixes re-initialised so far (cumulative); `everything` = all. */
  prefixes: string[];
  everything: boolean;
}

export function randomizationSteps(arch: ArchName): RandomizationStep[] {
  const tops: [string, string[]][] = arch.startsWith('unet')
    ? [['decoder', ['segmentation_head.', 'decoder.']], ...[4, 3, 2, 1].map((i): [string, string[]] => [`layer${i}`, [`encoder.layer${i}.`]])]
    : arch === 'monai-resnet18'
      ? [['fc', ['fc.']], ...[4, 3, 2, 1].map((i): [string, string[]] => [`layer${i}`, [`features.${3 + i}.`]])]
      : [['fc', ['fc.']], ...[4, 3, 2, 1].map((i): [string, string[]] => [`layer${i}`, [`layer${i}.`]])];
  const steps: RandomizationStep[] = [{ name: 'none', prefixes: [], everything: false }];
  const acc: string[] = [];
  for (const [name, p] of tops) {
    acc.push(...p);
    steps.push({ name, prefixes: [...acc], everything: false });
  }
  steps.push({ name: 'everything', prefixes: [], everything: true });
  return steps;
}

const BN_STATS = /\.(running_mean|running_var|num_batches_tracked)$/;

/** A copy of `sd` with the step's parameters re-initialised (BatchNorm statistics kept unless everything). */
export function randomizeStateDict(sd: StateDict, step: RandomizationStep, seed: number): StateDict {
  const init = torchvisionInit(seed);
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    const hit = step.everything || step.prefixes.some((p) => k.startsWith(p));
    const keepStat = !step.everything && BN_STATS.test(k);
    if (!hit || keepStat || !(t.data instanceof Float32Array)) {
      out.set(k, t);
      continue;
    }
    out.set(k, { dtype: 'F32', shape: t.shape, data: init(k, t.shape) });
  }
  return out;
}
