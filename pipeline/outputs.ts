/**
 * What an analysis leaves on disk, per slide: the tissue mask, each overlay's raw floats as an
 * OME-Zarr multiscale store (QuPath, napari) and a colour-mapped Deep Zoom pyramid for the viewer,
 * and manifest.json listing them with their value ranges.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { FloatStore, symmetricRange, writeDzi, writeMaskPng } from '../tiling/index.js';
import type { Analysis } from './analyze.js';

export interface OverlayEntry {
  variant: string;
  method: string;
  layer: string;
  /** level-0 pixels per overlay pixel */
  downsample: number;
  width: number;
  height: number;
  /** colour scale: symmetric around 0 at the 99th percentile of |value| */
  range: [number, number];
  store: string;
  dzi: string;
}

export interface Manifest {
  version: 1;
  slide: { path: string; name: string; width: number; height: number; mpp?: { x: number; y: number }; magnification?: number };
  model: { weights: string; arch: string; surrogate?: string };
  patches: { size: number; level: number; overlap: number; count: number };
  tissueMask: string;
  overlays: OverlayEntry[];
  seconds: number;
  created: string;
}

export async function writeAnalysis(a: Analysis, dir: string, meta: { weights: string; surrogate?: string; patch: number; level: number; overlap: number }): Promise<Manifest> {
  await mkdir(dir, { recursive: true });
  await writeMaskPng(a.mask, join(dir, 'tissue-mask.png'));
  const overlays: OverlayEntry[] = [];
  for (const ov of a.overlays) {
    const base = join(dir, 'overlays', ov.variant, ov.method, ov.layer);
    await mkdir(join(dir, 'overlays', ov.variant, ov.method), { recursive: true });
    const { canvas } = ov;
    const store = await FloatStore.create(`${base}.zarr`, { width: canvas.width, height: canvas.height, name: `${ov.variant} ${ov.method} ${ov.layer}` });
    const step = store.chunk;
    for (let y = 0; y < canvas.height; y += step)
      for (let x = 0; x < canvas.width; x += step) {
        const w = Math.min(step, canvas.width - x);
        const h = Math.min(step, canvas.height - y);
        await store.writeRegion(x, y, w, h, canvas.read(x, y, w, h));
      }
    await store.finalize();
    const range = await symmetricRange(store);
    await writeDzi(store, base, { range });
    overlays.push({ variant: ov.variant, method: ov.method, layer: ov.layer, downsample: ov.downsample, width: canvas.width, height: canvas.height, range, store: relative(dir, `${base}.zarr`), dzi: relative(dir, `${base}.dzi`) });
  }
  const l0 = a.slide.levels[0]!;
  const manifest: Manifest = {
    version: 1,
    slide: { path: a.slide.path, name: basename(a.slide.path), width: l0.width, height: l0.height, mpp: a.slide.mpp, magnification: a.slide.magnification },
    model: { weights: meta.weights, arch: a.arch, surrogate: meta.surrogate },
    patches: { size: meta.patch, level: meta.level, overlap: meta.overlap, count: a.patches.length },
    tissueMask: 'tissue-mask.png',
    overlays,
    seconds: a.seconds,
    created: new Date().toISOString(),
  };
  // written last and atomically: a manifest means the analysis is complete
  await writeFile(join(dir, 'manifest.json.tmp'), `${JSON.stringify(manifest, null, 1)}\n`);
  await rename(join(dir, 'manifest.json.tmp'), join(dir, 'manifest.json'));
  return manifest;
}
