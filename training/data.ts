/**
 * Training and held-out batches cut from generated tissue scenes (slides-sample/scene.ts):
 * tumour-vs-normal patches for the classifier, background / tumour / nuclei label maps for the
 * U-Net. Every item and batch is a pure function of (seed, index), so a resumed run sees the same data.
 */
import { SdsError } from '../core/errors.js';
import { seededRandom } from '../models/index.js';

/** What a scene renders for a region (interleaved RGB, masks 0/1, row-major). */
export interface SceneRegionLike {
  rgb: Uint8Array;
  nuclei: Uint8Array;
  tumour: Uint8Array;
  tissue: Uint8Array;
}

export interface SceneLike {
  render(x: number, y: number, w: number, h: number): SceneRegionLike;
}

export type SceneFactory = (o: { width: number; height: number; seed: number }) => SceneLike;

export const NORMAL = 0;
export const TUMOUR = 1;
export const CLASSIFIER_CLASSES = ['normal', 'tumour'] as const;
/** U-Net classes: nuclei win over tumour where both masks are set. */
export const SEGMENTATION_CLASSES = ['background', 'tumour', 'nuclei'] as const;

export interface PatchRules {
  /** A tumour patch: at least this share of its pixels is tumour. */
  minTumour: number;
  /** A normal patch: at most this share is tumour. */
  maxTumourNormal: number;
  /** Either: at least this share is tissue. */
  minTissue: number;
}

export const DEFAULT_RULES: PatchRules = { minTumour: 0.5, maxTumourNormal: 0.01, minTissue: 0.5 };

function share(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) n += v ? 1 : 0;
  return n / mask.length;
}

/** The patch's class, or undefined for mixed and empty patches (used for neither class). */
export function patchLabel(r: SceneRegionLike, rules: PatchRules = DEFAULT_RULES): number | undefined {
  if (share(r.tissue) < rules.minTissue) return undefined;
  const t = share(r.tumour);
  if (t >= rules.minTumour) return TUMOUR;
  if (t <= rules.maxTumourNormal) return NORMAL;
  return undefined;
}

