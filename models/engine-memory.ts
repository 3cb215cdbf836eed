/**
 * How much engine memory one worker task of an analysis needs: the largest patch the server accepts
 * (a 400 naming it), and how many patches a pool task carries (whole-slide runs send no more than
 * fit, so the pool's split-on-failure is the exception, not the way the size is found). A pool
 * worker is one TensorFlow.js WASM instance: 4 GiB of heap at most, and an instance that runs out
 * dies ("memory access out of bounds"; patch 4096 did, at 3.7 GB). The rule depends on the
 * architecture, layers, method and variant, so it is a function here, not a limit in the contract.
 *
 * Peak WASM heap of one task (HEAPU8.length after it, which only grows), measured on this
 * project's machine with random weights, `attributeBatch` as a pool worker runs it, maps only:
 *
 * | arch          | method, variant, layers                | patch x images | heap MiB |
 * |---------------|----------------------------------------|----------------|----------|
 * | resnet18      | grad, original, 1_1 + 2_1              | 1024 x 1       | 673      |
 * | resnet18      | grad, original, 1_1 + 2_1              | 2048 x 1       | 1853     |
 * | resnet18      | grad, original, 1_1 + 2_1              | 2944 x 1       | 3624     |
 * | resnet18      | grad, original, 1_1 + 2_1              | 512 x 8        | 853      |
 * | resnet18      | grad, original, input                  | 1024 x 1       | 3352     |
 * | resnet18      | deeplift, original, 1_1 + 2_1          | 1024 x 1       | 1000     |
 * | resnet18      | grad, backward-hook, 1_1 + 2_1         | 1024 x 1       | 783      |
 * | resnet18      | ig (50 steps, 16 per pass), 1_1        | 512 x 1        | 1540     |
 * | resnet18      | shared: grad, original + backward-hook | 1024 x 1       | 773      |
 * | resnet18      | shared: grad + deeplift, orig. + b.-h. | 1024 x 1       | 1052     |
 * | resnet34      | grad, original, 1_1 + 2_1              | 1024 x 1       | 1129     |
 * | resnet50      | grad, original, 1_1 + 2_1              | 1024 x 1       | 1739     |
 * | resnet50      | grad, original, input                  | 512 x 1        | 1418     |
 * | unet-resnet18 | grad, original, 1_1                    | 1024 x 1       | 1542     |
 * | unet-resnet34 | grad, original, 1_2 + 2_3              | 1024 x 1       | 1844     |
 * | unet-resnet34 | grad, original, input                  | 512 x 1        | 1641     |
 * | unet-resnet34 | grad, backward-hook, 1_2..4_2 (README) | 1536 x 1       | ~3200    |
 * | unet-resnet50 | grad, original, 1_1                    | 1024 x 1       | 2570     |
 *
 * A shared task (saliency/shared.ts: one forward pass, one backward walk per variant and rule) keeps
 * the forward pass's saved tensors through all its walks, and is estimated as the heaviest of its
 * (method, variant) pairs: the two shared rows are under those estimates (803 and 1336 MiB).
 *
 * The estimate: `base + factor x perMpx x images x patch² / 2^20` (MiB). Where two sizes were
 * measured (resnet18; unet-resnet34, its 1536 px point with the hook factor) base and slope are
 * fitted over them, at or above each point; elsewhere the whole 1024 px
 * figure is taken as slope (base 0), which overestimates larger patches. Factors on the slope,
 * fitted on resnet18 at 1024 px: explaining `input` (the whole network on the tape at full
 * resolution) x8 ((3352 - 270) / 410 = 7.5); DeepLIFT x2 (1.78); the hook and surrogate variants
 * x1.3 (1.25); Integrated Gradients runs 16 interpolation images per pass above the layer, each x1
 * of a gradient image ((1540 - 270) / (16 x 0.25 Mpx x 410) = 0.77), so it counts max(images, 16)
 * images. Every other row is at or under its estimate. The budget is 3.5 GiB of the 4: a heap
 * grows in steps of up to 96 MiB, and the pool replaces a worker above 3 GiB after its task.
 *
 * Largest single-image patch this gives (grad, original variant; block layer / `input` / the
 * defaults: 1_1 + 2_1 with original + backward-hook / IG at a block layer): resnet18 2880 / 1024 /
 * 2528 / 704, resnet34 1824 / 640 / 1600 / 448, resnet50 1440 / 512 / 1280 / 352, unet-resnet18
 * 1536 / 544 / 1344 / 384, unet-resnet34 1888 / 672 / 1664 / 448, unet-resnet50 1184 / 416 / 1056 /
 * 288 (test/models/engine-memory.test.ts holds them).
 */
