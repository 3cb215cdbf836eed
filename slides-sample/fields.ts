/**
 * Slowly varying fields (tissue outline, tumour, nests, stain strength, focus, fibre warp, inflammation):
 * computed exactly on a global lattice every LATTICE px and bilinearly interpolated in between. Lattice
 * values are pure functions of the lattice index, so interpolated values do not depend on the region asked for.
 */
import { ellipseRadius, type SlideLayout } from './layout.js';
import { fbm } from './noise.js';

/** Lattice spacing in level-0 px. The finest field detail (~30 µm) spans many lattice cells. */
export const LATTICE = 8;

export const F = {
  /** Signed distance-like value in px: > 0 inside tissue. */
  tissue: 0,
  /** > 0 inside the tumour region (px-like). */
  tumour: 1,
  /** > 0 inside a tumour cell nest (px-like); between nests is desmoplastic stroma. */
  nest: 2,
  /** Multipliers of hematoxylin and eosin (mild stain variation). */
  stainH: 3,
  stainE: 4,
  /** 0 sharp .. 1 most defocused. */
  blur: 5,
  /** Fibre level-set warp (px). */
  warp: 6,
  /** 0..1 lymphocyte infiltration. */
  inflam: 7,
  /** Stroma density (eosin strength) multiplier. */
  density: 8,
  /** 0..1 how glandular the (non-tumour) tissue is. */
  glandular: 9,
  /** 0..1 adipose (fat) tissue. */
  fat: 10,
} as const;
export const FIELD_COUNT = 11;

/** All fields at lattice point (gx, gy) into out[offset..offset+FIELD_COUNT). */
export function latticeFields(L: SlideLayout, gx: number, gy: number, out: Float64Array, offset: number): void {
  const x = gx * LATTICE;
  const y = gy * LATTICE;
  const um = 1 / L.mpp; // px per micron
  const s = L.seeds;
  const side = Math.min(L.width, L.height);

  // Tissue: union of ellipses, frayed by noise at the slide's scale and at fixed physical scales.
  let t = -Infinity;
  for (const e of L.tissue) {
    const r = Math.sqrt(e.rx * e.ry);
    t = Math.max(t, (1 - ellipseRadius(e, x, y)) * r);
  }
  t += side * 0.13 * fbm(x, y, side * 0.3, 2, s.tissue);
  t += 45 * um * fbm(x, y, 160 * um, 2, s.tissue + 7);
  t += 10 * um * fbm(x, y, 35 * um, 2, s.tissue + 13);
  for (const h of L.holes) t = Math.min(t, (ellipseRadius(h, x, y) - 1) * Math.min(h.rx, h.ry) + 6 * um * fbm(x, y, 25 * um, 2, s.tissue + 29));
  const edge = Math.min(x, y, L.width - x, L.height - y) - L.border;
  out[offset + F.tissue] = Math.min(t, edge);

  let tu = -Infinity;
  for (const e of L.tumour) {
    const r = Math.sqrt(e.rx * e.ry);
    tu = Math.max(tu, (1 - ellipseRadius(e, x, y)) * r);
  }
  out[offset + F.tumour] = tu + side * 0.05 * fbm(x, y, side * 0.15, 2, s.tumour) + 70 * um * fbm(x, y, 130 * um, 3, s.tumour + 3);

  out[offset + F.nest] = (fbm(x, y, 110 * um, 3, s.nest) + 0.25) * 60 * um;
  out[offset + F.stainH] = 1 + 0.1 * fbm(x, y, 1500 * um, 2, s.stain);
  out[offset + F.stainE] = 1 + 0.1 * fbm(x, y, 1500 * um, 2, s.stain + 5);
  out[offset + F.blur] = Math.min(1, Math.max(0, 0.35 + 0.7 * fbm(x, y, 700 * um, 2, s.blur)));
  out[offset + F.warp] = 60 * um * fbm(x, y, 320 * um, 2, s.warp);
  // Lymphoid aggregates here and there, and a band of lymphocytes along the tumour's edge.
  const rim = out[offset + F.tumour]! / (90 * um);
  out[offset + F.inflam] = Math.min(1, Math.max(0, fbm(x, y, 140 * um, 3, s.inflam) * 2 - 0.55) + 0.45 * Math.exp(-rim * rim));
  out[offset + F.density] = 1 + 0.3 * fbm(x, y, 260 * um, 2, s.density);
  out[offset + F.glandular] = Math.min(1, Math.max(0, 0.45 + 1.3 * fbm(x, y, 500 * um, 2, s.glandular)));
  out[offset + F.fat] = Math.min(1, Math.max(0, fbm(x, y, 450 * um, 2, s.fat) * 2.5 - 0.75));
}

/** Fields on the lattice covering [x0, x1) x [y0, y1), with interpolation that matches the pure lattice anywhere. */
export class FieldGrid {
  /** First lattice index and lattice size. */
  readonly gx0: number;
  readonly gy0: number;
  readonly gw: number;
  readonly gh: number;
  readonly values: Float64Array;
  private readonly scratch = new Float64Array(FIELD_COUNT * 4);

  constructor(
    readonly layout: SlideLayout,
    x0: number,
    y0: number,
    x1: number,
    y1: number,
  ) {
    this.gx0 = Math.floor(x0 / LATTICE);
    this.gy0 = Math.floor(y0 / LATTICE);
    this.gw = Math.floor((x1 - 1) / LATTICE) + 2 - this.gx0;
    this.gh = Math.floor((y1 - 1) / LATTICE) + 2 - this.gy0;
    this.values = new Float64Array(this.gw * this.gh * FIELD_COUNT);
    for (let j = 0; j < this.gh; j++)
      for (let i = 0; i < this.gw; i++) latticeFields(layout, this.gx0 + i, this.gy0 + j, this.values, (j * this.gw + i) * FIELD_COUNT);
  }

  /** Field `f` at level-0 point (x, y); points off this grid are computed from the pure lattice, identically. */
  at(x: number, y: number, f: number): number {
    const gx = Math.floor(x / LATTICE);
    const gy = Math.floor(y / LATTICE);
    const fx = (x - gx * LATTICE) / LATTICE;
    const fy = (y - gy * LATTICE) / LATTICE;
    const i = gx - this.gx0;
    const j = gy - this.gy0;
    let v00: number, v10: number, v01: number, v11: number;
    if (i >= 0 && j >= 0 && i + 1 < this.gw && j + 1 < this.gh) {
      const o = (j * this.gw + i) * FIELD_COUNT + f;
      v00 = this.values[o]!;
      v10 = this.values[o + FIELD_COUNT]!;
      v01 = this.values[o + this.gw * FIELD_COUNT]!;
      v11 = this.values[o + (this.gw + 1) * FIELD_COUNT]!;
    } else {
      const s = this.scratch;
      latticeFields(this.layout, gx, gy, s, 0);
      latticeFields(this.layout, gx + 1, gy, s, FIELD_COUNT);
      latticeFields(this.layout, gx, gy + 1, s, 2 * FIELD_COUNT);
      latticeFields(this.layout, gx + 1, gy + 1, s, 3 * FIELD_COUNT);
      v00 = s[f]!;
      v10 = s[FIELD_COUNT + f]!;
      v01 = s[2 * FIELD_COUNT + f]!;
      v11 = s[3 * FIELD_COUNT + f]!;
    }
    return bilerp(v00, v10, v01, v11, fx, fy);
  }
}

export function bilerp(v00: number, v10: number, v01: number, v11: number, fx: number, fy: number): number {
  const top = v00 + (v10 - v00) * fx;
  return top + (v01 + (v11 - v01) * fx - top) * fy;
}
