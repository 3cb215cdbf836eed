/**
 * Hashes, a small PRNG and lattice noise: every random number in a scene is a pure function of the seed and
 * of global coordinates (or of a grid cell's index), so any region renders the same whatever asks for it.
 */

/** 32-bit integer finaliser (lowbias32): a good avalanche for a few multiplies. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of two integers and a seed, uint32. */
export function hash2(x: number, y: number, seed: number): number {
  return mix32(Math.imul(x, 0x27d4eb2f) ^ mix32(Math.imul(y, 0x165667b1) ^ seed));
}

/** Hash of three integers and a seed, uint32. */
export function hash3(x: number, y: number, z: number, seed: number): number {
  return mix32(Math.imul(x, 0x27d4eb2f) ^ mix32(Math.imul(y, 0x165667b1) ^ mix32(Math.imul(z, 0x9e3779b1) ^ seed)));
}

/** Hash -> [0, 1). */
export const U32 = 1 / 4294967296;

/** A seeded stream of uniforms (mulberry32); one per grid cell, seeded by the cell's hash. */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) * U32;
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Approximately normal (sum of three uniforms), cheap and bounded to +-3 sd. */
  normal(mean = 0, sd = 1): number {
    return mean + sd * (this.next() + this.next() + this.next() - 1.5) * 2;
  }
}

/** Value noise in [0, 1]: hashed lattice values, smoothstep-interpolated. */
export function valueNoise(x: number, y: number, seed: number): number {
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  let fx = x - xi;
  let fy = y - yi;
  fx = fx * fx * (3 - 2 * fx);
  fy = fy * fy * (3 - 2 * fy);
  const a = hash2(xi, yi, seed) * U32;
  const b = hash2(xi + 1, yi, seed) * U32;
  const c = hash2(xi, yi + 1, seed) * U32;
  const d = hash2(xi + 1, yi + 1, seed) * U32;
  const top = a + (b - a) * fx;
  return top + (c + (d - c) * fx - top) * fy;
}

/** 16 unit gradient directions for gradient noise. */
const GX = new Float64Array(16);
const GY = new Float64Array(16);
for (let i = 0; i < 16; i++) {
  GX[i] = Math.cos((i * Math.PI) / 8 + 0.1);
  GY[i] = Math.sin((i * Math.PI) / 8 + 0.1);
}

/** Gradient (Perlin) noise, roughly in [-0.7, 0.7]; smoother, fewer axis artefacts than value noise. */
export function gradientNoise(x: number, y: number, seed: number): number {
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  const fx = x - xi;
  const fy = y - yi;
  const h00 = hash2(xi, yi, seed) & 15;
  const h10 = hash2(xi + 1, yi, seed) & 15;
  const h01 = hash2(xi, yi + 1, seed) & 15;
  const h11 = hash2(xi + 1, yi + 1, seed) & 15;
  const n00 = GX[h00]! * fx + GY[h00]! * fy;
  const n10 = GX[h10]! * (fx - 1) + GY[h10]! * fy;
  const n01 = GX[h01]! * fx + GY[h01]! * (fy - 1);
  const n11 = GX[h11]! * (fx - 1) + GY[h11]! * (fy - 1);
  const u = fx * fx * fx * (fx * (fx * 6 - 15) + 10);
  const v = fy * fy * fy * (fy * (fy * 6 - 15) + 10);
  const top = n00 + (n10 - n00) * u;
  return top + (n01 + (n11 - n01) * u - top) * v;
}

/** Fractal sum of gradient noise, `octaves` octaves from wavelength `scale`; roughly in [-1, 1]. */
export function fbm(x: number, y: number, scale: number, octaves: number, seed: number): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1 / scale;
  for (let o = 0; o < octaves; o++) {
    sum += amp * gradientNoise(x * f, y * f, seed + o * 1013);
    norm += amp;
    amp *= 0.5;
    f *= 2.03;
  }
  return (sum / norm) * 1.6;
}

export function smoothstep(e0: number, e1: number, x: number): number {
  const t = x <= e0 ? 0 : x >= e1 ? 1 : (x - e0) / (e1 - e0);
  return t * t * (3 - 2 * t);
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
