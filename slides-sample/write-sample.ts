/**
 * The sample slide: a scene written as an Aperio-style pyramidal TIFF (`<name>.svs`) with its ground truth
 * beside it: `<name>.nuclei.png` (full resolution), `<name>.tumour.png` and `<name>.tissue.png` (downsampled
 * MASK_DOWNSAMPLE x, a pixel is 1 where at least half its block is), all 1-bit greyscale (white = 1), and
 * `<name>.json` (seed, size, MPP, levels, masks and their downsamples). Level-0 bands are rendered once and
 * feed the pyramid and the masks together. The JSON is written last: its presence means the set is complete.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SdsError } from '../core/errors.js';
import { openSlide } from '../slide/index.js';
import { PngStreamWriter } from './png-stream.js';
import { createScene, type Scene } from './scene.js';
import { writePyramidTiff } from './tiff-writer.js';

/** Bumped whenever the generator's output changes, so an old sample is regenerated rather than reused. */
export const GENERATOR_VERSION = 1;
/** Tumour and tissue masks are stored at 1/4 of level 0 per side; nuclei at full resolution. */
export const MASK_DOWNSAMPLE = 4;
/** Widest piece rendered at once; a band of tiles is rendered in pieces this wide. */
const RENDER_CHUNK = 2048;

export interface SampleOptions {
  /** The slide's path (`.svs`); masks and JSON go beside it. */
  path: string;
  width: number;
  height: number;
  seed: number;
  /** Microns per pixel (default 0.5). */
  mpp?: number;
  quality?: number;
  onProgress?(done: number, total: number): void;
}

export interface MaskInfo {
  file: string;
  /** Level-0 pixels per mask pixel, per side. */
  downsample: number;
  width: number;
  height: number;
}

export interface SampleManifest {
  generator: 'sds slides-sample';
  version: number;
  slide: string;
  bytes: number;
  seed: number;
  width: number;
  height: number;
  mpp: number;
  magnification: number;
  tileSize: number;
  quality: number;
  levels: { width: number; height: number; downsample: number }[];
  masks: { nuclei: MaskInfo; tumour: MaskInfo; tissue: MaskInfo };
}

/** `<dir>/<name>` without the slide extension: the stem the mask and JSON names share. */
export function sampleStem(path: string): string {
  return join(dirname(path), basename(path).replace(/\.(svs|tiff?)$/i, ''));
}

export function manifestPath(path: string): string {
  return `${sampleStem(path)}.json`;
}

/** Render the scene and write the slide, masks and JSON (each atomically). */
export async function writeSample(o: SampleOptions): Promise<SampleManifest> {
  const mpp = o.mpp ?? 0.5;
  const quality = o.quality ?? 90;
  const tileSize = 256;
  const scene = createScene({ width: o.width, height: o.height, seed: o.seed, mpp });
  const stem = sampleStem(o.path);
  await mkdir(dirname(o.path), { recursive: true });
  const ds = MASK_DOWNSAMPLE;
  const small = { width: Math.ceil(o.width / ds), height: Math.ceil(o.height / ds) };
  const writers = {
    nuclei: await PngStreamWriter.create(`${stem}.nuclei.png`, o.width, o.height, 1),
    tumour: await PngStreamWriter.create(`${stem}.tumour.png`, small.width, small.height, 1),
    tissue: await PngStreamWriter.create(`${stem}.tissue.png`, small.width, small.height, 1),
  };
  try {
    const tiff = await writePyramidTiff({
      path: o.path,
      width: o.width,
      height: o.height,
      mpp,
      quality,
      tileSize,
      properties: { Filename: basename(stem), 'ScanScope ID': 'SDS-SYNTHETIC', Seed: o.seed, Generator: `sds slides-sample v${GENERATOR_VERSION}` },
      onProgress: o.onProgress,
      readRows: async (y, rows) => {
        const band = renderBand(scene, y, rows);
        await writers.nuclei.writeRows(band.nuclei, rows);
        await writers.tumour.writeRows(majorityDown(band.tumour, o.width, rows, ds), Math.ceil(rows / ds));
        await writers.tissue.writeRows(majorityDown(band.tissue, o.width, rows, ds), Math.ceil(rows / ds));
        return band.rgb;
      },
    });
    await Promise.all([writers.nuclei.close(), writers.tumour.close(), writers.tissue.close()]);
    const mask = (name: string, d: number, w: number, h: number): MaskInfo => ({ file: basename(`${stem}.${name}.png`), downsample: d, width: w, height: h });
    const manifest: SampleManifest = {
      generator: 'sds slides-sample',
      version: GENERATOR_VERSION,
      slide: basename(o.path),
      bytes: tiff.bytes,
      seed: o.seed,
      width: o.width,
      height: o.height,
      mpp,
      magnification: Math.round(10 / mpp),
      tileSize,
      quality,
      levels: tiff.levels,
      masks: {
        nuclei: mask('nuclei', 1, o.width, o.height),
        tumour: mask('tumour', ds, small.width, small.height),
        tissue: mask('tissue', ds, small.width, small.height),
      },
    };
    const json = manifestPath(o.path);
    await writeFile(`${json}.tmp-${process.pid}`, `${JSON.stringify(manifest, null, 1)}\n`);
    await rename(`${json}.tmp-${process.pid}`, json);
    return manifest;
  } catch (err) {
    await Promise.all(Object.values(writers).map((w) => w.abort()));
    throw err;
  }
}

