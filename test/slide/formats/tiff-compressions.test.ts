/**
 * The generic TIFF compressions and layouts: libvips' WebP (main-chain pyramid) and Zstandard (pyramid in SubIFDs)
 * files against their truth files; TIFFs libtiff wrote through sharp (JPEG with YCbCr 4:2:0, WebP lossy
 * (sharp passes no `lossless` to TIFF; lossless WebP is the libvips truth file's), LZW and Deflate with predictor 2, uncompressed, BigTIFF, strips) against the pixels written, libtiff's
 * own decode and OpenSlide's; separate colour planes (PlanarConfiguration 2) in every lossless codec; then the
 * refusals: unknown codecs, decompression bombs, headers that claim more than the tile, broken SubIFDs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type TiffOptions } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSlide, type Slide } from '../../../slide/index.js';
import { checkRegion, FORMATS_DIR, loadTruth, mad, pngRgb } from '../../support/format-truth.js';
import { buildTiff, T, type IfdSpec } from '../../support/hostile-tiff.js';
import { pyramid, tiffWithSubIfds } from '../../support/slide-writers/ome-tiff.js';
import { blocks, channel, deflate, harvest, libtiffGreyTiles, pattern, predict, zstdFrame, zstdRleBomb, type Rgb } from '../../support/slide-writers/tiff-pieces.js';
import { expectSdsError } from '../../support/slide-expect.js';

const tmp = mkdtempSync(join(tmpdir(), 'sds-tiffc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const haveOpenSlide = (() => {
  try {
    execFileSync('openslide-show-properties', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!haveOpenSlide) console.warn('tiff-compressions: OpenSlide cross-checks SKIPPED (openslide-show-properties / openslide-write-png not installed)');

function write(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

async function withSlide<T>(path: string, fn: (s: Slide) => Promise<T>, probe = true): Promise<T> {
  const slide = await openSlide(path, { smallestLevelSize: 0, probe });
  try {
    return await fn(slide);
  } finally {
    await slide.close();
  }
}

async function whole(slide: Slide, level: number): Promise<Uint8Array> {
  const l = slide.levels[level]!;
  return slide.readRegion(level, 0, 0, l.width, l.height);
}

/** Level `level` of a TIFF as libtiff decodes it (through sharp/libvips: page n of the main chain). */
async function libtiffPage(path: string, level: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(path, { page: level }).removeAlpha().raw().toBuffer());
}

/** Level `level` as OpenSlide 3.4.1 decodes it. */
async function openslidePixels(path: string, level: number, width: number, height: number): Promise<Uint8Array> {
  const out = join(tmp, 'openslide.png');
  execFileSync('openslide-write-png', [path, '0', '0', String(level), String(width), String(height), out]);
  return (await pngRgb(out)).data;
}


describe.each(['vips-webp-lossless.tif', 'vips-zstd-subifd.tif'])('%s against its truth file', (name) => {
  const truth = loadTruth(name);
  const path = join(FORMATS_DIR, name);
  if (!truth) {
    it.skip(`${name} is not in ${FORMATS_DIR}`, () => undefined);
    return;
  }
  it('levels (sizes, downsamples), tiles, compression and MPP from the resolution tags', async () => {
    await withSlide(path, async (s) => {
      expect(s.info.vendor).toBe('generic-tiff');
      expect(s.levels.map((l) => [l.width, l.height, l.downsample, l.tileWidth, l.tileHeight])).toEqual(truth.levels.map((l) => [l.width, l.height, l.downsample, 256, 256]));
      expect(new Set(s.levels.map((l) => l.compression))).toEqual(new Set([name.includes('webp') ? 'WebP' : 'Zstandard']));
      expect(s.mpp!.x).toBeCloseTo(truth.mpp.x, 9);
      expect(s.mpp!.y).toBeCloseTo(truth.mpp.y, 9);
    });
  });
  it.each(truth.regions.map((r, k) => [k, r] as const))('region %i equals its PNG (MAD 0), white outside the image', async (_k, region) => {
    await withSlide(path, async (s) => expect((await checkRegion(s, region)).mad).toBe(0));
  });
});

// --- TIFFs libtiff wrote (through sharp): 300 x 200, 64 px tiles, pyramids in the main chain ---
const img = pattern(300, 200, 7);
const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };

