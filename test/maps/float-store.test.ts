import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import * as zarr from 'zarrita';
import { dziLevels, FloatStore, symmetricRange, valueRange, writeDzi } from '../../maps/index.js';
import { absQuantile, divergingRgb } from '../../maps/colormap.js';

const root = await mkdtemp(join(tmpdir(), 'sds-float-store-'));
afterAll(() => rm(root, { recursive: true, force: true }));

// Small chunks so a small field spans many chunks and several pyramid levels.
const W = 300;
const H = 200;
const CHUNK = 64;
const hole = (x: number, y: number) => (x - 150) ** 2 + (y - 100) ** 2 < 30 ** 2;
const field = (x: number, y: number) => (hole(x, y) ? NaN : Math.sin(x / 23) + Math.cos(y / 17));
const truth = Float32Array.from({ length: W * H }, (_, i) => field(i % W, Math.floor(i / W)));

/** Writes the field as 50x50 patches (not chunk-aligned), like a patch pipeline would. */
async function writeField(dir: string): Promise<FloatStore> {
  const store = await FloatStore.create(dir, { width: W, height: H, chunk: CHUNK, name: 'test', cacheChunks: 4 });
  const P = 50;
  for (let y = -10; y < H; y += P) {
    for (let x = -10; x < W; x += P) {
      const v = Float32Array.from({ length: P * P }, (_, i) => field(x + (i % P), y + Math.floor(i / P)));
      await store.writeRegion(x, y, P, P, v);
    }
  }
  return store;
}

function sameFloats(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]!)) expect(a[i], `index ${i}`).toBeNaN();
    else if (a[i] !== b[i]) expect(a[i], `index ${i}`).toBe(b[i]);
  }
}