/** Level-0 rows [y, y + rows) at full width, rendered in pieces at most RENDER_CHUNK wide. */
function renderBand(scene: Scene, y: number, rows: number): { rgb: Uint8Array; nuclei: Uint8Array; tumour: Uint8Array; tissue: Uint8Array } {
  const w = scene.width;
  const out = { rgb: new Uint8Array(w * rows * 3), nuclei: new Uint8Array(w * rows), tumour: new Uint8Array(w * rows), tissue: new Uint8Array(w * rows) };
  for (let x = 0; x < w; x += RENDER_CHUNK) {
    const cw = Math.min(RENDER_CHUNK, w - x);
    const r = scene.render(x, y, cw, rows);
    for (let j = 0; j < rows; j++) {
      out.rgb.set(r.rgb.subarray(j * cw * 3, (j + 1) * cw * 3), (j * w + x) * 3);
      out.nuclei.set(r.nuclei.subarray(j * cw, (j + 1) * cw), j * w + x);
      out.tumour.set(r.tumour.subarray(j * cw, (j + 1) * cw), j * w + x);
      out.tissue.set(r.tissue.subarray(j * cw, (j + 1) * cw), j * w + x);
    }
  }
  return out;
}

/** 0/1 mask -> 1/ds per side; a pixel is 1 where at least half of the pixels of its block (inside the image) are. */
export function majorityDown(mask: Uint8Array, width: number, rows: number, ds: number): Uint8Array {
  const ow = Math.ceil(width / ds);
  const oh = Math.ceil(rows / ds);
  const out = new Uint8Array(ow * oh);
  for (let j = 0; j < oh; j++)
    for (let i = 0; i < ow; i++) {
      let sum = 0;
      let n = 0;
      for (let y = j * ds; y < Math.min(rows, (j + 1) * ds); y++)
        for (let x = i * ds; x < Math.min(width, (i + 1) * ds); x++) {
          sum += mask[y * width + x]!;
          n++;
        }
      out[j * ow + i] = 2 * sum >= n ? 1 : 0;
    }
  return out;
}

export interface EnsureSampleOptions extends SampleOptions {
  /** Regenerate even when a valid sample is there. */
  force?: boolean;
}

/** The sample at `path`: reused when its JSON matches the request and the slide opens, otherwise (re)generated. */
export async function ensureSample(o: EnsureSampleOptions): Promise<{ manifest: SampleManifest; created: boolean }> {
  if (!o.force) {
    const existing = await validSample(o);
    if (existing) return { manifest: existing, created: false };
  }
  // A stale or partial set goes first, so a failure now leaves nothing that looks valid.
  await rm(manifestPath(o.path), { force: true });
  return { manifest: await writeSample(o), created: true };
}

/** The manifest of a complete sample matching `o` at `o.path`, else undefined. */
export async function validSample(o: SampleOptions): Promise<SampleManifest | undefined> {
  const json = manifestPath(o.path);
  if (!existsSync(json) || !existsSync(o.path)) return undefined;
  let m: SampleManifest;
  try {
    m = JSON.parse(await readFile(json, 'utf8')) as SampleManifest;
  } catch {
    return undefined;
  }
  const want = { version: GENERATOR_VERSION, seed: o.seed, width: o.width, height: o.height, mpp: o.mpp ?? 0.5, quality: o.quality ?? 90 };
  for (const [k, v] of Object.entries(want)) if (m[k as keyof SampleManifest] !== v) return undefined;
  if ((await stat(o.path)).size !== m.bytes) return undefined;
  const dir = dirname(o.path);
  if (!Object.values(m.masks ?? {}).every((mask) => existsSync(join(dir, mask.file)))) return undefined;
  try {
    const slide = await openSlide(o.path);
    const ok = slide.levels[0]!.width === m.width && slide.levels[0]!.height === m.height;
    await slide.close();
    return ok ? m : undefined;
  } catch (err) {
    if (err instanceof SdsError) return undefined;
    throw err;
  }
}