describe('TIFFs written by libtiff (sharp): every level equals libtiff’s own decode; lossless ones the pixels written', () => {
  const cases: [string, TiffOptions, boolean][] = [
    ['uncompressed', { compression: 'none' }, true],
    ['LZW, predictor 2', { compression: 'lzw', predictor: 'horizontal' }, true],
    ['Deflate, predictor 2', { compression: 'deflate', predictor: 'horizontal' }, true],
    ['Deflate, BigTIFF', { compression: 'deflate', predictor: 'none', bigtiff: true }, true],
    ['LZW, BigTIFF', { compression: 'lzw', predictor: 'horizontal', bigtiff: true }, true],
    ['WebP lossy (quality 70)', { compression: 'webp', quality: 70 }, false],
    ['JPEG, YCbCr 4:2:0 (photometric 6)', { compression: 'jpeg', quality: 80 }, false],
  ];
  const paths = new Map<string, string>();
  beforeAll(async () => {
    for (const [label, options] of cases) {
      const path = join(tmp, `${label.replace(/\W+/g, '-')}.tif`);
      await sharp(img.data, raw).tiff({ ...options, tile: true, tileWidth: 64, tileHeight: 64, pyramid: true }).toFile(path);
      paths.set(label, path);
    }
  });

  it.each(cases)('%s', async (label, _options, lossless) => {
    const path = paths.get(label)!;
    await withSlide(path, async (s) => {
      expect(s.levels.map((l) => [l.width, l.height])).toEqual([
        [300, 200],
        [150, 100],
        [75, 50],
        [37, 25],
      ]);
      if (lossless) expect(mad(await whole(s, 0), img.data)).toBe(0);
      else expect(mad(await whole(s, 0), img.data)).toBeGreaterThan(0.5); // lossy for real: the comparisons below are not trivial
      for (const level of s.levels) expect(mad(await whole(s, level.index), await libtiffPage(path, level.index)), `level ${level.index}`).toBe(0);
    });
  });

  it('the JPEG file is YCbCr with 2x2 chroma subsampling, as the JPEG case claims (photometric 6; luma sampled 2x2 in each tile’s frame header)', async () => {
    const [dir] = await harvest(readFileSync(paths.get('JPEG, YCbCr 4:2:0 (photometric 6)')!), join(tmp, 'jpeg-copy.tif'));
    expect([dir!.compression, dir!.photometric]).toEqual([7, 6]);
    const tile = dir!.blocks[0]!;
    const sof = tile.findIndex((b, i) => b === 0xff && tile[i + 1] === 0xc0);
    // SOF0: length (2), precision, height (2), width (2), components; then per component id, HV sampling, table.
    expect(tile[sof + 9]).toBe(3);
    expect([tile[sof + 11], tile[sof + 14], tile[sof + 17]]).toEqual([0x22, 0x11, 0x11]);
  });

  // OpenSlide renders levels with a fractional downsample (37 x 25: 8.05) through its scaler; levels 0-2 are exact.
  it.skipIf(!haveOpenSlide).each(cases.filter(([label]) => !label.includes('BigTIFF')))('%s: levels 0-2 equal OpenSlide 3.4.1 (MAD 0)', async (label) => {
    const path = paths.get(label)!;
    await withSlide(path, async (s) => {
      for (const level of s.levels.slice(0, 3)) expect(mad(await whole(s, level.index), await openslidePixels(path, level.index, level.width, level.height)), `level ${level.index}`).toBe(0);
    });
  });

  it('a stripped TIFF is no generic pyramid (OpenSlide’s generic-tiff refuses it too): SLIDE_UNSUPPORTED', async () => {
    const path = join(tmp, 'stripped.tif');
    await sharp(img.data, raw).tiff({ compression: 'deflate' }).toFile(path);
    await expectSdsError(openSlide(path), 'SLIDE_UNSUPPORTED', /stripped\.tif has no tiled image/);
  });
});

// --- Separate colour planes (PlanarConfiguration 2), written here ---
/** RGB in separate planes of one directory: each plane's blocks through `encode`, all R blocks, then G, then B. */
function planar(image: Rgb, tile: number, compression: number, encode: (raw: Uint8Array, c: number) => Uint8Array[] | Uint8Array, extra: Partial<IfdSpec> = {}): IfdSpec {
  const planes = [0, 1, 2].flatMap((c) => {
    const r = encode(channel(image, c), c);
    return Array.isArray(r) ? r : [r];
  });
  return {
    width: image.width,
    height: image.height,
    tile: [tile, tile],
    compression,
    blocks: planes.map((data) => ({ data })),
    ...extra,
    tags: [{ tag: 284, type: T.SHORT, values: [2] }, ...(extra.tags ?? [])],
  };
}