import type { ArchName, ModelArch } from './model.js';

/** MiB of WASM heap one task may be estimated to need (of the instance's 4096). */
export const ENGINE_BUDGET_MIB = 3584;

/** grad, original variant, lowest explained layer a block output (scale >= 4): base + slope. */
export interface Calibration {
  baseMiB: number;
  miBPerMpx: number;
}

const CALIBRATION: Record<ArchName, Calibration> = {
  // 1024 px: 673, 2048 px: 1853, 2944 px: 3624 (a line over all three)
  resnet18: { baseMiB: 270, miBPerMpx: 410 },
  // the same backbone (and it only takes 224 px patches)
  'monai-resnet18': { baseMiB: 270, miBPerMpx: 410 },
  // one size measured (1024 px): all of it taken as slope
  resnet34: { baseMiB: 0, miBPerMpx: 1129 },
  resnet50: { baseMiB: 0, miBPerMpx: 1739 },
  'unet-resnet18': { baseMiB: 0, miBPerMpx: 1542 },
  // original at 1024 px: 1844, backward-hook at 1536 px: ~3200 (1140 + 1.3 x 704 x 2.25)
  'unet-resnet34': { baseMiB: 1140, miBPerMpx: 704 },
  'unet-resnet50': { baseMiB: 0, miBPerMpx: 2570 },
};

const INPUT_FACTOR = 8;
const METHOD_FACTOR: Record<string, number> = { grad: 1, deeplift: 2, ig: 1 };
const VARIANT_FACTOR = 1.3;
/** Integrated Gradients' interpolation images per pass (saliency/methods.ts `internalBatchSize` default). */
const IG_IMAGES_PER_PASS = 16;

export interface MemoryQuestion {
  arch: ModelArch;
  /** An imported graph's own calibration (`ModelDescription.memory`), measured from its activations. */
  calibration?: Calibration;
  layers: readonly string[];
  methods: readonly string[];
  variants: readonly string[];
  patch: number;
}

/**
 * An imported graph's calibration from what one forward pass allocates (`bytes`, all its
 * intermediates, for one `probe` x `probe` image): the native ResNet18 allocates 1510 MiB per
 * input Mpx in that pass (measured with the same tf.profile sum) against its calibrated 410 MiB per
 * Mpx, a factor of 0.27 (the pass's short-lived temporaries count there, the attribution's
 * peak holds a share of them); the base is resnet18's.
 */
export function graphCalibration(bytes: number, probe: number): Calibration {
  const mibPerMpx = bytes / 2 ** 20 / ((probe * probe) / 2 ** 20);
  return { baseMiB: CALIBRATION.resnet18.baseMiB, miBPerMpx: Math.ceil(GRAPH_FACTOR * mibPerMpx) };
}

/** Heap per Mpx of a task over forward-pass allocation per Mpx, measured on resnet18 (see graphCalibration). */
const GRAPH_FACTOR = 410 / 1510;

/** Estimated peak heap (MiB) of the heaviest of the job's tasks (one method x variant each) with `images` patches. */
export function engineMiB(q: MemoryQuestion, images: number): number {
  // an architecture not measured here is taken as the heaviest one that was
  const c = q.calibration ?? (q.arch === 'onnx' ? undefined : CALIBRATION[q.arch]) ?? CALIBRATION['unet-resnet50'];
  const layer = q.layers.includes('input') ? INPUT_FACTOR : 1;
  const variant = q.variants.some((v) => v !== 'original') ? VARIANT_FACTOR : 1;
  const mpx = (q.patch * q.patch) / 2 ** 20;
  let most = 0;
  for (const m of q.methods) {
    const n = m === 'ig' ? Math.max(images, IG_IMAGES_PER_PASS) : images;
    most = Math.max(most, c.baseMiB + layer * variant * (METHOD_FACTOR[m] ?? 2) * c.miBPerMpx * n * mpx);
  }
  return most;
}

/** The largest patch (a multiple of 32) whose single-image task fits the budget; 0 when none does. */
export function largestPatch(q: Omit<MemoryQuestion, 'patch'>): number {
  let best = 0;
  for (let p = 32; p <= 4096; p += 32) if (engineMiB({ ...q, patch: p }, 1) <= ENGINE_BUDGET_MIB) best = p;
  return best;
}

/** Patches per task: `wanted`, fewer when that many would not fit (at least 1). */
export function fittingBatch(q: MemoryQuestion, wanted: number): number {
  let n = wanted;
  while (n > 1 && engineMiB(q, n) > ENGINE_BUDGET_MIB) n--;
  return n;
}
