/** Where training/evaluation patches come from: a folder of images or a .safetensors batch. */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { SdsError } from '../core/errors.js';
import { normalizeRgb, readImageRgb, rgbToChw } from '../models/input.js';
import type { Normalization } from '../models/model.js';
import { readSafetensors } from '../models/weights/safetensors.js';
import { detectTissue, isSlidePath, listSlides, openSlide, patchGrid, tissuePatches, type Slide } from '../slide/index.js';
import { ANALYSIS_DEFAULTS } from '../contracts/index.js';

export interface PatchSource {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly description: string;
  /** True for a fixed tensor batch (its order is kept; no shuffling). */
  readonly ordered: boolean;
  /** Class per patch when the folder has one subfolder per class (sorted names = 0, 1, ...). */
  readonly labels?: readonly number[];
  readonly classNames?: readonly string[];
  /** Releases open files (slides). */
  close?(): Promise<void>;
  /** Patches `indices`, NCHW, normalized. */
  read(indices: readonly number[]): Promise<Float32Array>;
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.tif', '.tiff']);
const TIFF_EXT = new Set(['.tif', '.tiff']);

export interface PatchSourceOptions {
  /** Patch side for slides (level-0 pixels), default 224. */
  patch?: number;
  /** Least tissue fraction of a slide patch (default: the analysis default). */
  minTissue?: number;
}

/**
 * `path`: a folder of image patches (optionally one subfolder per class), a .safetensors batch,
 * a slide of any format sds reads, or a folder holding slides (.svs, .ndpi, .mrxs, .scn, .bif, DICOM series;
 * .tif files there count as image patches): slide patches are taken at level 0
 * on a grid, where the tissue mask says at least half of the patch is tissue.
 */
export async function openPatchSource(path: string, normalization: Normalization, options: PatchSourceOptions = {}): Promise<PatchSource> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new SdsError('FILE_NOT_FOUND', `--data ${path} does not exist`, { suggestion: 'pass a folder of image patches or a .safetensors batch with `input`' });
  }
  if (st.isDirectory()) {
    // Slides of every format; .tif/.tiff files in a folder stay image patches (patch exporters write them).
    const slides = (await listSlides(path)).filter((p) => !TIFF_EXT.has(extname(p).toLowerCase()));
    if (slides.length) return slidePatches(slides, normalization, options);
    return imageFolder(path, normalization);
  }
  if (isSlidePath(path)) return slidePatches([path], normalization, options);
  if (extname(path).toLowerCase() === '.safetensors') {
    const t = (await readSafetensors(path)).tensors.get('input');
    if (!t || t.shape.length !== 4 || t.shape[1] !== 3 || !(t.data instanceof Float32Array)) {
      throw new SdsError('BAD_INPUT', `${basename(path)} needs a float tensor \`input\` (N,3,H,W)`);
    }
    const [n, , h, w] = t.shape as [number, number, number, number];
    const data = t.data;
    const per = 3 * h * w;
    return {
      count: n,
      height: h,
      width: w,
      ordered: true,
      description: `${basename(path)}: ${n} patches ${h}x${w}`,
      async read(indices) {
        const out = new Float32Array(indices.length * per);
        indices.forEach((i, j) => out.set(data.subarray(i * per, (i + 1) * per), j * per));
        return out;
      },
    };
  }
  throw new SdsError('BAD_INPUT', `--data ${path} is neither a folder nor a .safetensors batch`, { suggestion: 'pass a folder of PNG/JPEG/TIFF patches or a .safetensors with `input`' });
}

const isImage = (f: string) => IMAGE_EXT.has(extname(f).toLowerCase());

/** Images directly in `dir`, or (ImageFolder layout) in one subfolder per class. */
async function imageFolder(dir: string, normalization: Normalization): Promise<PatchSource> {
  const entries = await readdir(dir, { withFileTypes: true });
  let files = entries.filter((e) => e.isFile() && isImage(e.name)).map((e) => e.name).sort();
  let labels: number[] | undefined;
  let classNames: string[] | undefined;
  if (!files.length) {
    classNames = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    labels = [];
    for (const [k, cls] of classNames.entries()) {
      const inClass = (await readdir(join(dir, cls))).filter(isImage).sort();
      files.push(...inClass.map((f) => join(cls, f)));
      labels.push(...inClass.map(() => k));
    }
  }
  if (!files.length) throw new SdsError('BAD_INPUT', `no image patches (PNG/JPEG/TIFF) in ${dir} or its class subfolders`);
  const first = await readImageRgb(join(dir, files[0]!));
  const { height, width } = first;
  return {
    count: files.length,
    height,
    width,
    ordered: false,
    labels,
    classNames,
    description: `${dir}: ${files.length} patches ${height}x${width}${classNames ? ` in ${classNames.length} classes` : ''}`,
    async read(indices) {
      const per = 3 * height * width;
      const out = new Float32Array(indices.length * per);
      for (const [j, i] of indices.entries()) {
        const img = await readImageRgb(join(dir, files[i]!));
        if (img.height !== height || img.width !== width) {
          throw new SdsError('BAD_INPUT', `${files[i]} is ${img.width}x${img.height}, the other patches ${width}x${height}`, { suggestion: 'use patches of one size' });
        }
        out.set(normalizeRgb(img.data, 1, height, width, normalization), j * per);
      }
      return out;
    },
  };
}

async function slidePatches(paths: string[], normalization: Normalization, o: PatchSourceOptions): Promise<PatchSource> {
  const size = o.patch ?? 224;
  const spec = { size, overlap: 0, level: 0, downsample: 1 };
  const slides: Slide[] = [];
  const patches: { slide: number; x: number; y: number }[] = [];
  for (const p of paths) {
    const slide = await openSlide(p);
    slides.push(slide);
    const mask = await detectTissue(slide);
    const base = slide.levels[0]!;
    for (const q of tissuePatches(patchGrid(base.width, base.height, spec), spec, mask, o.minTissue ?? ANALYSIS_DEFAULTS.minTissue)) patches.push({ slide: slides.length - 1, x: q.x, y: q.y });
  }
  if (!patches.length) throw new SdsError('BAD_INPUT', `no tissue patches of ${size} px found in ${paths.map((p) => basename(p)).join(', ')}`, { suggestion: 'use a smaller --patch, or check the slides' });
  const hw = size * size;
  return {
    count: patches.length,
    height: size,
    width: size,
    ordered: false,
    description: `${paths.length} slide(s): ${patches.length} tissue patches ${size}x${size}`,
    async close() {
      await Promise.all(slides.map((sl) => sl.close()));
    },
    async read(indices) {
      const out = new Float32Array(indices.length * 3 * hw);
      for (const [j, i] of indices.entries()) {
        const p = patches[i]!;
        const rgb = await slides[p.slide]!.readRegion(0, p.x, p.y, size, size);
        out.set(normalizeRgb(rgbToChw(rgb, size, size), 1, size, size, normalization), j * 3 * hw);
      }
      return out;
    },
  };
}
