/**
 * JPEG decoded at 1/2, 1/4 or 1/8 of its size, with libjpeg-turbo's arithmetic (its reduced-size inverse DCTs,
 * "islow" scaling, range limiting and YCbCr -> RGB tables), so the levels OpenSlide 3.4.1 derives from NDPI
 * JPEGs by libjpeg scaling come out as OpenSlide shows them. sharp offers no such decode (it shrinks on load only
 * by its own rules, then resamples).
 *
 * libjpeg decodes each component with the smallest IDCT that gives the output scale, and enlarges subsampled
 * chroma by a larger IDCT rather than by upsampling where the ratios allow: 4:2:0 and 4:4:4 at 1/2, 1/4 and 1/8
 * need no upsampling at all, and those are the layouts read here; others are refused (SLIDE_UNSUPPORTED).
 */
import { decodeScan, huffmanLookup, ZIGZAG, type ScanComponentPlan } from './huffman.js';
import type { JpegHeader } from './jpeg-header.js';

export class ScaledJpegUnsupported extends Error {}

const CONST_BITS = 13;
const PASS1_BITS = 2;
/** libjpeg's FIX(): a constant in CONST_BITS fixed point, rounded. */
const fix = (c: number) => Math.floor(c * (1 << CONST_BITS) + 0.5);
const F = {
  c0_211164243: fix(0.211164243),
  c0_298631336: fix(0.298631336),
  c0_390180644: fix(0.390180644),
  c0_509795579: fix(0.509795579),
  c0_541196100: fix(0.5411961),
  c0_601344887: fix(0.601344887),
  c0_720959822: fix(0.720959822),
  c0_765366865: fix(0.765366865),
  c0_850430095: fix(0.850430095),
  c0_899976223: fix(0.899976223),
  c1_061594337: fix(1.061594337),
  c1_175875602: fix(1.175875602),
  c1_272758580: fix(1.27275858),
  c1_451774981: fix(1.451774981),
  c1_501321110: fix(1.50132111),
  c1_847759065: fix(1.847759065),
  c1_961570560: fix(1.96157056),
  c2_053119869: fix(2.053119869),
  c2_172734803: fix(2.172734803),
  c2_562915447: fix(2.562915447),
  c3_072711026: fix(3.072711026),
  c3_624509785: fix(3.624509785),
};

/** 2^(n-1) and 2^-n for the shifts used (n < 32). */
const HALVES = Float64Array.from({ length: 32 }, (_, n) => (n ? 2 ** (n - 1) : 0));
const SCALES = Float64Array.from({ length: 32 }, (_, n) => 2 ** -n);
/** Rounded arithmetic right shift of an integer (exact in doubles up to 2^53, where 32-bit shifts would overflow). */
function descale(x: number, n: number): number {
  return Math.floor((x + HALVES[n]!) * SCALES[n]!);
}