describe('separate colour planes (PlanarConfiguration 2) read as RGB, exactly the pixels written', () => {
  const levels = pyramid(img, 3);
  const tiles = (c: Uint8Array, w: number, h: number, t: number, enc?: (r: Uint8Array) => Uint8Array) => blocks(c, w, h, 1, t, t, enc);

  it('uncompressed; Deflate with predictor 2 (both also against OpenSlide)', async () => {
    const none = write('planar-none.tif', buildTiff({ ifds: [planar(img, 64, 1, (c) => tiles(c, 300, 200, 64))] }));
    const zip = write('planar-deflate.tif', buildTiff({ ifds: [planar(img, 64, 8, (c) => tiles(c, 300, 200, 64, (r) => deflate(predict(r, 64, 1))), { predictor: 2 })] }));
    for (const path of [none, zip]) {
      await withSlide(path, async (s) => {
        expect(s.levels[0]!.compression).toMatch(/, separate R\/G\/B planes$/);
        const ours = await whole(s, 0);
        expect(mad(ours, img.data)).toBe(0);
        if (haveOpenSlide) expect(mad(ours, await openslidePixels(path, 0, 300, 200))).toBe(0);
      });
    }
  });

  it('LZW with predictor 2, the planes’ tiles compressed by libtiff', async () => {
    const harvested = await Promise.all([0, 1, 2].map((c) => libtiffGreyTiles(channel(img, c), 300, 200, 64, 'lzw', 'horizontal', join(tmp, `grey${c}.tif`))));
    expect(harvested.map((h) => [h.samplesPerPixel, h.compression, h.predictor])).toEqual([
      [1, 5, 2],
      [1, 5, 2],
      [1, 5, 2],
    ]);
    const path = write('planar-lzw.tif', buildTiff({ ifds: [planar(img, 64, 5, (_raw, c) => harvested[c]!.blocks, { predictor: 2 })] }));
    await withSlide(path, async (s) => expect(mad(await whole(s, 0), img.data)).toBe(0));
  });

  it('Zstandard with predictor 2, BigTIFF, the pyramid in SubIFDs (generic vendor)', async () => {
    const level = (im: Rgb, t: number) => planar(im, t, 50000, (c) => tiles(c, im.width, im.height, t, (r) => zstdFrame(predict(r, t, 1))), { predictor: 2 });
    const path = write('planar-zstd.tif', tiffWithSubIfds({ bigTiff: true, ifds: [{ ...level(levels[0]!, 64), subIfds: [level(levels[1]!, 64), level(levels[2]!, 32)] }] }));
    await withSlide(path, async (s) => {
      expect(s.info.vendor).toBe('generic-tiff');
      expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [300, 200, 1],
        [150, 100, 2],
        [75, 50, 4],
      ]);
      for (const [i, im] of levels.entries()) expect(mad(await whole(s, i), im.data), `level ${i}`).toBe(0);
      // Past the bottom-right corner: white, not the black padding the edge tiles hold.
      const corner = await s.readRegion(2, 4 * 70, 4 * 45, 10, 10);
      expect(Array.from(corner.subarray(-3))).toEqual([255, 255, 255]);
    });
  });

  it('separate YCbCr planes are refused, naming the layout', async () => {
    const path = write('planar-ycbcr.tif', buildTiff({ ifds: [planar(img, 64, 1, (c) => tiles(c, 300, 200, 64), { photometric: 6 })] }));
    await expectSdsError(openSlide(path), 'SLIDE_UNSUPPORTED', /planar-ycbcr\.tif: TIFF directory 0 keeps 3 samples with photometric interpretation 6 in separate planes/);
  });
});

