import { buildModel } from './arch.js';
import type { Model } from './model.js';
import { loadWeights } from './weights/load.js';

export interface LoadModelOptions {
  /** Architecture name; inferred from the keys when absent. */
  arch?: string;
}

/** Weights file -> ready model (engine must be initialised). */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  const w = await loadWeights(path);
  return buildModel(w.tensors, w.source, options.arch ?? w.metadata.sds_arch);
}
