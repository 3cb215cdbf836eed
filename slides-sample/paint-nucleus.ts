/** Rasterises one nucleus: an irregular ellipse with chromatin grain, a darker rim, a pale centre or a nucleolus. */
import { clipBox, type Canvas } from './canvas.js';
import { valueNoise } from './noise.js';
import type { Nucleus } from './nuclei.js';

export function paintNucleus(c: Canvas, n: Nucleus): void {
  const [x0, y0, x1, y1] = clipBox(c, n.x, n.y, n.reach);
  if (x0 >= x1 || y0 >= y1) return;
  const { cos, sin, a, b, bend, k2, k3, tex, rim, vesicular, n1r, n1x, n1y, h, e, seed } = n;
  const ia = 1 / a;
  const ib = 1 / b;
  const c2 = Math.cos(n.p2);
  const s2 = Math.sin(n.p2);
  const c3 = Math.cos(n.p3);
  const s3 = Math.sin(n.p3);
  const ig = 1 / n.grain;
  const qmax = 1 + k2 + k3 + 1 / b;
  const irregular = k2 > 0 || k3 > 0;
  const { hOD, eOD, rOD, nuclei, w } = c;
  for (let y = y0; y < y1; y++) {
    const dy = y + 0.5 - n.y;
    let idx = (y - c.y0) * w + (x0 - c.x0);
    for (let x = x0; x < x1; x++, idx++) {
      const dx = x + 0.5 - n.x;
      const u = dx * cos + dy * sin;
      const v = -dx * sin + dy * cos - bend * u * u;
      const nu = u * ia;
      const nv = v * ib;
      const q2 = nu * nu + nv * nv;
      if (q2 >= qmax * qmax) continue;
      const q = Math.sqrt(q2);
      let r = q;
      if (irregular && q > 1e-6) {
        const ct = nu / q;
        const st = nv / q;
        const cos2 = ct * ct - st * st;
        const sin2 = 2 * ct * st;
        const cos3 = ct * (4 * ct * ct - 3);
        const sin3 = st * (3 - 4 * st * st);
        r = q / (1 + k2 * (cos2 * c2 - sin2 * s2) + k3 * (cos3 * c3 - sin3 * s3));
      }
      // r = 1 on the outline; (1 - r) * b is about the distance inside it in px.
      let alpha = (1 - r) * b + 0.5;
      if (alpha <= 0) continue;
      if (alpha > 1) alpha = 1;
      const grain = valueNoise(x * ig, y * ig, seed);
      const rr = r > 1 ? 1 : r;
      const rimT = rr < 0.7 ? 0 : rr > 0.95 ? 1 : (rr - 0.7) / 0.25;
      let hv = h * (1 + tex * (2 * grain - 1)) * (1 + rim * rimT * rimT) * (1 - vesicular * (1 - rr * rr));
      let ev = e;
      if (n1r > 0) {
        const d = n1r + 0.5 - Math.hypot(u - n1x, v - n1y);
        if (d > 0) {
          const t = d > 1 ? 1 : d;
          hv += 0.7 * t;
          ev += 0.5 * t;
        }
      }
      const keep = 1 - alpha;
      hOD[idx] = hOD[idx]! * keep + hv * alpha;
      eOD[idx] = eOD[idx]! * keep + ev * alpha;
      rOD[idx] = rOD[idx]! * keep;
      if (alpha >= 0.5) nuclei[idx] = 1;
    }
  }
}
