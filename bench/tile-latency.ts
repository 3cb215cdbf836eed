/**
 * Tile latency of `sds serve` on localhost: p50 / p95 of slide tiles (JPEG from the TIFF pyramid)
 * and live overlay tiles (PNG from the float store), cold (a fresh server: nothing open, nothing
 * cached) and warm (the same tiles again), with `concurrency` requests in flight at once.
 * Server and client share this process; the OS file cache is warm in both phases.
 */
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createServer } from '../server/index.js';
import { dziLevels, FloatStore } from '../maps/index.js';
import { openSlide } from '../slide/index.js';
import { writeBenchSlide } from './whole-slide.js';

export interface TileLatencyOptions {
  /** A slide to serve (its folder is scanned); default: a generated `side` x `side` JPEG pyramid. */
  slide?: string;
  side?: number;
  /** Requests in flight at once (default 32). */
  concurrency?: number;
  /** Distinct tiles per phase (default 512; fewer when the pyramid has fewer). */
  requests?: number;
  onStage?: (what: string) => void;
}

export interface TileLatencyRow {
  tiles: 'slide' | 'overlay';
  cache: 'cold' | 'warm';
  requests: number;
  concurrency: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  tilesPerSecond: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Fetches every URL, `concurrency` at a time; per-request latency in ms (body read included). */
async function fetchAll(base: string, urls: string[], concurrency: number): Promise<{ ms: number[]; seconds: number }> {
  const ms: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < urls.length) {
      const url = urls[next++]!;
      const t = performance.now();
      const r = await fetch(base + url);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`);
      ms.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, urls.length) }, lane));
  return { ms, seconds: (performance.now() - t0) / 1000 };
}

/** Tiles of the top levels (the ones a viewer zoomed in asks for), highest first, up to `n`. */
function tileUrls(prefix: string, width: number, height: number, tileSize: number, ext: string, n: number, query = ''): string[] {
  const levels = dziLevels(width, height, tileSize);
  const out: string[] = [];
  for (let L = levels.length - 1; L >= 0 && out.length < n; L--) {
    const { cols, rows } = levels[L]!;
    for (let r = 0; r < rows && out.length < n; r++) for (let c = 0; c < cols && out.length < n; c++) out.push(`${prefix}_files/${L}/${c}_${r}.${ext}${query}`);
  }
  return out;
}

/** A float overlay like a 1_x layer's (one value per 4 px): smooth values on tissue, NaN on glass. */
async function writeBenchAnalysis(results: string, slidePath: string, width: number, height: number): Promise<{ w: number; h: number }> {
  const dir = join(results, basename(slidePath).replace(/\.[^.]+$/, ''));
  const ds = 4;
  const w = Math.ceil(width / ds), h = Math.ceil(height / ds);
  const store = await FloatStore.create(join(dir, 'overlays/original/grad/1_1.zarr'), { width: w, height: h });
  const rows = 256;
  for (let y0 = 0; y0 < h; y0 += rows) {
    const n = Math.min(rows, h - y0);
    const v = new Float32Array(w * n);
    for (let j = 0; j < n; j++)
      for (let x = 0; x < w; x++) v[j * w + x] = (x + y0 + j) % 100 < 60 ? Math.sin(x / 17) * Math.cos((y0 + j) / 23) : NaN;
    await store.writeRegion(0, y0, w, n, v);
  }
  await store.finalize();
  const entry = { variant: 'original', method: 'grad', layer: '1_1', downsample: ds, width: w, height: h, range: [-1, 1], store: 'overlays/original/grad/1_1.zarr', dzi: 'overlays/original/grad/1_1.dzi' };
  const manifest = {
    version: 1,
    slide: { path: slidePath, name: basename(slidePath), width, height },
    model: { weights: 'random:resnet18', arch: 'resnet18' },
    patches: { size: 256, level: 0, overlap: 0, count: 0 },
    tissueMask: 'tissue-mask.png',
    overlays: [entry],
    seconds: 0,
    created: new Date().toISOString(),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { w, h };
}

export async function benchTileLatency(opts: TileLatencyOptions = {}): Promise<TileLatencyRow[]> {
  const concurrency = opts.concurrency ?? 32;
  const n = opts.requests ?? 512;
  const tmp = await mkdtemp(join(tmpdir(), 'sds-bench-tiles-'));
  try {
    let slidePath: string;
    if (opts.slide) {
      slidePath = await realpath(opts.slide);
    } else {
      const side = opts.side ?? 8192;
      opts.onStage?.(`generating a ${side} x ${side} slide`);
      await mkdir(join(tmp, 'slides'));
      slidePath = join(tmp, 'slides', 'bench.tif');
      await writeBenchSlide(slidePath, side, side, 0.6);
      slidePath = await realpath(slidePath);
    }
    const slide = await openSlide(slidePath, { probe: false });
    const { width, height } = slide.levels[0]!;
    await slide.close();
    opts.onStage?.('writing a float overlay');
    const results = join(tmp, 'results');
    const ov = await writeBenchAnalysis(results, slidePath, width, height);

    const rows: TileLatencyRow[] = [];
    const phase = async (tiles: 'slide' | 'overlay', urlsFor: (slideId: string, aid: string) => string[]) => {
      // cold: a fresh server, so no slide is open and no tile is cached
      const server = createServer({ slides: [dirname(slidePath)], results, port: 0, rescanMs: 60_000 }, () => undefined);
      const { url } = await server.listen();
      try {
        const list = (await (await fetch(`${url}api/slides`)).json()) as { id: string; name: string; analyses: { id: string }[] }[];
        const s = list.find((x) => x.name === basename(slidePath));
        if (!s?.analyses[0]) throw new Error('the bench slide or its analysis is not listed');
        const urls = urlsFor(s.id, s.analyses[0].id);
        for (const cache of ['cold', 'warm'] as const) {
          opts.onStage?.(`${tiles} tiles, ${cache}: ${urls.length} requests, ${concurrency} at once`);
          const { ms, seconds } = await fetchAll(url, urls, concurrency);
          const sorted = ms.sort((a, b) => a - b);
          rows.push({ tiles, cache, requests: urls.length, concurrency, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), maxMs: sorted.at(-1)!, tilesPerSecond: urls.length / seconds });
        }
      } finally {
        await server.close();
      }
    };
    await phase('slide', (id) => tileUrls(`slides/${id}`, width, height, 254, 'jpeg', n));
    // the viewer asks again for every colormap it shows: each is a distinct (cold) tile
    await phase('overlay', (_id, aid) => {
      const urls: string[] = [];
      for (const cmap of ['diverging', 'viridis', 'magma', 'gray']) urls.push(...tileUrls(`api/analyses/${aid}/overlays/original/grad/1_1`, ov.w, ov.h, 256, 'png', n, `?colormap=${cmap}`));
      return urls.slice(0, n);
    });
    return rows;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