/** libjpeg's post-IDCT range limit: the low 10 bits as a signed value, centred on 128 and clamped to 0..255. */
function limit(x: number): number {
  const s = ((x & 1023) ^ 512) - 512;
  const v = s + 128;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Writes an `size` x `size` block of samples for the 64 dequantised coefficients `c` (natural order). */
type Idct = (c: Float64Array, out: Uint8Array, at: number, stride: number) => void;

/** Between-pass workspace (8 columns x up to 8 rows), shared: the decode is synchronous. */
const ws = new Float64Array(64);

function idct1(c: Float64Array, out: Uint8Array, at: number): void {
  out[at] = limit(descale(c[0]!, 3));
}

function idct2(c: Float64Array, out: Uint8Array, at: number, stride: number): void {
  // Columns 0, 1, 3, 5, 7: columns 2, 4 and 6 do not reach a 2-point output.
  for (let col = 0; col < 8; col++) {
    if (col === 2 || col === 4 || col === 6) continue;
    const c0 = c[col]!;
    const c1 = c[8 + col]!;
    const c3 = c[24 + col]!;
    const c5 = c[40 + col]!;
    const c7 = c[56 + col]!;
    if (c1 === 0 && c3 === 0 && c5 === 0 && c7 === 0) {
      ws[col] = ws[8 + col] = c0 * (1 << PASS1_BITS);
      continue;
    }
    const even = c0 * 2 ** (CONST_BITS + 2);
    const odd = -F.c0_720959822 * c7 + F.c0_850430095 * c5 - F.c1_272758580 * c3 + F.c3_624509785 * c1;
    ws[col] = descale(even + odd, CONST_BITS - PASS1_BITS + 2);
    ws[8 + col] = descale(even - odd, CONST_BITS - PASS1_BITS + 2);
  }
  for (let row = 0; row < 2; row++) {
    const w = row * 8;
    const o = at + row * stride;
    const w1 = ws[w + 1]!;
    const w3 = ws[w + 3]!;
    const w5 = ws[w + 5]!;
    const w7 = ws[w + 7]!;
    if (w1 === 0 && w3 === 0 && w5 === 0 && w7 === 0) {
      out[o] = out[o + 1] = limit(descale(ws[w]!, PASS1_BITS + 3));
      continue;
    }
    const even = ws[w]! * 2 ** (CONST_BITS + 2);
    const odd = -F.c0_720959822 * w7 + F.c0_850430095 * w5 - F.c1_272758580 * w3 + F.c3_624509785 * w1;
    out[o] = limit(descale(even + odd, CONST_BITS + PASS1_BITS + 3 + 2));
    out[o + 1] = limit(descale(even - odd, CONST_BITS + PASS1_BITS + 3 + 2));
  }
}

/**
 * The 8-to-4 step of the reduced IDCT (each output the mean of two adjacent 8-point outputs): inputs x0..x7 (x4
 * unused) at `src[i + k*step]`, outputs descaled by `shift` to `dst[j + k*dstep]`, k = 0..3.
 */
function fourPoint(src: Float64Array, i: number, step: number, dst: Float64Array, j: number, dstep: number, shift: number): void {
  const x0 = src[i]!;
  const x1 = src[i + step]!;
  const x2 = src[i + 2 * step]!;
  const x3 = src[i + 3 * step]!;
  const x5 = src[i + 5 * step]!;
  const x6 = src[i + 6 * step]!;
  const x7 = src[i + 7 * step]!;
  const t0 = x0 * 2 ** (CONST_BITS + 1);
  const t2 = F.c1_847759065 * x2 - F.c0_765366865 * x6;
  const t10 = t0 + t2;
  const t12 = t0 - t2;
  const a = -F.c0_211164243 * x7 + F.c1_451774981 * x5 - F.c2_172734803 * x3 + F.c1_061594337 * x1;
  const b = -F.c0_509795579 * x7 - F.c0_601344887 * x5 + F.c0_899976223 * x3 + F.c2_562915447 * x1;
  dst[j] = descale(t10 + b, shift);
  dst[j + dstep] = descale(t12 + a, shift);
  dst[j + 2 * dstep] = descale(t12 - a, shift);
  dst[j + 3 * dstep] = descale(t10 - b, shift);
}

const row4 = new Float64Array(4);

function idct4(c: Float64Array, out: Uint8Array, at: number, stride: number): void {
  for (let col = 0; col < 8; col++) {
    if (col === 4) continue; // the 4-point output never uses column 4
    if (c[8 + col] === 0 && c[16 + col] === 0 && c[24 + col] === 0 && c[40 + col] === 0 && c[48 + col] === 0 && c[56 + col] === 0) {
      ws[col] = ws[8 + col] = ws[16 + col] = ws[24 + col] = c[col]! * (1 << PASS1_BITS);
      continue;
    }
    fourPoint(c, col, 8, ws, col, 8, CONST_BITS - PASS1_BITS + 1);
  }
  for (let row = 0; row < 4; row++) {
    const w = row * 8;
    const o = at + row * stride;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      out[o] = out[o + 1] = out[o + 2] = out[o + 3] = limit(descale(ws[w]!, PASS1_BITS + 3));
      continue;
    }
    fourPoint(ws, w, 1, row4, 0, 1, CONST_BITS + PASS1_BITS + 3 + 1);
    out[o] = limit(row4[0]!);
    out[o + 1] = limit(row4[1]!);
    out[o + 2] = limit(row4[2]!);
    out[o + 3] = limit(row4[3]!);
  }
}

/**
 * One 8-point pass of the Loeffler-Ligtenberg-Moschytz IDCT in libjpeg's fixed point ("islow"): inputs at
 * `src[i + k*step]`, outputs descaled by `shift` to `dst[j + k*dstep]`, k = 0..7.
 */
