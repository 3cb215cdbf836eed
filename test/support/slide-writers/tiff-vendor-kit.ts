/**
 * What the Philips, Leica and Ventana test writers share: H&E-like pixels with detail, JPEG tiles of them, and
 * OpenSlide 3.4.1 (the referee) as the tests ask it: `openslide-show-properties`, `openslide-write-png`, and the
 * associated images through libopenslide itself (python3 + ctypes: no command-line tool reads them).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

import type { Rgb } from './tiff-pieces.js';

export type { Rgb };

/** Deterministic stained-tissue-like RGB: pink stroma with fibres, purple nuclei, grain; never pure white. */
export function tissue(width: number, height: number, seed = 1): Rgb {
  const data = new Uint8Array(width * height * 3);
  let s = (seed * 2654435761) >>> 0;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const nuclei = Array.from({ length: Math.ceil((width * height) / 900) }, () => ({ x: rand() * width, y: rand() * height, r: 3 + rand() * 5 }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const fibre = Math.sin(x / 7 + Math.sin(y / 11) * 3 + seed) * 0.5 + 0.5;
      const i = (y * width + x) * 3;
      data[i] = 215 + fibre * 25 - rand() * 20;
      data[i + 1] = 150 + fibre * 40 - rand() * 25;
      data[i + 2] = 190 + fibre * 20 - rand() * 20;
    }
  }
  for (const n of nuclei) {
    for (let y = Math.max(0, Math.floor(n.y - n.r)); y < Math.min(height, Math.ceil(n.y + n.r)); y++) {
      for (let x = Math.max(0, Math.floor(n.x - n.r)); x < Math.min(width, Math.ceil(n.x + n.r)); x++) {
        if ((x - n.x) ** 2 + (y - n.y) ** 2 > n.r ** 2) continue;
        const i = (y * width + x) * 3;
        data[i] = 90 + rand() * 30;
        data[i + 1] = 50 + rand() * 30;
        data[i + 2] = 140 + rand() * 30;
      }
    }
  }
  return { width, height, data };
}

/** The rectangle (x, y, w, h) of `img`; pixels outside it are `fill`. */
export function crop(img: Rgb, x: number, y: number, w: number, h: number, fill = 255): Rgb {
  const data = new Uint8Array(w * h * 3).fill(fill);
  for (let r = 0; r < h; r++) {
    const sy = y + r;
    if (sy < 0 || sy >= img.height) continue;
    const x0 = Math.max(0, x);
    const x1 = Math.min(img.width, x + w);
    if (x0 >= x1) continue;
    data.set(img.data.subarray((sy * img.width + x0) * 3, (sy * img.width + x1) * 3), (r * w + (x0 - x)) * 3);
  }
  return { width: w, height: h, data };
}

/** 2x2 mean, odd edges taking what is there: a reduced level as a scanner stores it (one definition for the writers). */
export { halve } from './tiff-pieces.js';

/** A baseline JFIF JPEG (YCbCr 4:2:0, as scanners write), the kind libjpeg decodes the same in OpenSlide and sharp. */
export async function jpeg(img: Rgb, quality = 90): Promise<Uint8Array> {
  return new Uint8Array(await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer());
}

/** JPEG tiles (row-major) of `img` cut into `tile` px squares, padded white past its edge. */
export async function jpegTiles(img: Rgb, tile: number, quality = 90): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let y = 0; y < img.height; y += tile) for (let x = 0; x < img.width; x += tile) out.push(await jpeg(crop(img, x, y, tile, tile), quality));
  return out;
}