describe('FloatStore', () => {
  it('reads back exactly what patches wrote, NaN outside and in the hole', async () => {
    const store = await writeField(join(root, 'exact.zarr'));
    sameFloats(await store.readRegion(0, 0, 0, W, H), truth);
    // Outside the array is NaN; the inside part of a straddling read is data.
    const r = await store.readRegion(0, W - 2, -1, 4, 2);
    expect([r[0], r[1], r[2], r[3], r[6], r[7]].every(Number.isNaN)).toBe(true);
    expect(r[4]).toBe(truth[W - 2]);
    expect(r[5]).toBe(truth[W - 1]);
    // A reopened store sees the same data (the cache was flushed to disk).
    await store.flush();
    const again = await FloatStore.open(join(root, 'exact.zarr'));
    sameFloats(await again.readRegion(0, 0, 0, W, H), truth);
  });

  it('level 1 is the 2x2 NaN-aware mean of level 0, and the pyramid stops at one chunk', async () => {
    const store = await writeField(join(root, 'pyramid.zarr'));
    await store.finalize();
    expect(store.levels).toEqual([
      { width: 300, height: 200 },
      { width: 150, height: 100 },
      { width: 75, height: 50 },
      { width: 38, height: 25 },
    ]);
    const l1 = await store.readRegion(1, 0, 0, 150, 100);
    for (let y = 0; y < 100; y++) {
      for (let x = 0; x < 150; x++) {
        const vs = [field(2 * x, 2 * y), field(2 * x + 1, 2 * y), field(2 * x, 2 * y + 1), field(2 * x + 1, 2 * y + 1)]
          .map(Math.fround)
          .filter((v) => !Number.isNaN(v));
        const want = vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : NaN;
        if (Number.isNaN(want)) expect(l1[y * 150 + x]).toBeNaN();
        else expect(l1[y * 150 + x]).toBeCloseTo(want, 5);
      }
    }
    // Odd width: the last level-3 column averages only the existing level-2 column.
    const l2 = await store.readRegion(2, 74, 0, 1, 2);
    const l3 = await store.readRegion(3, 37, 0, 1, 1);
    expect(l3[0]).toBeCloseTo((l2[0]! + l2[1]!) / 2, 5);
  });

  it('writes valid OME-Zarr v0.4 metadata that zarrita can read', async () => {
    const dir = join(root, 'pyramid.zarr');
    const attrs = JSON.parse(await readFile(join(dir, '.zattrs'), 'utf8'));
    const ms = attrs.multiscales[0];
    expect(ms.version).toBe('0.4');
    expect(ms.axes).toEqual([
      { name: 'y', type: 'space' },
      { name: 'x', type: 'space' },
    ]);
    expect(ms.datasets.map((d: { path: string }) => d.path)).toEqual(['0', '1', '2', '3']);
    ms.datasets.forEach((d: { coordinateTransformations: unknown }, k: number) => {
      expect(d.coordinateTransformations).toEqual([{ type: 'scale', scale: [2 ** k, 2 ** k] }]);
    });
    expect(JSON.parse(await readFile(join(dir, '.zgroup'), 'utf8'))).toEqual({ zarr_format: 2 });
    const za = JSON.parse(await readFile(join(dir, '1', '.zarray'), 'utf8'));
    expect(za).toMatchObject({ shape: [100, 150], chunks: [CHUNK, CHUNK], dtype: '<f4', compressor: null });

    // Interop: an independent zarr reader sees the same numbers.
    // A minimal read-only zarrita store over the directory (zarrita's own fs store lives in a transitive package).
    const fsStore = {
      async get(key: string): Promise<Uint8Array | undefined> {
        return readFile(join(dir, key)).then((b) => new Uint8Array(b), () => undefined);
      },
    };
    const loc = zarr.root(fsStore);
    const arr = await zarr.open.v2(loc.resolve('0'), { kind: 'array' });
    expect(arr.shape).toEqual([H, W]);
    const got = await zarr.get(arr, [zarr.slice(90, 110), zarr.slice(0, W)]);
    sameFloats(got.data as Float32Array, truth.subarray(90 * W, 110 * W));
  });

  it('streams percentiles within one histogram bin', async () => {
    const store = await FloatStore.create(join(root, 'range.zarr'), { width: 40, height: 25, chunk: 16 });
    // 0..999 each once, shuffled deterministically, plus NaNs that must be ignored.
    const v = Float32Array.from({ length: 1000 }, (_, i) => (i * 337) % 1000);
    await store.writeRegion(0, 0, 40, 25, v);
    await store.writeRegion(100, 100, 1, 1, new Float32Array([NaN]));
    const r = await valueRange(store, { percentiles: [1, 99] });
    expect(r.count).toBe(1000);
    expect(r.min).toBe(0);
    expect(r.max).toBe(999);
    const bin = 999 / 65536;
    // Sorted-array quantile at rank p(n-1) lies between a[floor] and a[ceil] = 9..10 and 989..990.
    expect(r.low).toBeGreaterThanOrEqual(9 - bin);
    expect(r.low).toBeLessThanOrEqual(10 + bin);
    expect(r.high).toBeGreaterThanOrEqual(989 - bin);
    expect(r.high).toBeLessThanOrEqual(990 + bin);

    // Signed: symmetric range from the 99th percentile of |v|, as viz/colormap absQuantile does.
    const signed = Float32Array.from(v, (x) => x - 500);
    await store.writeRegion(0, 0, 40, 25, signed);
    const [lo, hi] = await symmetricRange(store);
    const want = absQuantile(signed, 0.99);
    expect(lo).toBe(-hi);
    expect(Math.abs(hi - want)).toBeLessThanOrEqual(1 + 500 / 65536);
  });

  it('a sparse 20000x20000 store creates only the touched chunk files', async () => {
    const dir = join(root, 'sparse.zarr');
    const store = await FloatStore.create(dir, { width: 20000, height: 20000 });
    const patch = new Float32Array(256 * 256).fill(0.5);
    await store.writeRegion(0, 0, 256, 256, patch); // chunk (0,0)
    await store.writeRegion(10240 - 100, 5120 - 100, 256, 256, patch); // straddles chunks x 19-20, y 9-10
    await store.writeRegion(15000, 15000, 256, 256, new Float32Array(256 * 256).fill(NaN)); // no data: no file
    await store.finalize();
    const files = async (level: number) => {
      const out: string[] = [];
      for (const row of await readdir(join(dir, String(level)))) {
        if (row.startsWith('.')) continue;
        for (const col of await readdir(join(dir, String(level), row))) out.push(`${row}/${col}`);
      }
      return out.sort();
    };
    expect(await files(0)).toEqual(['0/0', '10/19', '10/20', '9/19', '9/20']);
    expect(store.levels.length).toBe(7); // 20000 -> ... -> 313 <= 512
    // Level-0 chunks x 19-20, y 9-10 halve into level-1 chunks x 9-10, y 4-5.
    expect(await files(1)).toEqual(['0/0', '4/10', '4/9', '5/10', '5/9']);
    expect(await files(6)).toEqual(['0/0']);
    // Level 6 is 64x downsampled: the (0,0) patch covers pixels 0..3, nothing was written near (200, 200).
    const top = await store.readRegion(6, 0, 0, 1, 1);
    expect(top[0]).toBeCloseTo(0.5, 6);
    expect((await store.readRegion(6, 200, 200, 1, 1))[0]).toBeNaN();
  });
});

