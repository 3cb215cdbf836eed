/** A WSInfer model folder for tests: `config.json` in the zoo's layout (spec 1.0) and a copy of a weights file. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WsinferFolderOptions {
  classNames: string[];
  patchSize?: number;
  spacing?: number;
  resize?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** Writes `dir` (created) with `weights` copied in as `weightsName` and its config; returns `dir`. */
export function writeWsinferFolder(dir: string, weights: string, weightsName: string, o: WsinferFolderOptions): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(weights, join(dir, weightsName));
  const config = {
    spec_version: '1.0',
    architecture: 'test-model',
    num_classes: o.classNames.length,
    class_names: o.classNames,
    patch_size_pixels: o.patchSize ?? 350,
    spacing_um_px: o.spacing ?? 0.25,
    transform: [
      ...(o.resize ? [{ name: 'Resize', arguments: { size: o.resize } }] : []),
      { name: 'ToTensor' },
      ...(o.mean && o.std ? [{ name: 'Normalize', arguments: { mean: o.mean, std: o.std } }] : []),
    ],
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