function eightPoint(src: Float64Array, i: number, step: number, dst: Float64Array, j: number, dstep: number, shift: number): void {
  const x0 = src[i]!;
  const x1 = src[i + step]!;
  const x2 = src[i + 2 * step]!;
  const x3 = src[i + 3 * step]!;
  const x4 = src[i + 4 * step]!;
  const x5 = src[i + 5 * step]!;
  const x6 = src[i + 6 * step]!;
  const x7 = src[i + 7 * step]!;
  // Even part.
  const z1 = (x2 + x6) * F.c0_541196100;
  const e2 = z1 - x6 * F.c1_847759065;
  const e3 = z1 + x2 * F.c0_765366865;
  const e0 = (x0 + x4) * 2 ** CONST_BITS;
  const e1 = (x0 - x4) * 2 ** CONST_BITS;
  const t10 = e0 + e3;
  const t13 = e0 - e3;
  const t11 = e1 + e2;
  const t12 = e1 - e2;
  // Odd part: inputs y7, y5, y3, y1.
  const za = x7 + x1;
  const zb = x5 + x3;
  const zc = x7 + x3;
  const zd = x5 + x1;
  const z5 = (zc + zd) * F.c1_175875602;
  const o0 = x7 * F.c0_298631336 + za * -F.c0_899976223 + (zc * -F.c1_961570560 + z5);
  const o1 = x5 * F.c2_053119869 + zb * -F.c2_562915447 + (zd * -F.c0_390180644 + z5);
  const o2 = x3 * F.c3_072711026 + zb * -F.c2_562915447 + (zc * -F.c1_961570560 + z5);
  const o3 = x1 * F.c1_501321110 + za * -F.c0_899976223 + (zd * -F.c0_390180644 + z5);
  dst[j] = descale(t10 + o3, shift);
  dst[j + dstep] = descale(t11 + o2, shift);
  dst[j + 2 * dstep] = descale(t12 + o1, shift);
  dst[j + 3 * dstep] = descale(t13 + o0, shift);
  dst[j + 4 * dstep] = descale(t13 - o0, shift);
  dst[j + 5 * dstep] = descale(t12 - o1, shift);
  dst[j + 6 * dstep] = descale(t11 - o2, shift);
  dst[j + 7 * dstep] = descale(t10 - o3, shift);
}

const row8 = new Float64Array(8);

/** The full 8x8 "islow" IDCT (for chroma that a scaled decode enlarges by IDCT instead of upsampling). */
function idct8(c: Float64Array, out: Uint8Array, at: number, stride: number): void {
  for (let col = 0; col < 8; col++) {
    if (c[8 + col] === 0 && c[16 + col] === 0 && c[24 + col] === 0 && c[32 + col] === 0 && c[40 + col] === 0 && c[48 + col] === 0 && c[56 + col] === 0) {
      const dc = c[col]! * (1 << PASS1_BITS);
      for (let r = 0; r < 8; r++) ws[r * 8 + col] = dc;
      continue;
    }
    eightPoint(c, col, 8, ws, col, 8, CONST_BITS - PASS1_BITS);
  }
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    const o = at + row * stride;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      const dc = limit(descale(ws[w]!, PASS1_BITS + 3));
      for (let k = 0; k < 8; k++) out[o + k] = dc;
      continue;
    }
    eightPoint(ws, w, 1, row8, 0, 1, CONST_BITS + PASS1_BITS + 3);
    for (let k = 0; k < 8; k++) out[o + k] = limit(row8[k]!);
  }
}

const IDCTS: Record<number, Idct> = { 1: idct1, 2: idct2, 4: idct4, 8: idct8 };

/** libjpeg's YCbCr -> RGB tables (16-bit fixed point). */
const SCALEBITS = 16;
const HALF = 1 << (SCALEBITS - 1);
const yfix = (c: number) => Math.floor(c * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (yfix(1.402) * x + HALF) >> SCALEBITS;
  CB_B[i] = (yfix(1.772) * x + HALF) >> SCALEBITS;
  CR_G[i] = -yfix(0.71414) * x;
  CB_G[i] = -yfix(0.34414) * x + HALF;
}
const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * RGB of the scan `data` (entropy-coded bytes, no restart markers) of a `width` x `height` image with `header`'s
 * tables, at 1/`denom` of its size (denom 2, 4 or 8; the sides must divide by it). Throws ScaledJpegUnsupported for
 * JPEG layouts this decoder does not handle, Error for corrupt data.
 */
