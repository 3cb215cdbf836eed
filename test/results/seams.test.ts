/**
 * The seam measure (results/seams.ts) on stores with analytic answers: a linear ramp has equal
 * neighbour differences everywhere (ratio exactly 1); patches that are flat blocks of different
 * levels have all their differences at the borders; a period-2 checkerboard inside patches (an
 * unsmoothed stride-2 gradient) is pooled away and does not hide a seam; with overlap, the ends of
 * patches are borders too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest, OverlayEntry } from '../../contracts/index.js';
import { FloatStore } from '../../maps/index.js';
import { measureSeams } from '../../results/seams.js';

const root = mkdtempSync(join(tmpdir(), 'sds-seams-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An analysis folder holding one overlay of `w` x `h` with values f(x, y); patches of `size` (overlay px) with `overlap`. */
async function analysis(name: string, w: number, h: number, size: number, overlap: number, f: (x: number, y: number) => number): Promise<{ dir: string; manifest: Manifest; overlay: OverlayEntry }> {
  const dir = join(root, name);
  const store = await FloatStore.create(join(dir, 'overlays', 'o.zarr'), { width: w, height: h, chunk: 64 });
  const v = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) v[y * w + x] = f(x, y);
  await store.writeRegion(0, 0, w, h, v);
  await store.finalize();
  const overlay = { variant: 'original', method: 'grad', layer: 'L', downsample: 4, width: w, height: h, range: [-1, 1], store: 'overlays/o.zarr', dzi: 'o.dzi' } as OverlayEntry;
  // analysis pixels = level 0 here; the overlay has 4 analysis px per value
  const manifest = { patches: { size: size * 4, level: 0, downsample: 1, overlap: overlap * 4, count: 1 } } as unknown as Manifest;
  return { dir, manifest, overlay };
}

describe('seam measure', () => {
  it('a linear ramp: ratio exactly 1', async () => {
    const a = await analysis('ramp', 96, 64, 16, 0, (x, y) => 0.01 * x + 0.01 * y);
    const s = await measureSeams(a.dir, a.manifest, a.overlay);
    expect(s.ratio).toBeCloseTo(1, 5);
    // pooled 48 x 32: horizontal borders at pooled columns 8, 16, ... (5 per row), vertical at rows 8, 16, 24 (3)
    expect(s.pairs.seam).toBe(5 * 32 + 3 * 48);
  });

  it('flat blocks of different levels: every difference lies on a border; a checkerboard inside does not hide it', async () => {
    const level = (x: number, y: number) => Math.floor(x / 16) + 2 * Math.floor(y / 16);
    const flat = await analysis('blocks', 64, 64, 16, 0, level);
    const s = await measureSeams(flat.dir, flat.manifest, flat.overlay);
    expect(s.inside).toBe(0);
    expect(s.seam).toBeCloseTo((3 * 64 * 1 + 3 * 64 * 2) / 2 / (2 * 3 * 32), 6);
    const checker = await analysis('checker', 64, 64, 16, 0, (x, y) => level(x, y) + ((x + y) % 2 ? 0.5 : -0.5));
    const c = await measureSeams(checker.dir, checker.manifest, checker.overlay);
    expect(c.inside).toBe(0);
    expect(c.seam).toBeCloseTo(s.seam, 6);
  });

  it('with overlap, the ends of patches are borders too', async () => {
    // stride 12, size 16: edges at 0, 12, 24, ... and 16, 28, 40, ...
    const a = await analysis('overlap', 64, 64, 16, 4, (x) => (x % 12 === 0 || x % 12 === 4 ? 1 : 0));
    const s = await measureSeams(a.dir, a.manifest, a.overlay);
    expect(s.pairs.seam).toBeGreaterThan(0);
    const none = await analysis('overlap-0', 64, 64, 16, 0, (x) => x);
    expect((await measureSeams(none.dir, none.manifest, none.overlay)).pairs.seam).toBeLessThan(s.pairs.seam);
  });
});
