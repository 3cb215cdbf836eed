/**
 * Tile latency of `sds serve` on localhost: p50 / p95 of slide tiles (JPEG from the TIFF pyramid)
 * and live overlay tiles (PNG from the float store), cold (a fresh server: nothing open, nothing
 * cached) and warm (the same tiles again), at several loads. A load is `inFlight` requests kept in
 * flight at once (each one that finishes is replaced by the next, like a viewer that keeps asking
 * while the user pans) over `requests` distinct tiles; when `requests` equals `inFlight` it is one
 * burst, all sent at once. Server and client share this process; the OS file cache is warm in both
 * phases. RSS is read before the first load and after each phase's server has closed.
 */
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createServer } from '../server/index.js';
import { dziLevels, FloatStore } from '../maps/index.js';
import { openSlide } from '../slide/index.js';
import { writeBenchSlide } from './whole-slide.js';

export interface TileLoad {
  /** Requests in flight at once. */
  inFlight: number;
  /** Distinct tiles asked for (fewer when the pyramid has fewer). */
  requests: number;
}

/**
 * 32 and 256 in flight over 512 / 1024 tiles; 1000 in flight as one burst (all sent at once) and as
 * a stream of 4000 (each finished request replaced by the next).
 */
export const DEFAULT_TILE_LOADS: TileLoad[] = [
  { inFlight: 32, requests: 512 },
  { inFlight: 256, requests: 1024 },
  { inFlight: 1000, requests: 1000 },
  { inFlight: 1000, requests: 4000 },
];

export interface TileLatencyOptions {
  /** A slide to serve (its folder is scanned); default: a generated `side` x `side` JPEG pyramid. */
  slide?: string;
  /** Side of the generated slide (default 16384: 5,600 slide tiles, enough for 4000 distinct ones). */
  side?: number;
  loads?: TileLoad[];
  /** Tiles rendered at once by the server (its `renderConcurrency`; default the server's). */
  renderConcurrency?: number;
  /** Which tiles (default both). */
  kinds?: ('slide' | 'overlay')[];
  onStage?: (what: string) => void;
}

export interface TileLatencyRow {
  tiles: 'slide' | 'overlay';
  cache: 'cold' | 'warm';
  inFlight: number;
  requests: number;
  /** Requests that did not end in 200 with a body (HTTP errors and network errors). */
  errors: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** First request sent to last response read. */
  wallSeconds: number;
  tilesPerSecond: number;
  /** CPU time of this process (server, client and libuv threads) per tile, ms: what the work costs, whatever else the machine runs. */
  cpuMsPerTile: number;
  /** Tile-cache hits among these requests (warm: should be all). */
  hits: number;
  /** RSS after the phase's server has closed (and a GC), MiB. */
  rssAfterMb: number;
}

export interface TileLatencyResult {
  width: number;
  height: number;
  /** RSS before the first server started (after a GC), MiB. */
  baselineRssMb: number;
  rows: TileLatencyRow[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A full GC when this process can ask for one (the flag is set at run time). */
const collect: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return () => undefined;
  }
})();

async function rssMb(): Promise<number> {
  collect();
  await new Promise((r) => setTimeout(r, 200));
  collect();
  return process.memoryUsage().rss / 2 ** 20;
}

/** Fetches every URL, `inFlight` at a time; per-request latency in ms (body read included). */
async function fetchAll(base: string, urls: string[], inFlight: number): Promise<{ ms: number[]; seconds: number; errors: number; firstError?: string }> {
  const ms: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const lane = async () => {
    while (next < urls.length) {
      const url = urls[next++]!;
      const t = performance.now();
      try {
        const r = await fetch(base + url);
        const body = await r.arrayBuffer();
        if (r.status !== 200 || body.byteLength === 0) throw new Error(`HTTP ${r.status}`);
      } catch (err) {
        errors++;
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        firstError ??= `${url}: ${(err as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`;
      }
      ms.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, urls.length) }, lane));
  return { ms, seconds: (performance.now() - t0) / 1000, errors, firstError };
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