describe('refusals: unknown codecs, bombs, headers that claim more than the tile, broken SubIFDs', () => {
  const tile64 = (data: Uint8Array, compression: number, extra: Partial<IfdSpec> = {}) => buildTiff({ ifds: [{ width: 64, height: 64, tile: [64, 64], compression, blocks: [{ data }], ...extra }] });

  it('an unsupported compression names its code, and the suggestion lists Zstandard and WebP among those read', async () => {
    const path = write('jxl.tif', tile64(new Uint8Array(100), 50002));
    const err = await expectSdsError(openSlide(path), 'SLIDE_UNSUPPORTED', /jxl\.tif uses TIFF compression 50002 \(JPEG XL\), which sds cannot decode/);
    expect(err.suggestion).toMatch(/Zstandard \(50000\).*WebP \(50001\)/);
  });

  it('a Zstandard tile of 1 GiB (RLE blocks, 32 KB) stops at the tile’s 12 KiB: SLIDE_UNREADABLE, bounded', async () => {
    const bomb = zstdRleBomb(2 ** 30);
    expect(bomb.length).toBeLessThan(40_000);
    const path = write('zbomb.tif', tile64(bomb, 50000));
    await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /zbomb\.tif: tile \(0, 0\) of level 0 cannot be decoded \(Zstandard\): Zstandard data decodes to more than the 12288 bytes the block declares/);
  });

  it('corrupt Zstandard data: SLIDE_UNREADABLE naming the tile', async () => {
    const path = write('zjunk.tif', tile64(Uint8Array.from({ length: 500 }, (_, i) => (i * 97) & 255), 50000));
    await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /zjunk\.tif: tile \(0, 0\) of level 0 cannot be decoded \(Zstandard\): Zstandard data is corrupt/);
  });

  it('a WebP tile whose header claims 16384 x 16384 px is refused before decoding; one that is no WebP too', async () => {
    const webp = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } }).webp({ lossless: true }).toBuffer();
    expect(webp.toString('latin1', 12, 16)).toBe('VP8L');
    const bits = (16383 | (16383 << 14)) >>> 0;
    webp.writeUInt32LE(bits, 21);
    const path = write('webpclaim.tif', tile64(webp, 50001));
    await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /webpclaim\.tif: tile \(0, 0\) of level 0 cannot be decoded \(WebP\): its WebP header says 16384x16384 px, larger than the 64x64 block/);
    const junk = write('webpjunk.tif', tile64(new Uint8Array(200).fill(7), 50001));
    await expectSdsError(openSlide(junk), 'SLIDE_UNREADABLE', /webpjunk\.tif: .*no WebP header/);
  });

  it('SubIFDs: past the end of the file, 100 of them, a chain that loops back to a main directory', async () => {
    const level = (im: Rgb, t: number): IfdSpec => ({ width: im.width, height: im.height, tile: [t, t], blocks: blocks(im.data, im.width, im.height, 3, t, t).map((data) => ({ data })) });
    const small = pattern(64, 64, 3);
    const past = write('sub-past.tif', buildTiff({ ifds: [{ ...level(small, 32), tags: [{ tag: 330, type: T.LONG, values: [2 ** 31] }] }] }));
    await expectSdsError(openSlide(past), 'SLIDE_UNREADABLE', /sub-past\.tif is truncated or corrupt: SubIFD 0 of TIFF directory 0 would start at byte 2147483648, past the end of the file/);
    const many = write('sub-many.tif', buildTiff({ ifds: [{ ...level(small, 32), tags: [{ tag: 330, type: T.LONG, values: Array(100).fill(8) }] }] }));
    await expectSdsError(openSlide(many), 'SLIDE_UNREADABLE', /sub-many\.tif is corrupt: the SubIFDs \(tag 330\) of TIFF directory 0 list 100 directories; a pyramid has at most 64/);
    // Two main directories; the SubIFD of the first chains on to the second (already read as a main directory).
    const twoMain = (next: number) => tiffWithSubIfds({ ifds: [{ ...level(small, 32), subIfds: [{ ...level(halveOf(small), 32), next }] }, level(small, 32)] });
    const second = mainOffsets(twoMain(0))[1]!;
    const loop = write('sub-loop.tif', twoMain(second));
    await expectSdsError(openSlide(loop), 'SLIDE_UNREADABLE', /sub-loop\.tif is corrupt: the SubIFDs \(tag 330\) of TIFF directory 0 point back to a directory already read/);
  });
});

const halveOf = (im: Rgb): Rgb => pyramid(im, 2)[1]!;

/** Offsets of the main chain's directories, from the header and next pointers (classic TIFF). */
function mainOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let at = buf.readUInt32LE(4); at && out.length < 16; at = buf.readUInt32LE(at + 2 + buf.readUInt16LE(at) * 12)) out.push(at);
  return out;
}
