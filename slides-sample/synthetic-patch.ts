/**
 * A deterministic H&E-like patch: eosin-pink stroma with fibre texture and hematoxylin nuclei of
 * varied size, shape and orientation. RGB in [0,1], NCHW (1,3,H,W). Used by the demo until the
 * full synthetic slide generator exists.
 */
import { seededRandom } from '../models/random-init.js';

export function syntheticHePatch(size = 224, seed = 1): Float32Array {
  const r = seededRandom(seed);
  const hw = size * size;
  const out = new Float32Array(3 * hw);
  // stroma: pink with sinusoidal fibres
  const angle = r() * Math.PI;
  const [ca, sa] = [Math.cos(angle), Math.sin(angle)];
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const fibre = 0.5 + 0.5 * Math.sin((x * ca + y * sa) * 0.35 + 2 * Math.sin(y * 0.05));
      const p = y * size + x;
      out[p] = 0.93 - 0.08 * fibre;
      out[hw + p] = 0.72 - 0.18 * fibre;
      out[2 * hw + p] = 0.85 - 0.1 * fibre;
    }
  // nuclei: dark purple ellipses with chromatin speckle
  const count = Math.round((size * size) / 1400);
  for (let k = 0; k < count; k++) {
    const cx = r() * size;
    const cy = r() * size;
    const a = 4 + r() * 7;
    const b = a * (0.55 + r() * 0.4);
    const th = r() * Math.PI;
    const [c, s] = [Math.cos(th), Math.sin(th)];
    const dark = 0.55 + r() * 0.3;
    for (let y = Math.max(0, Math.floor(cy - a - 1)); y < Math.min(size, cy + a + 1); y++)
      for (let x = Math.max(0, Math.floor(cx - a - 1)); x < Math.min(size, cx + a + 1); x++) {
        const u = ((x - cx) * c + (y - cy) * s) / a;
        const v = (-(x - cx) * s + (y - cy) * c) / b;
        const d = u * u + v * v;
        if (d > 1) continue;
        const speckle = 0.9 + 0.2 * r();
        const p = y * size + x;
        const t = dark * (1 - 0.3 * d) * speckle;
        out[p] = out[p]! * (1 - t) + 0.25 * t;
        out[hw + p] = out[hw + p]! * (1 - t) + 0.12 * t;
        out[2 * hw + p] = out[2 * hw + p]! * (1 - t) + 0.45 * t;
      }
  }
  return out;
}
