/**
 * A tiny analysis written by hand for the viewer-tools tests (server and chromium): a 1600 x 1200
 * slide with MPP 0.5 µm, and one saliency overlay (downsample 8, 200 x 150 map pixels) whose values
 * are known here: a low background in [-1, 1], two blocks of high saliency (regions at threshold 2),
 * and a band without tissue (NaN). A model-output overlay and a second saliency overlay without a
 * regions file complete it. Everything a test compares against is computed from `values` here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { FloatStore } from '../../maps/index.js';
import { syntheticManifest } from './manifest.js';

export const SLIDE = { width: 1600, height: 1200, mpp: 0.5 } as const;
export const MAP = { width: 200, height: 150, downsample: 8, chunk: 64 } as const;
/** The two high blocks in map pixels [x0, y0, x1, y1) and their base values. */
export const BLOCKS = [
  { box: [40, 30, 60, 46], value: 5 },
  { box: [120, 90, 132, 114], value: 3 },
] as const;
export const KEY = 'backward-hook/grad/2_1';
export const OTHER_KEY = 'original/grad/2_1';
export const ANALYSIS_ID = 'tools';

export function mapValue(x: number, y: number): number {
  if (y >= 135) return NaN; // the bottom band: no tissue
  for (const b of BLOCKS) if (x >= b.box[0] && x < b.box[2] && y >= b.box[1] && y < b.box[3]) return b.value + 0.01 * ((x + y) % 7);
  return Math.sin(x / 5) * Math.cos(y / 3);
}

export interface ToolsFixture {
  slidePath: string;
  analysisDir: string;
  /** level-0 map values as float32 (what the store holds) */
  values: Float32Array;
}

export async function writeToolsFixture(slidesDir: string, resultsDir: string): Promise<ToolsFixture> {
  const analysisDir = join(resultsDir, ANALYSIS_ID);
  mkdirSync(slidesDir, { recursive: true });
  mkdirSync(analysisDir, { recursive: true });
  const slidePath = join(slidesDir, 'tools.tif');
  const rgb = new Uint8Array(SLIDE.width * SLIDE.height * 3);
  for (let y = 0; y < SLIDE.height; y++)
    for (let x = 0; x < SLIDE.width; x++) {
      const k = (y * SLIDE.width + x) * 3;
      const tissue = y < 1080;
      rgb[k] = tissue ? 225 + 20 * Math.sin(x / 13) : 245;
      rgb[k + 1] = tissue ? 140 + 30 * Math.cos(y / 11) : 245;
      rgb[k + 2] = tissue ? 190 : 245;
    }
  // 2000 px/mm stored per cm by libvips: MPP 0.5 µm
  await sharp(rgb, { raw: { width: SLIDE.width, height: SLIDE.height, channels: 3 } })
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'deflate', xres: 1000 / SLIDE.mpp, yres: 1000 / SLIDE.mpp, resolutionUnit: 'cm' })
    .toFile(slidePath);

  const values = new Float32Array(MAP.width * MAP.height);
  for (let y = 0; y < MAP.height; y++) for (let x = 0; x < MAP.width; x++) values[y * MAP.width + x] = mapValue(x, y);
  const entry = (variant: string, method: string, layer: string, w: number, h: number, ds: number, range: [number, number]) => {
    const rel = method === 'output' ? `outputs/${layer}` : `overlays/${variant}/${method}/${layer}`;
    return { variant, method, layer, downsample: ds, width: w, height: h, range, store: `${rel}.zarr`, dzi: `${rel}.dzi` };
  };
  const overlays = [entry('backward-hook', 'grad', '2_1', MAP.width, MAP.height, MAP.downsample, [-2.5, 2.5]), entry('original', 'grad', '2_1', MAP.width, MAP.height, MAP.downsample, [-2.5, 2.5])];
  const outputs = [entry('model', 'output', 'probability', 25, 19, 64, [0, 1])];
  for (const o of overlays) {
    const store = await FloatStore.create(join(analysisDir, o.store), { width: MAP.width, height: MAP.height, chunk: MAP.chunk });
    await store.writeRegion(0, 0, MAP.width, MAP.height, o.variant === 'original' ? values.map((v) => -v) : values);
    await store.finalize();
  }
  const out = await FloatStore.create(join(analysisDir, outputs[0]!.store), { width: 25, height: 19, chunk: 64 });
  await out.writeRegion(0, 0, 25, 19, new Float32Array(25 * 19).fill(0.5));
  await out.finalize();
  writeFileSync(
    join(analysisDir, 'manifest.json'),
    JSON.stringify(
      syntheticManifest({
        slide: { path: slidePath, name: 'tools.tif', width: SLIDE.width, height: SLIDE.height, mpp: { x: SLIDE.mpp, y: SLIDE.mpp } },
        overlays,
        outputs,
      }),
    ),
  );
  return { slidePath, analysisDir, values };
}

/** Ray casting at a point (crossings right of it), independent of results/region-stats.ts. */
export function insidePolygon(px: number, py: number, rings: number[][][]): boolean {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i]!, [xj, yj] = ring[j]!;
      if (yi! > py !== yj! > py && px < ((xj! - xi!) * (py - yi!)) / (yj! - yi!) + xi!) inside = !inside;
    }
  }
  return inside;
}

/** Statistics of any (width x height) map at `downsample` inside `rings` (level-0 px), summed over every map pixel by `insidePolygon` at its centre. */
export function statsOverMap(values: Float32Array, width: number, height: number, downsample: number, rings: number[][][], threshold: number, sign = 1) {
  let pixels = 0, noTissue = 0, above = 0, sum = 0, min = Infinity, max = -Infinity;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (!insidePolygon((x + 0.5) * downsample, (y + 0.5) * downsample, rings)) continue;
      const v = sign * values[y * width + x]!;
      if (Number.isNaN(v)) {
        noTissue++;
        continue;
      }
      pixels++;
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      if (v >= threshold) above++;
    }
  return { pixels, noTissue, above, sum, min, max };
}

/** The statistics of the fixture's map inside `rings` (level-0 px), summed over every map pixel. */
export function expectedStats(values: Float32Array, rings: number[][][], threshold: number, sign = 1) {
  const { pixels, noTissue, above, sum, min, max } = statsOverMap(values, MAP.width, MAP.height, MAP.downsample, rings, threshold, sign);
  const areaPx = pixels * MAP.downsample ** 2;
  return { pixels, noTissue, above, mean: pixels ? sum / pixels : null, min: pixels ? min : null, max: pixels ? max : null, aboveShare: pixels ? above / pixels : null, areaPx, areaUm2: areaPx * SLIDE.mpp * SLIDE.mpp };
}
