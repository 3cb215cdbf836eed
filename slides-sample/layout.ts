/**
 * The slide-wide plan a seed stands for: where the tissue pieces, holes and tumour lie, the main fibre
 * direction and this slide's stain vectors. Small (a few ellipses), made once per scene.
 */
import { Rng } from './noise.js';

/** A rotated ellipse in level-0 pixels. */
export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  cos: number;
  sin: number;
}

export interface SlideLayout {
  width: number;
  height: number;
  seed: number;
  /** Microns per level-0 pixel. */
  mpp: number;
  tissue: Ellipse[];
  holes: Ellipse[];
  tumour: Ellipse[];
  /** Pixels of glass kept between tissue and the slide's edge. */
  border: number;
  /** Main collagen direction (radians); the warp field bends it locally. */
  fibreAngle: number;
  /** Optical density per unit stain (natural log), R, G, B; unit length. */
  hVector: [number, number, number];
  eVector: [number, number, number];
  /** Brightness of bare glass, 0..255 per channel. */
  glass: [number, number, number];
  /** Independent seeds for each field and object kind. */
  seeds: Record<SeedName, number>;
}

export type SeedName = 'tissue' | 'tumour' | 'nest' | 'stain' | 'blur' | 'warp' | 'inflam' | 'density' | 'glandular' | 'fibre' | 'nuclei' | 'glands' | 'vessels' | 'pixel' | 'fat' | 'tumourCells';

const SEED_NAMES: SeedName[] = ['tissue', 'tumour', 'nest', 'stain', 'blur', 'warp', 'inflam', 'density', 'glandular', 'fibre', 'nuclei', 'glands', 'vessels', 'pixel', 'fat', 'tumourCells'];

function ellipse(rng: Rng, cx: number, cy: number, rx: number, ry: number): Ellipse {
  const a = rng.next() * Math.PI;
  return { cx, cy, rx, ry, cos: Math.cos(a), sin: Math.sin(a) };
}

function unit(v: [number, number, number]): [number, number, number] {
  const n = Math.hypot(...v);
  return [v[0] / n, v[1] / n, v[2] / n];
}

export function makeLayout(width: number, height: number, seed: number, mpp: number): SlideLayout {
  const rng = new Rng(seed ^ 0x5eed1234);
  const seeds = {} as Record<SeedName, number>;
  for (const name of SEED_NAMES) seeds[name] = (rng.next() * 4294967296) >>> 0;
  const side = Math.min(width, height);

  // Tissue: 2-4 overlapping ellipses around the centre, one piece or a few; the noise in fields.ts frays them.
  const tissue: Ellipse[] = [];
  const pieces = 2 + Math.floor(rng.next() * 3);
  for (let i = 0; i < pieces; i++) {
    const cx = width * rng.range(0.3, 0.7);
    const cy = height * rng.range(0.3, 0.7);
    const r = side * rng.range(0.17, 0.3);
    tissue.push(ellipse(rng, cx, cy, r * rng.range(1, 1.5), r * rng.range(0.7, 1)));
  }
  // Holes and tears: one or two small ellipses inside a tissue piece, one of them long and thin.
  const holes: Ellipse[] = [];
  const nHoles = 1 + Math.floor(rng.next() * 2);
  for (let i = 0; i < nHoles; i++) {
    const host = tissue[i % tissue.length]!;
    const cx = host.cx + host.rx * rng.range(-0.4, 0.4) * host.cos;
    const cy = host.cy + host.rx * rng.range(-0.4, 0.4) * host.sin;
    const r = side * rng.range(0.015, 0.035);
    holes.push(i === 1 ? ellipse(rng, cx, cy, r * 3, r * 0.35) : ellipse(rng, cx, cy, r * 1.3, r));
  }
  // Tumour: one or two blobs placed inside tissue pieces.
  const tumour: Ellipse[] = [];
  const nTumour = 1 + (rng.next() < 0.4 ? 1 : 0);
  for (let i = 0; i < nTumour; i++) {
    const host = tissue[(i + 1) % tissue.length]!;
    const cx = host.cx + host.rx * rng.range(-0.25, 0.25);
    const cy = host.cy + host.ry * rng.range(-0.25, 0.25);
    const r = side * rng.range(0.09, 0.14);
    tumour.push(ellipse(rng, cx, cy, r * rng.range(1, 1.3), r * rng.range(0.75, 1)));
  }
  // Stain vectors near those measured (Macenko) on real H&E, varied a little per slide.
  const jitter = (v: number) => v + rng.range(-0.03, 0.03);
  const hVector = unit([jitter(0.65), jitter(0.7), jitter(0.3)]);
  const eVector = unit([jitter(0.1), jitter(0.87), jitter(0.48)]);
  const g = rng.range(238, 246);
  return {
    width,
    height,
    seed,
    mpp,
    tissue,
    holes,
    tumour,
    border: Math.max(8, side * 0.03),
    fibreAngle: rng.next() * Math.PI,
    hVector,
    eVector,
    glass: [g, g + rng.range(-1.5, 1), g + rng.range(-3, 0.5)],
    seeds,
  };
}

/** Normalised ellipse radius: 1 on the outline. */
export function ellipseRadius(e: Ellipse, x: number, y: number): number {
  const dx = x - e.cx;
  const dy = y - e.cy;
  const u = (dx * e.cos + dy * e.sin) / e.rx;
  const v = (-dx * e.sin + dy * e.cos) / e.ry;
  return Math.sqrt(u * u + v * v);
}
