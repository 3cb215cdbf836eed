/**
 * `sds bench --regions`: region reads per format, sds beside OpenSlide (Debian's python3-openslide, same
 * regions, same machine, each from a freshly opened slide so both start with a cold tile cache).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { listSlides, openSlide } from '../slide/index.js';

const run = promisify(execFile);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'openslide_regions.py');

export interface RegionBenchRow {
  slide: string;
  vendor: string;
  compression: string;
  regions: number;
  side: number;
  sdsOpenMs: number;
  sdsMsPerRegion: number;
  openslideOpenMs?: number;
  openslideMsPerRegion?: number;
  /** Why OpenSlide has no figure (it cannot open the format). */
  openslideError?: string;
}

/** Slides of `folders` (every format `listSlides` finds). */
export async function regionBenchSlides(folders: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of folders) if (existsSync(f)) out.push(...(await listSlides(f)));
  return out;
}

/** Deterministic, spread-out region corners over level 0 (a fixed-step lattice, clamped inside). */
function regionCorners(width: number, height: number, side: number, count: number): [number, number][] {
  const out: [number, number][] = [];
  const maxX = Math.max(0, width - side);
  const maxY = Math.max(0, height - side);
  for (let i = 0; i < count; i++) {
    // Golden-ratio lattice: even coverage, no two regions alike, the same on every run.
    out.push([Math.floor(((i * 0.618034) % 1) * (maxX + 1)), Math.floor(((i + 0.5) / count) * (maxY + 1))]);
  }
  return out;
}

export async function benchRegions(slides: string[], options: { count?: number; side?: number; onSlide?: (path: string) => void } = {}): Promise<RegionBenchRow[]> {
  const count = options.count ?? 40;
  const side = options.side ?? 512;
  const rows: RegionBenchRow[] = [];
  for (const path of slides) {
    options.onSlide?.(path);
    let t0 = performance.now();
    let slide;
    try {
      slide = await openSlide(path);
    } catch {
      continue; // a broken file is not a benchmark
    }
    const sdsOpenMs = performance.now() - t0;
    const base = slide.levels[0]!;
    const corners = regionCorners(base.width, base.height, side, count);
    const w = Math.min(side, base.width);
    const h = Math.min(side, base.height);
    t0 = performance.now();
    try {
      for (const [x, y] of corners) await slide.readRegion(0, x, y, w, h);
    } finally {
      await slide.close();
    }
    const sdsMsPerRegion = (performance.now() - t0) / count;
    const row: RegionBenchRow = { slide: basename(path), vendor: slide.info.vendor, compression: base.compression, regions: count, side, sdsOpenMs, sdsMsPerRegion };
    try {
      const { stdout } = await run('/usr/bin/python3', [SCRIPT, JSON.stringify({ path, level: 0, regions: corners.map(([x, y]) => [x, y, w, h]) })], { maxBuffer: 1 << 20 });
      const r = JSON.parse(stdout) as { error?: string; open_ms?: number; ms_per_region?: number };
      if (r.error) row.openslideError = r.error;
      else {
        row.openslideOpenMs = r.open_ms;
        row.openslideMsPerRegion = r.ms_per_region;
      }
    } catch (err) {
      row.openslideError = `python3 with openslide not available (${(err as Error).message.split('\n')[0]})`;
    }
    rows.push(row);
  }
  return rows;
}