/** Per-pixel class: 0 background, 1 tumour, 2 nuclei. */
export function segmentationLabels(r: SceneRegionLike): Int32Array {
  const out = new Int32Array(r.tissue.length);
  for (let i = 0; i < out.length; i++) out[i] = r.nuclei[i] ? 2 : r.tumour[i] ? 1 : 0;
  return out;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** Interleaved RGB bytes -> ImageNet-normalised floats (NHWC order), written at `offset`. */
export function normaliseInto(rgb: Uint8Array, out: Float32Array, offset: number): void {
  for (let i = 0; i < rgb.length; i++) {
    const c = i % 3;
    out[offset + i] = (rgb[i]! / 255 - MEAN[c]!) / STD[c]!;
  }
}

/**
 * One of the 8 symmetries of the square (k: bit 0 flips x, bit 1 flips y, bit 2 transposes)
 * of a size x size image with `channels` interleaved channels.
 */
export function dihedral<T extends Uint8Array | Int32Array>(src: T, size: number, channels: number, k: number): T {
  if (k === 0) return src;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let sx = k & 1 ? size - 1 - x : x;
      let sy = k & 2 ? size - 1 - y : y;
      if (k & 4) [sx, sy] = [sy, sx];
      const s = (sy * size + sx) * channels;
      const d = (y * size + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = src[s + c]!;
    }
  return out;
}

export interface SceneSet {
  factory: SceneFactory;
  /** Scene seeds (training 1000+, held-out 2000+; the bundled sample slide is seed 1). */
  seeds: readonly number[];
  /** Scene side in pixels. */
  size: number;
}

/** A batch: NHWC normalised images and integer labels (N) or label maps (N,H,W). */
export interface Batch {
  x: Float32Array;
  labels: Int32Array;
  n: number;
  size: number;
}

type ProbeKind = 'tumour' | 'normal' | 'tissue';

/**
 * Where tissue and tumour lie in a scene, from one-pixel probes on a coarse grid (a render
 * costs ~2 µs a pixel plus ~2 ms a call): candidate centres for patches of each kind, which a
 * full render then confirms.
 */
export class SceneIndex {
  private readonly byKind: Record<ProbeKind, [number, number][]> = { tumour: [], normal: [], tissue: [] };

  constructor(readonly scene: SceneLike, size: number, readonly step = 256) {
    for (let y = step / 2; y < size; y += step)
      for (let x = step / 2; x < size; x += step) {
        const r = scene.render(x, y, 1, 1);
        if (!r.tissue[0]) continue;
        this.byKind.tissue.push([x, y]);
        this.byKind[r.tumour[0] ? 'tumour' : 'normal'].push([x, y]);
      }
  }

  /** A random probe of `kind`, or undefined if the scene has none. */
  pick(kind: ProbeKind, r: () => number): [number, number] | undefined {
    const list = this.byKind[kind];
    return list.length ? list[Math.floor(r() * list.length)] : undefined;
  }
}

/** Scenes and their indexes, built on first use and kept. */
class SceneCache {
  private readonly indexes = new Map<number, SceneIndex>();
  constructor(readonly set: SceneSet) {}
  index(seed: number): SceneIndex {
    let s = this.indexes.get(seed);
    if (!s) {
      s = new SceneIndex(this.set.factory({ width: this.set.size, height: this.set.size, seed }), this.set.size);
      this.indexes.set(seed, s);
    }
    return s;
  }

  /** A region of `side` px centred near a random probe of `kind` (jittered by half a grid step). */
  renderNear(kind: ProbeKind, side: number, r: () => number): SceneRegionLike | undefined {
    const { seeds, size } = this.set;
    const index = this.index(seeds[Math.floor(r() * seeds.length)]!);
    const at = index.pick(kind, r);
    if (!at) return undefined;
    const jitter = () => Math.floor((r() - 0.5) * index.step);
    const clamp = (v: number) => Math.max(0, Math.min(size - side, v));
    return index.scene.render(clamp(at[0] + jitter() - side / 2), clamp(at[1] + jitter() - side / 2), side, side);
  }
}

const MAX_TRIES = 200;

/** Item i of a seeded sequence: its own PRNG, so any item can be made without the ones before it. */
function itemRandom(seed: number, i: number): () => number {
  return seededRandom((Math.imul(seed, 1_000_003) + Math.imul(i + 1, 7919)) >>> 0);
}

export interface ClassifiedPatch {
  rgb: Uint8Array;
  label: number;
}

/** Tumour / normal patches, item i of class i % 2 (normal first), from scenes never mixed with others. */
export class ClassificationSampler {
  private readonly scenes: SceneCache;
  constructor(
    set: SceneSet,
    readonly patch: number,
    private readonly seed: number,
    private readonly rules: PatchRules = DEFAULT_RULES,
  ) {
    this.scenes = new SceneCache(set);
  }

  item(i: number): ClassifiedPatch {
    const want = i % 2 === 0 ? NORMAL : TUMOUR;
    const r = itemRandom(this.seed, i);
    for (let t = 0; t < MAX_TRIES; t++) {
      const region = this.scenes.renderNear(want === TUMOUR ? 'tumour' : 'normal', this.patch, r);
      if (region && patchLabel(region, this.rules) === want) return { rgb: region.rgb, label: want };
    }
    const { seeds } = this.scenes.set;
    throw new SdsError('BAD_INPUT', `no ${want === TUMOUR ? 'tumour' : 'normal'} ${this.patch} px patch in ${MAX_TRIES} tries in scenes ${seeds[0]}-${seeds.at(-1)}`, {
      suggestion: 'use larger scenes or smaller patches',
    });
  }

  /** Items from..from+n-1 as one batch, unaugmented (held-out sets). */
  batch(from: number, n: number): Batch {
    const x = new Float32Array(n * this.patch * this.patch * 3);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const p = this.item(from + i);
      normaliseInto(p.rgb, x, i * this.patch * this.patch * 3);
      labels[i] = p.label;
    }
    return { x, labels, n, size: this.patch };
  }
}

