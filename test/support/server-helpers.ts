/** Fixtures for the server tests: generated slides, raw HTTP requests (no URL normalization), FIFOs that show reads. */
import { execFileSync } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import sharp from 'sharp';

/** Deterministic RGB test image with structure at every scale (so a misplaced tile shows). */
export function testPattern(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      rgb[o] = (x * 255) / width;
      rgb[o + 1] = (y * 255) / height;
      rgb[o + 2] = 128 + 100 * Math.sin(x / 9) * Math.cos(y / 13);
    }
  return rgb;
}

/** H&E-like: white glass with a pink, nucleus-speckled blob in the middle (tissue detection finds it). */
export function tissuePattern(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3).fill(255);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const dx = (x - width / 2) / (width * 0.35);
      const dy = (y - height / 2) / (height * 0.35);
      if (dx * dx + dy * dy > 1) continue;
      const o = (y * width + x) * 3;
      const nucleus = Math.sin(x / 3.1) * Math.sin(y / 2.7) > 0.8;
      rgb.set(nucleus ? [90, 40, 140] : [235, 150 + 20 * Math.sin(x / 7), 195], o);
    }
  return rgb;
}

/** A tiled pyramidal TIFF (lossless, so its pixels are known exactly). */
export async function writeTiff(path: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  await sharp(rgb, { raw: { width, height, channels: 3 } }).tiff({ tile: true, tileWidth: 128, tileHeight: 128, pyramid: true, compression: 'deflate' }).toFile(path);
}

export interface RawResponse {
  status: number;
  type: string;
  body: Buffer;
}

/** GET with the path sent byte for byte (fetch would resolve '..' and re-encode). */
export function rawGet(port: number, path: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A named pipe: whoever opens it for reading is visible to `hasReader`. */
export function makeFifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

/** True when some process has the FIFO open for reading (a non-blocking open for writing succeeds only then). */
export function hasReader(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw err;
  }
}

/** Mean and max absolute difference of two byte arrays of equal length. */
export function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let sum = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.length, max };
}

/** Crop of an interleaved RGB image. */
export function crop(rgb: Uint8Array, width: number, x: number, y: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let j = 0; j < h; j++) out.set(rgb.subarray(((y + j) * width + x) * 3, ((y + j) * width + x + w) * 3), j * w * 3);
  return out;
}

/** Decoded RGB(A) of an encoded image. */
export async function decode(buf: Buffer, channels: 3 | 4): Promise<{ data: Uint8Array; width: number; height: number }> {
  const img = sharp(buf);
  const { data, info } = await (channels === 3 ? img.removeAlpha() : img.ensureAlpha()).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}