export async function benchTileLatency(opts: TileLatencyOptions = {}): Promise<TileLatencyResult> {
  const loads = opts.loads ?? DEFAULT_TILE_LOADS;
  const most = Math.max(...loads.map((l) => l.requests));
  const tmp = await mkdtemp(join(tmpdir(), 'sds-bench-tiles-'));
  try {
    let slidePath: string;
    if (opts.slide) {
      slidePath = await realpath(opts.slide);
    } else {
      const side = opts.side ?? 16384;
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
    const slideUrls = (id: string) => tileUrls(`slides/${id}`, width, height, 254, 'jpeg', most);
    // the viewer asks again for every colour map and range it shows: each is a distinct (cold) tile
    const overlayUrls = (aid: string) => {
      const urls: string[] = [];
      for (const range of ['', '&min=-0.5&max=0.5', '&min=0&max=1']) {
        for (const cmap of ['diverging', 'viridis', 'magma', 'gray']) {
          urls.push(...tileUrls(`api/analyses/${aid}/overlays/original/grad/1_1`, ov.w, ov.h, 256, 'png', most, `?colormap=${cmap}${range}`));
        }
      }
      return urls.slice(0, most);
    };

    const baselineRssMb = await rssMb();
    const rows: TileLatencyRow[] = [];
    for (const load of loads) {
      for (const tiles of opts.kinds ?? (['slide', 'overlay'] as const)) {
        // cold: a fresh server, so no slide is open and no tile is cached
        const server = createServer({ slides: [dirname(slidePath)], results, port: 0, rescanMs: 60_000, ...(opts.renderConcurrency ? { renderConcurrency: opts.renderConcurrency } : {}) }, () => undefined);
        const { url } = await server.listen();
        const phaseRows: TileLatencyRow[] = [];
        try {
          const list = (await (await fetch(`${url}api/slides`)).json()) as { id: string; name: string; analyses: { id: string }[] }[];
          const s = list.find((x) => x.name === basename(slidePath));
          if (!s?.analyses[0]) throw new Error('the bench slide or its analysis is not listed');
          const urls = (tiles === 'slide' ? slideUrls(s.id) : overlayUrls(s.analyses[0].id)).slice(0, load.requests);
          for (const cache of ['cold', 'warm'] as const) {
            opts.onStage?.(`${tiles} tiles, ${cache}: ${urls.length} requests, ${load.inFlight} in flight`);
            const hits0 = server.context.tiles.hits;
            const cpu0 = process.cpuUsage();
            const { ms, seconds, errors, firstError } = await fetchAll(url, urls, load.inFlight);
            const cpu = process.cpuUsage(cpu0);
            if (firstError) opts.onStage?.(`${errors} error(s), the first: ${firstError}`);
            const sorted = ms.sort((a, b) => a - b);
            phaseRows.push({ tiles, cache, inFlight: load.inFlight, requests: urls.length, errors, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), maxMs: sorted.at(-1)!, wallSeconds: seconds, tilesPerSecond: urls.length / seconds, cpuMsPerTile: (cpu.user + cpu.system) / 1000 / urls.length, hits: server.context.tiles.hits - hits0, rssAfterMb: 0 });
          }
        } finally {
          await server.close();
        }
        const rss = await rssMb();
        for (const r of phaseRows) rows.push({ ...r, rssAfterMb: rss });
      }
    }
    return { width, height, baselineRssMb, rows };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The rows as a markdown table (what the README's performance section takes). */
export function tileLatencyMarkdown(r: TileLatencyResult): string {
  const head = ['tiles', 'cache', 'in flight', 'requests', 'errors', 'p50 ms', 'p95 ms', 'max ms', 'wall s', 'p50 / wall', 'tiles/s', 'CPU ms / tile', 'cache hits', 'RSS after MiB'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const x of r.rows) {
    lines.push(`| ${[x.tiles, x.cache, String(x.inFlight), String(x.requests), String(x.errors), x.p50Ms.toFixed(0), x.p95Ms.toFixed(0), x.maxMs.toFixed(0), x.wallSeconds.toFixed(2), `${((100 * x.p50Ms) / 1000 / x.wallSeconds).toFixed(0)}%`, x.tilesPerSecond.toFixed(0), x.cpuMsPerTile.toFixed(1), String(x.hits), x.rssAfterMb.toFixed(0)].join(' | ')} |`);
  }
  return `${lines.join('\n')}\n\nRSS before the first server: ${r.baselineRssMb.toFixed(0)} MiB (after each phase: its server closed, then a GC).\n`;
}
