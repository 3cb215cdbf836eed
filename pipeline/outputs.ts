/**
 * What an analysis leaves on disk, per slide: the tissue mask, each overlay's raw floats as an
 * OME-Zarr multiscale store (QuPath, napari) and a colour-mapped Deep Zoom pyramid for the viewer,
 * and manifest.json listing them with their value ranges. The manifest is written last and
 * atomically: its presence means the analysis is complete.
 */
import { join } from 'node:path';
import { atomicWrite } from './journal.js';

export interface OverlayEntry {
  /** a saliency variant, or 'model' for the model's own output */
  variant: string;
  /** grad / deeplift / ig, or 'output' */
  method: string;
  /** a layer name, or for outputs `class-<k>` / `probability` */
  layer: string;
  /** level-0 pixels per overlay pixel */
  downsample: number;
  width: number;
  height: number;
  /** colour scale: saliency symmetric around 0 at the 99th percentile of |value|; outputs [0, 1] */
  range: [number, number];
  store: string;
  dzi: string;
}

export interface Manifest {
  version: 1;
  slide: { path: string; name: string; width: number; height: number; mpp?: { x: number; y: number }; magnification?: number };
  model: { weights: string; arch: string; kind?: string; classes?: number; surrogate?: string };
  /** size in analysis pixels; `downsample` level-0 px per analysis px; read from `level` */
  patches: { size: number; level: number; downsample?: number; mpp?: number; overlap: number; count: number };
  tissueMask: string;
  overlays: OverlayEntry[];
  /** the model's own output (class probabilities), same shape as overlays */
  outputs?: OverlayEntry[];
  seconds: number;
  created: string;
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await atomicWrite(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
}
