/**
 * Whole-slide throughput and memory: a generated pyramidal slide (tissue bands on glass) analysed by
 * `sds analyze` in a child process, which reports patches/s and its peak RSS. Run at N x N and at
 * N x 2N: with streaming stitching the peak RSS must stay the same when the area doubles.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';

const SDS = fileURLToPath(new URL('../bin/sds.js', import.meta.url));

export interface WholeSlideRow {
  width: number;
  height: number;
  patches: number;
  seconds: number;
  patchesPerSecond: number;
  maxRssMb: number;
}

/**
 * A width x height tiled JPEG pyramid: wide diagonal tissue bands (~`tissue` of the area) with a cell-like
 * texture, drawn at 1/8 size and enlarged, so making a 20k x 40k slide takes seconds, not hours.
 */
export async function writeBenchSlide(path: string, width: number, height: number, tissue = 0.08): Promise<void> {
  const f = 8;
  const w = Math.ceil(width / f), h = Math.ceil(height / f);
  const rgb = new Uint8Array(w * h * 3).fill(244);
  // bands wide enough (1280 px) to survive tissue detection at the low level of a 40k px slide
  const period = 2000;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      if ((x + y) % period >= period * tissue) continue;
      const k = (y * w + x) * 3;
      const cell = (x * 7 + y * 13) % 11 < 3;
      rgb[k] = cell ? 110 : 228;
      rgb[k + 1] = cell ? 70 : 140;
      rgb[k + 2] = cell ? 165 : 190;
    }
  await sharp(rgb, { raw: { width: w, height: h, channels: 3 }, limitInputPixels: false })
    .resize(width, height, { kernel: 'nearest' })
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', quality: 85, xres: 2000, yres: 2000, resolutionUnit: 'cm' })
    .toFile(path);
}

/** Analyses N x N and N x 2N slides (random ResNet18, grad at 1_1 and 2_1, original + backward-hook, overlap 0 as measured before the default changed). */
export async function benchWholeSlide(side: number, workers: number, onStage?: (what: string) => void): Promise<WholeSlideRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sds-bench-slide-'));
  const rows: WholeSlideRow[] = [];
  try {
    for (const [w, h] of [
      [side, side],
      [side, 2 * side],
    ] as const) {
      const slide = join(dir, `bench-${w}x${h}.tif`);
      onStage?.(`generating a ${w} x ${h} slide`);
      await writeBenchSlide(slide, w, h);
      onStage?.(`analysing the ${w} x ${h} slide`);
      const stats = join(dir, `stats-${w}x${h}.json`);
      await promisify(execFile)(process.execPath, [SDS, 'analyze', slide, '--weights', 'random:resnet18', '--out', join(dir, 'out'), '--patch', '256', '--overlap', '0', '--layers', '1_1,2_1', '--variants', 'original,backward-hook', '--workers', String(workers), '--stats-json', stats], { maxBuffer: 64 << 20 });
      const s = JSON.parse(await readFile(stats, 'utf8')) as { patches: number; seconds: number; patchesPerSecond: number; maxRssMb: number };
      rows.push({ width: w, height: h, patches: s.patches, seconds: s.seconds, patchesPerSecond: s.patchesPerSecond, maxRssMb: s.maxRssMb });
      await rm(slide, { force: true });
      await rm(join(dir, 'out'), { recursive: true, force: true });
    }
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