export function decodeScaled(header: JpegHeader, data: Uint8Array, width: number, height: number, denom: 2 | 4 | 8): { width: number; height: number; data: Uint8Array } {
  const { components, scan } = header;
  if (header.sofMarker !== 0xc0 && header.sofMarker !== 0xc1) throw new ScaledJpegUnsupported(`JPEG frame type ff${header.sofMarker.toString(16)} (only baseline Huffman)`);
  if (header.precision !== 8) throw new ScaledJpegUnsupported(`${header.precision}-bit JPEG samples`);
  if (components.length !== 3 || scan.components.length !== 3) throw new ScaledJpegUnsupported('a JPEG whose three components are not in one interleaved scan');
  if (scan.ss !== 0 || scan.se !== 63 || scan.ah !== 0 || scan.al !== 0) throw new ScaledJpegUnsupported('a JPEG scan that is not sequential');
  const maxH = Math.max(...components.map((c) => c.h));
  const maxV = Math.max(...components.map((c) => c.v));
  // libjpeg's choice: the smallest IDCT for the scale, doubled per component while its sampling ratio allows.
  const minSize = 8 / denom;
  const sizes = components.map((c) => {
    let s = minSize;
    while (s < 8 && (maxH * minSize) % (c.h * s * 2) === 0 && (maxV * minSize) % (c.v * s * 2) === 0) s *= 2;
    return s;
  });
  if (components.some((c, i) => c.h * sizes[i]! !== maxH * minSize || c.v * sizes[i]! !== maxV * minSize)) {
    throw new ScaledJpegUnsupported(`chroma subsampling ${components.map((c) => `${c.h}x${c.v}`).join(',')} at 1/${denom} (it needs upsampling)`);
  }
  const mcusAcross = Math.ceil(width / (maxH * 8));
  const mcusDown = Math.ceil(height / (maxV * 8));
  const byId = new Map(components.map((c, i) => [c.id, i]));
  const plans: ScanComponentPlan[] = [];
  const planOf: ScanComponentPlan[] = [];
  for (const sc of scan.components) {
    const index = byId.get(sc.id);
    const dc = header.dcTables.get(sc.td);
    const ac = header.acTables.get(sc.ta);
    if (index === undefined || !dc || !ac) throw new Error('the JPEG scan names a component or Huffman table its header does not define');
    const c = components[index]!;
    const plan: ScanComponentPlan = { h: c.h, v: c.v, dc: huffmanLookup(dc), ac: huffmanLookup(ac), blocksAcross: mcusAcross * c.h, coefficients: new Int16Array(mcusAcross * c.h * mcusDown * c.v * 64) };
    plans.push(plan);
    planOf[index] = plan;
  }
  decodeScan(data, plans, mcusAcross, mcusDown);
  // Each component's samples at output resolution (its IDCT size makes them so).
  const planes = components.map((c, i) => {
    const plan = planOf[i]!;
    const q = header.quant.get(c.tq);
    if (!q) throw new Error(`the JPEG header defines no quantisation table ${c.tq}`);
    const natural = new Float64Array(64);
    for (let k = 0; k < 64; k++) natural[ZIGZAG[k]!] = q[k]!;
    const size = sizes[i]!;
    const idct = IDCTS[size]!;
    const blocksDown = mcusDown * c.v;
    const stride = plan.blocksAcross * size;
    const plane = new Uint8Array(stride * blocksDown * size);
    const coef = new Float64Array(64);
    for (let by = 0; by < blocksDown; by++) {
      for (let bx = 0; bx < plan.blocksAcross; bx++) {
        const base = (by * plan.blocksAcross + bx) * 64;
        for (let k = 0; k < 64; k++) coef[k] = plan.coefficients[base + k]! * natural[k]!;
        idct(coef, plane, by * size * stride + bx * size, stride);
      }
    }
    return { plane, stride };
  });
  const outWidth = Math.ceil(width / denom);
  const outHeight = Math.ceil(height / denom);
  const rgb = new Uint8Array(outWidth * outHeight * 3);
  const [Y, Cb, Cr] = planes as [(typeof planes)[0], (typeof planes)[0], (typeof planes)[0]];
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const luma = Y.plane[y * Y.stride + x]!;
      const cb = Cb.plane[y * Cb.stride + x]!;
      const cr = Cr.plane[y * Cr.stride + x]!;
      const o = (y * outWidth + x) * 3;
      rgb[o] = clamp(luma + CR_R[cr]!);
      rgb[o + 1] = clamp(luma + ((CB_G[cb]! + CR_G[cr]!) >> SCALEBITS));
      rgb[o + 2] = clamp(luma + CB_B[cb]!);
    }
  }
  return { width: outWidth, height: outHeight, data: rgb };
}
