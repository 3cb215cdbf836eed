/**
 * Every caller opens a model through its ModelSpec (contracts/model-spec.ts): the CLI, the pool's
 * workers, analysis planning and the server's catalog. `describeModel` answers "what does this
 * model offer" (layers, their scales, hook points, classes and their names) once per weights file
 * version, so planning, checking a request and listing models agree.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SdsError } from '../core/errors.js';
import type { ModelSpec } from '../contracts/index.js';
import { isArch } from './arch.js';
import { openModelFile, type OpenedModel } from './model-file.js';
import { OnnxModel } from './onnx/executor.js';
import { readWsinferFolder, WSINFER_CONFIG } from './wsinfer.js';
import { ANALYSIS_DEFAULTS } from '../contracts/index.js';
import { graphCalibration, type Calibration } from './engine-memory.js';
type ProfileInfo = Awaited<ReturnType<typeof tf.profile>>;
import { ARCHS, type ModelArch, type Model, type ModelKind, type Normalization } from './model.js';
import { randomModel } from './random-init.js';
import { tf, type Tensor4D } from './tf.js';

export type { ModelSpec } from '../contracts/index.js';

/** `--weights random:<arch>` is a seeded random model (2 classes) for trying the pipeline without weights. */
export function modelSpecFromArgs(weights: string, arch?: string): ModelSpec {
  const m = /^random:([a-z0-9-]+)$/.exec(weights);
  if (!m) return { kind: 'file', weights, ...(arch ? { arch } : {}) };
  if (!isArch(m[1]!)) throw new SdsError('BAD_ARGUMENT', `unknown architecture in --weights ${weights}`, { suggestion: `use random:<arch> with one of: ${ARCHS.join(', ')}` });
  return { kind: 'random', arch: m[1]!, classes: 2, seed: 0 };
}

/** How a manifest names the model when no label is given. */
export function modelLabel(spec: ModelSpec): string {
  return spec.kind === 'file' ? spec.weights : `random:${spec.arch}`;
}

async function open(spec: ModelSpec): Promise<OpenedModel> {
  if (spec.kind === 'random') {
    if (!isArch(spec.arch)) throw new SdsError('UNKNOWN_ARCHITECTURE', `random model of unknown architecture "${spec.arch}"`);
    return { model: randomModel(spec.arch, spec.classes, spec.seed), metadata: {} };
  }
  return openModelFile(spec.weights, spec.arch ? { arch: spec.arch } : {});
}

/** The ready model (the engine must be initialised); the caller disposes it. */
export async function openModel(spec: ModelSpec): Promise<Model> {
  return (await open(spec)).model;
}

export interface ModelDescription {
  arch: ModelArch;
  kind: ModelKind;
  numClasses: number;
  normalization: Normalization;
  /** explainable layers in forward order */
  layers: readonly string[];
  /** stride-2 convolutions (SPEC 2) */
  hookPoints: readonly string[];
  /** input pixels per value of each layer's output (4 for ResNet 1_x, 8 for 2_x, ...) */
  scales: ReadonlyMap<string, number>;
  /** class names from the weights' metadata (`classes: "normal,tumour"`), when they are usable as names */
  classNames?: string[];
  /** which weights, which version: changes when the file changes */
  identity: string;
  /** the layers analysed when none are named: ANALYSIS_DEFAULTS' where the model has them, else the last of scale 4 and of scale 8 */
  defaultLayers: string[];
  /** set when DeepLift cannot run on the model: the first node that is not a ReLU */
  deepLiftObstacle?: string;
  /** what the model's own configuration asks for (WSInfer config.json): patch side and microns per pixel */
  recommended?: { patch: number; mpp?: number };
  /** the only patch side the model runs at (an imported graph with fixed dims), else absent */
  fixedPatch?: number;
  /** engine memory of an imported graph, from its measured activations (models/engine-memory.ts) */
  memory?: Calibration;
}

/** Side of the input used to measure layer scales (a multiple of 32, as every architecture needs). */
const PROBE = 256;

/** The weights' identity: path, size and modification time (a rewritten file is a new model). */
export async function modelIdentity(spec: ModelSpec): Promise<string> {
  if (spec.kind === 'random') return `random:${spec.arch}:${spec.classes}:${spec.seed}`;
  const s = await stat(spec.weights);
  if (!s.isDirectory()) return `${spec.weights}:${s.size}:${s.mtimeMs}`;
  // a model folder (WSInfer): its config and the weights it names
  const w = await readWsinferFolder(spec.weights);
  const [c, f] = await Promise.all([stat(join(spec.weights, WSINFER_CONFIG)), stat(w.weightsPath)]);
  return `${spec.weights}:${c.size}:${c.mtimeMs}:${w.weightsPath}:${f.size}:${f.mtimeMs}`;
}

const described = new Map<string, Promise<ModelDescription>>();