describe('writeDzi', () => {
  it('writes the Deep Zoom XML and every tile of every level', async () => {
    const store = await FloatStore.open(join(root, 'pyramid.zarr'));
    const base = join(root, 'dzi', 'sal');
    const res = await writeDzi(store, base, { range: [-2, 2], colormap: 'diverging', tileSize: 64, overlap: 1 });
    const xml = await readFile(`${base}.dzi`, 'utf8');
    expect(xml).toContain('TileSize="64"');
    expect(xml).toContain('Overlap="1"');
    expect(xml).toContain('Format="png"');
    expect(xml).toContain('<Size Width="300" Height="200"/>');
    // ceil(log2 300) = 9: levels 0..9; level 9 is full size (5 x 4 tiles of 64), level 0 is 1x1.
    expect(res.levels).toBe(10);
    const levels = dziLevels(300, 200, 64);
    expect(levels[9]).toMatchObject({ width: 300, height: 200, cols: 5, rows: 4 });
    expect(levels[8]).toMatchObject({ width: 150, height: 100, cols: 3, rows: 2 });
    expect(levels[0]).toMatchObject({ width: 1, height: 1, cols: 1, rows: 1 });
    for (let L = 0; L <= 9; L++) {
      const w = Math.ceil(300 / 2 ** (9 - L)), h = Math.ceil(200 / 2 ** (9 - L));
      const names = (await readdir(join(`${base}_files`, String(L)))).sort();
      const want = [];
      for (let r = 0; r < Math.ceil(h / 64); r++) for (let c = 0; c < Math.ceil(w / 64); c++) want.push(`${c}_${r}.png`);
      expect(names).toEqual(want.sort());
    }
  });

  it('tile pixels are the colormap of the store values; NaN is transparent', async () => {
    const base = join(root, 'dzi', 'sal');
    // Level 9 tile (1, 1) starts at (64 - overlap, 64 - overlap) and is 66 x 66.
    const { data, info } = await sharp(join(`${base}_files`, '9', '1_1.png')).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([66, 66, 4]);
    for (const [i, j] of [[0, 0], [10, 20], [65, 65], [30, 1]] as const) {
      const v = truth[(63 + j) * W + 63 + i]!;
      const rgb = divergingRgb([v], 2);
      const o = (j * 66 + i) * 4;
      expect([...data.subarray(o, o + 4)]).toEqual([rgb[0], rgb[1], rgb[2], 255]);
    }
    // The hole centre (150, 100) is level-9 tile (2, 1) at local (150 - 127, 100 - 63).
    const t21 = await sharp(join(`${base}_files`, '9', '2_1.png')).raw().toBuffer();
    expect(t21[((100 - 63) * 66 + 150 - 127) * 4 + 3]).toBe(0);

    // Level 8 (half size) comes from store level 1: pixel (10, 5) of tile (0, 0).
    const store = await FloatStore.open(join(root, 'pyramid.zarr'));
    const [v8] = await store.readRegion(1, 10, 5, 1, 1);
    const { data: d8, info: i8 } = await sharp(join(`${base}_files`, '8', '0_0.png')).raw().toBuffer({ resolveWithObject: true });
    const rgb8 = divergingRgb([v8!], 2);
    const o8 = (5 * i8.width + 10) * 4;
    expect([...d8.subarray(o8, o8 + 4)]).toEqual([rgb8[0], rgb8[1], rgb8[2], 255]);
  });

  it('viridis maps lo to dark purple and hi to yellow', async () => {
    const store = await FloatStore.create(join(root, 'vir.zarr'), { width: 2, height: 1, chunk: 8 });
    await store.writeRegion(0, 0, 2, 1, new Float32Array([0, 1]));
    const base = join(root, 'vir');
    await writeDzi(store, base, { range: [0, 1], colormap: 'viridis' });
    const px = await sharp(join(`${base}_files`, '1', '0_0.png')).raw().toBuffer();
    expect([...px]).toEqual([68, 1, 84, 255, 253, 231, 37, 255]);
  });
});