/** Whether OpenSlide's command-line tools are installed (Debian: openslide-tools). */
export const haveOpenSlide = (() => {
  try {
    execFileSync('openslide-show-properties', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const OPENSLIDE_MISSING = 'openslide-show-properties / openslide-write-png not installed (apt-get install openslide-tools): the OpenSlide cross-checks are SKIPPED';

/** OpenSlide's properties of a file (single-line values; multi-line ones keep their first line), or its error. */
export function openslideProperties(path: string): { properties: Record<string, string>; ok: boolean; stderr: string } {
  const r = spawnSync('openslide-show-properties', [path], { encoding: 'utf8' });
  const properties: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^([^:']+): '(.*)'$/.exec(line) ?? /^([^:']+): '(.*)$/.exec(line);
    if (m) properties[m[1]!] = m[2]!;
  }
  return { properties, ok: r.status === 0, stderr: r.stderr };
}

/** A region as OpenSlide renders it: RGB with its transparent pixels (nothing stored) white, and the alpha. */
export async function openslideRegion(path: string, x: number, y: number, level: number, width: number, height: number): Promise<{ rgb: Uint8Array; alpha: Uint8Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'sds-osr-'));
  try {
    const png = join(dir, 'r.png');
    execFileSync('openslide-write-png', [path, String(x), String(y), String(level), String(width), String(height), png]);
    const { data, info } = await sharp(readFileSync(png)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height) throw new Error(`openslide-write-png gave ${info.width}x${info.height}`);
    const rgb = new Uint8Array(width * height * 3);
    const alpha = new Uint8Array(width * height);
    for (let i = 0; i < width * height; i++) {
      const a = data[i * 4 + 3]!;
      alpha[i] = a;
      // Only fully opaque or fully transparent pixels occur where tiles sit on whole pixels.
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = a === 0 ? 255 : data[i * 4 + c]!;
    }
    return { rgb, alpha };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ASSOCIATED_SCRIPT = `
import ctypes, json, sys
lib = ctypes.CDLL('libopenslide.so.0')
lib.openslide_open.restype = ctypes.c_void_p
lib.openslide_open.argtypes = [ctypes.c_char_p]
lib.openslide_get_error.restype = ctypes.c_char_p
lib.openslide_get_error.argtypes = [ctypes.c_void_p]
lib.openslide_get_associated_image_names.restype = ctypes.POINTER(ctypes.c_char_p)
lib.openslide_get_associated_image_names.argtypes = [ctypes.c_void_p]
lib.openslide_get_associated_image_dimensions.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64)]
lib.openslide_read_associated_image.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32)]
osr = lib.openslide_open(sys.argv[1].encode())
if not osr or lib.openslide_get_error(osr):
    sys.exit('cannot open')
names = lib.openslide_get_associated_image_names(osr)
out = []
i = 0
while names[i]:
    name = names[i]
    w, h = ctypes.c_int64(), ctypes.c_int64()
    lib.openslide_get_associated_image_dimensions(osr, name, ctypes.byref(w), ctypes.byref(h))
    buf = (ctypes.c_uint32 * (w.value * h.value))()
    lib.openslide_read_associated_image(osr, name, buf)
    rgb = bytearray(w.value * h.value * 3)
    for k, p in enumerate(buf):
        rgb[3 * k] = (p >> 16) & 255
        rgb[3 * k + 1] = (p >> 8) & 255
        rgb[3 * k + 2] = p & 255
    with open(sys.argv[2] + '/' + name.decode() + '.rgb', 'wb') as f:
        f.write(rgb)
    out.append({'name': name.decode(), 'width': w.value, 'height': h.value})
    i += 1
print(json.dumps(out))
`;

/** Whether libopenslide can be driven from python3 (ctypes) for associated images. */
export const haveLibOpenSlide = (() => {
  const r = spawnSync('python3', ['-c', "import ctypes; ctypes.CDLL('libopenslide.so.0')"], { stdio: 'ignore' });
  return r.status === 0;
})();

/** OpenSlide's associated images of a file, by name, as RGB (they are opaque). */
export function openslideAssociated(path: string): Map<string, Rgb> {
  const dir = mkdtempSync(join(tmpdir(), 'sds-osr-'));
  try {
    const list = JSON.parse(execFileSync('python3', ['-c', ASSOCIATED_SCRIPT, path, dir], { encoding: 'utf8' })) as { name: string; width: number; height: number }[];
    return new Map(list.map((a) => [a.name, { width: a.width, height: a.height, data: new Uint8Array(readFileSync(join(dir, `${a.name}.rgb`))) }]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mean absolute difference over all samples. */
export function mad(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`mad: ${a.length} vs ${b.length} samples`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}