/** What the model offers, measured once per weights version (one probe forward pass) and cached. */
export async function describeModel(spec: ModelSpec): Promise<ModelDescription> {
  const identity = await modelIdentity(spec);
  const key = `${identity}|${spec.arch ?? ''}`;
  let d = described.get(key);
  if (!d) {
    d = measure(spec, identity);
    // a failure is not cached: a fixed file is measured again
    d.catch(() => described.get(key) === d && described.delete(key));
    described.set(key, d);
  }
  return d;
}

async function measure(spec: ModelSpec, identity: string): Promise<ModelDescription> {
  const { model, metadata, recommended } = await open(spec);
  try {
    // layer scales from a 256 px probe; an imported graph that only runs at its export size (a
    // Reshape to fixed dims) is measured there, and analyses must use that patch size
    const fixed = model instanceof OnnxModel ? model.declaredSide() : undefined;
    let probe = PROBE;
    let scales: Map<string, number>;
    let profile: ProfileInfo;
    try {
      ({ scales, profile } = await probeScales(model, probe));
    } catch (err) {
      if (fixed === undefined || fixed === PROBE) throw runError(model, PROBE, err);
      probe = fixed;
      ({ scales, profile } = await probeScales(model, probe).catch((e: unknown) => {
        throw runError(model, fixed, e);
      }));
    }
    const layers = [...model.layerNames];
    const names = metadata.classes?.split(',').map((c) => c.trim().replace(/[^A-Za-z0-9._-]+/g, '_'));
    const usable = names && names.length === model.numClasses && names.every((n) => n && n !== '.' && n !== '..') && new Set(names).size === names.length;
    return {
      arch: model.arch,
      kind: model.kind,
      numClasses: model.numClasses,
      normalization: model.normalization,
      layers,
      hookPoints: [...model.hookPoints],
      scales,
      classNames: usable ? names : undefined,
      identity,
      defaultLayers: defaultLayers(layers, scales),
      ...(model.deepLiftObstacle ? { deepLiftObstacle: model.deepLiftObstacle } : {}),
      ...(recommended ? { recommended } : probe !== PROBE ? { recommended: { patch: probe } } : {}),
      ...(probe !== PROBE ? { fixedPatch: probe } : {}),
      ...(model.arch === 'onnx' ? { memory: graphCalibration(profile.kernels.reduce((a, k) => a + Math.max(0, k.bytesAdded), 0), probe) } : {}),
    };
  } finally {
    model.dispose();
  }
}

/** One forward pass at `side` px: input pixels per value of each layer, and what the pass allocated. */
async function probeScales(model: Model, side: number): Promise<{ scales: Map<string, number>; profile: ProfileInfo }> {
  const scales = new Map<string, number>();
  if (model.layerNames.includes('input')) scales.set('input', 1);
  const profile = await tf.profile(() =>
    tf.tidy(() => {
      model.forward(tf.zeros([1, side, side, 3]) as Tensor4D, {
        layer: (name, y) => {
          scales.set(name, side / y.shape[1]);
          return y;
        },
      });
    }),
  );
  return { scales, profile };
}

/** A probe pass that failed, as the model's problem (the engine's words inside). */
function runError(model: Model, side: number, err: unknown): SdsError {
  if (err instanceof SdsError) return err;
  return new SdsError('WEIGHTS_UNSUPPORTED', `the model does not run on a ${side} px RGB patch: ${(err as Error).message}`, {
    suggestion: 'sds runs image models on (N, 3, H, W) patches; export the model with a dynamic or 256 px input',
    cause: err,
  });
}

/**
 * ANALYSIS_DEFAULTS' layers where the model has them (the native ResNets: 1_1, 2_1); otherwise
 * their equivalent, the ends of the stages at scale 4 and 8: of the layers at that scale, the last
 * of the outermost modules (`layer1`, `features.2`, `features.denseblock2`, not the expansion conv
 * of the next stage that still runs at that scale).
 */
function defaultLayers(layers: string[], scales: ReadonlyMap<string, number>): string[] {
  if (ANALYSIS_DEFAULTS.layers.every((l) => layers.includes(l))) return [...ANALYSIS_DEFAULTS.layers];
  const depth = (l: string) => l.split('.').length;
  const endOf = (candidates: string[]) => {
    const outer = Math.min(...candidates.map(depth));
    return candidates.filter((l) => depth(l) === outer).at(-1);
  };
  const chosen: string[] = [];
  for (const s of [4, 8]) {
    const end = endOf(layers.filter((l) => l !== 'input' && scales.get(l) === s));
    if (end) chosen.push(end);
  }
  if (chosen.length) return chosen;
  // no stage at scale 4 or 8: the end of the finest stage above the input
  const above = layers.filter((l) => l !== 'input');
  const finest = Math.min(...above.map((l) => scales.get(l)!));
  return [endOf(above.filter((l) => scales.get(l) === finest)) ?? 'input'];
}