export interface SegmentedTile {
  rgb: Uint8Array;
  /** 0 background, 1 tumour, 2 nuclei. */
  labels: Uint8Array;
}

/** Tiles with background / tumour / nuclei label maps; odd items hold some tumour. */
export class SegmentationSampler {
  private readonly scenes: SceneCache;
  constructor(
    set: SceneSet,
    readonly tile: number,
    private readonly seed: number,
    /** Tiles need this much tissue; odd ones this much tumour. */
    private readonly minTissue = 0.3,
    private readonly minTumour = 0.1,
  ) {
    this.scenes = new SceneCache(set);
  }

  item(i: number): SegmentedTile {
    const needTumour = i % 2 === 1;
    const r = itemRandom(this.seed, i);
    for (let t = 0; t < MAX_TRIES; t++) {
      const region = this.scenes.renderNear(needTumour ? 'tumour' : 'tissue', this.tile, r);
      if (region && share(region.tissue) >= this.minTissue && (!needTumour || share(region.tumour) >= this.minTumour)) {
        return { rgb: region.rgb, labels: Uint8Array.from(segmentationLabels(region)) };
      }
    }
    throw new SdsError('BAD_INPUT', `no ${this.tile} px tile with enough ${needTumour ? 'tumour' : 'tissue'} in ${MAX_TRIES} tries`, {
      suggestion: 'use larger scenes or smaller tiles',
    });
  }
}

/**
 * Rendered patches kept in memory for training (rendering costs more than a training step):
 * each batch draws items at random, crops them to the training size and turns each into a
 * random one of its 8 orientations.
 */
export class PatchPool {
  constructor(
    private readonly items: readonly { rgb: Uint8Array; label?: number; labels?: Uint8Array }[],
    /** Side of the stored items. */
    readonly side: number,
    private readonly seed: number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  static classification(sampler: ClassificationSampler, count: number, onItem?: (done: number) => void): PatchPool {
    const items = Array.from({ length: count }, (_, i) => {
      const p = sampler.item(i);
      onItem?.(i + 1);
      return p;
    });
    return new PatchPool(items, sampler.patch, 0x7a11);
  }

  static segmentation(sampler: SegmentationSampler, count: number, onItem?: (done: number) => void): PatchPool {
    const items = Array.from({ length: count }, (_, i) => {
      const t = sampler.item(i);
      onItem?.(i + 1);
      return t;
    });
    return new PatchPool(items, sampler.tile, 0x5e61);
  }

  /** Batch number `step` of stream `stream`: n random items, cropped to `crop` px, random orientation. */
  batch(step: number, n: number, crop = this.side, stream = 0): Batch {
    const r = itemRandom(this.seed + 7 * stream, step);
    const hw = crop * crop;
    const x = new Float32Array(n * hw * 3);
    const perPixel = this.items[0]?.labels !== undefined;
    const labels = new Int32Array(perPixel ? n * hw : n);
    for (let i = 0; i < n; i++) {
      const item = this.items[Math.floor(r() * this.items.length)]!;
      const ox = Math.floor(r() * (this.side - crop + 1));
      const oy = Math.floor(r() * (this.side - crop + 1));
      const k = Math.floor(r() * 8);
      normaliseInto(dihedral(cropOf(item.rgb, this.side, 3, ox, oy, crop), crop, 3, k), x, i * hw * 3);
      if (perPixel) labels.set(dihedral(cropOf(item.labels!, this.side, 1, ox, oy, crop), crop, 1, k), i * hw);
      else labels[i] = item.label!;
    }
    return { x, labels, n, size: crop };
  }
}

/** A side x side window at (ox, oy) of an interleaved image of `stride` px rows. */
function cropOf(src: Uint8Array, stride: number, channels: number, ox: number, oy: number, side: number): Uint8Array {
  if (side === stride) return src;
  const out = new Uint8Array(side * side * channels);
  for (let y = 0; y < side; y++) out.set(src.subarray(((oy + y) * stride + ox) * channels, ((oy + y) * stride + ox + side) * channels), y * side * channels);
  return out;
}
