/**
 * Hamamatsu NDPI (issue #15): small files in NDPI's layout (test/support/slide-writers/ndpi.ts: one JPEG per
 * directory, restart intervals spliced from separately encoded pieces) read by sds and by OpenSlide 3.4.1, the
 * referee: vendor, the level list with OpenSlide's libjpeg-scaled levels, MPP, objective, every property, regions
 * (MAD 0) at stored and scaled levels, the macro. NDPI's 64-bit offsets on a sparse in-memory file beyond 4 GiB
 * (both the stored high words and OpenSlide 3.4.1's guess). Bad files: McuStarts past the JPEG, out of order,
 * wrong, missing (scanned for, as OpenSlide does); JPEG data cut short or corrupt; a huge level without restart
 * markers refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { FileSource } from '../../../slide/file-source.js';
import { openSlide, SLIDE_EXTENSIONS } from '../../../slide/index.js';
import { fixNdpiOffset, readNdpiFile, type ByteSource } from '../../../slide/tiff/ndpi/ifd.js';
import { formatDoubleLikeOpenSlide } from '../../../slide/tiff/ndpi/properties.js';
import { openNdpi } from '../../../slide/tiff/vendors/hamamatsu.js';
import { ndpiDirectory, ndpiTags, NT, plainJpeg, restartJpeg, stripTags, writeTestNdpi, type NdpiTag, type TestNdpi } from '../../support/slide-writers/ndpi.js';
import { crop, halve, haveLibOpenSlide, haveOpenSlide, mad, OPENSLIDE_MISSING, openslideAssociated, openslideProperties, openslideRegion, tissue } from '../../support/slide-writers/tiff-vendor-kit.js';
import { expectSdsError, withStoredLevels } from '../../support/slide-expect.js';

if (!haveOpenSlide) console.warn(`NDPI tests: ${OPENSLIDE_MISSING}`);

const tmp = mkdtempSync(join(tmpdir(), 'sds-ndpi-'));
const SLIDE = join(tmp, 'slide.ndpi');
let truth: TestNdpi;
beforeAll(async () => {
  truth = await writeTestNdpi(SLIDE, tissue(1024, 640, 3));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** OpenSlide 3.4.1's levels of the test layout: stored 1024 (4:4:4, 128x8 intervals), 256 (4:2:0, 64x16), 64 (untiled), and libjpeg's 1/2, 1/4, 1/8 of each. */
const LEVELS = [
  [1024, 640, 128, 8], // level 0 (directory 0)
  [512, 320, 64, 4], // level 0 at 1/2
  [256, 160, 64, 16], // level 1 (directory 1)
  [128, 80, 32, 8], // level 1 at 1/2
  [64, 40, 64, 40], // level 2 (directory 3), one JPEG without restart markers
  [32, 20, 32, 20], // level 2 at 1/2
  [16, 10, 16, 10], // at 1/4
  [8, 5, 8, 5], // at 1/8
];



describe('Hamamatsu NDPI', () => {
  it('is found by extension and read as vendor hamamatsu with OpenSlide 3.4.1\'s level list (stored + libjpeg-scaled levels)', async () => {
    expect(SLIDE_EXTENSIONS).toContain('.ndpi');
    await withStoredLevels(SLIDE, async (s) => {
      expect(s.info.vendor).toBe('hamamatsu');
      expect(s.levels.map((l) => [l.width, l.height, l.tileWidth, l.tileHeight])).toEqual(LEVELS);
      expect(s.levels.map((l) => l.downsample)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
      // Resolution tags in pixels per centimetre: MPP = 10000 / resolution; objective = SourceLens of directory 0.
      expect(s.mpp).toEqual({ x: 10000 / (Math.round(1e7 / 0.4416) / 1000), y: 10000 / (Math.round(1e7 / 0.4418) / 1000) });
      expect(s.magnification).toBe(20);
      expect(s.info.properties).toMatchObject({
        'hamamatsu.SourceLens': '20',
        'hamamatsu.XOffsetFromSlideCentre': '-1234567',
        'hamamatsu.YOffsetFromSlideCentre': '2345678',
        'hamamatsu.Reference': 'REF-42',
        'hamamatsu.NDP.S/N': 'C13210-01',
        'hamamatsu.Product': 'NanoZoomer S360',
        'hamamatsu.Remark': 'a=b',
        'tiff.Make': 'Hamamatsu',
        'tiff.ResolutionUnit': 'centimeter',
        'tiff.YResolution': '22634.675999999999',
        'openslide.level-count': '8',
      });
      // Lines with an empty key or value are not properties; the focal plane 1 and map directories are not levels.
      expect(Object.keys(s.info.properties).filter((k) => /Empty|no key/.test(k))).toEqual([]);
      expect(s.associated.map((a) => [a.name, a.width, a.height])).toEqual([['macro', 320, 120]]);
      // A libjpeg-scaled level is its stored level seen smaller: close to the 2x2 means of level 0 (exactness: below, against OpenSlide).
      const full = await s.readRegion(0, 0, 0, 1024, 640);
      expect(mad(await s.readRegion(1, 0, 0, 512, 320), halve({ width: 1024, height: 640, data: full }).data)).toBeLessThan(2);
    });
  });

  it('formats doubles as OpenSlide (glib "%.17g")', () => {
    expect(['0.1', '20', '1.25', '22634.676', '1e-5', '123456789012345678', '-0.5'].map((v) => formatDoubleLikeOpenSlide(Number(v)))).toEqual([
      '0.10000000000000001',
      '20',
      '1.25',
      '22634.675999999999',
      '1.0000000000000001e-05',
      '1.2345678901234568e+17',
      '-0.5',
    ]);
  });

  it.skipIf(!haveOpenSlide)('OpenSlide 3.4.1 agrees: every property (MPP as a number), level sizes, tile sizes, downsamples', async () => {
    const { properties: osr, ok } = openslideProperties(SLIDE);
    expect(ok).toBe(true);
    expect(osr['openslide.vendor']).toBe('hamamatsu');
    await withStoredLevels(SLIDE, async (s) => {
      const ours = s.info.properties;
      // sds has no quickhash; the MPP strings are sds's shortest form of the same doubles.
      const skip = new Set(['openslide.quickhash-1', 'openslide.mpp-x', 'openslide.mpp-y']);
      const expected = Object.fromEntries(Object.entries(osr).filter(([k]) => !skip.has(k)));
      expect(Object.fromEntries(Object.entries(ours).filter(([k]) => !skip.has(k)))).toEqual(expected);
      expect(Number(ours['openslide.mpp-x'])).toBe(Number(osr['openslide.mpp-x']));
      expect(Number(ours['openslide.mpp-y'])).toBe(Number(osr['openslide.mpp-y']));
    });
  });

  it.skipIf(!haveOpenSlide)('regions equal openslide-write-png (MAD 0): level 0 across restart intervals, the scaled levels, the untiled level', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      // [level, level-0 x, y, width, height]; level 0's intervals are 128 x 8 px.
      for (const [level, x, y, w, h] of [
        [0, 100, 37, 300, 200],
        [0, 0, 0, 1024, 640],
        [1, 250, 90, 300, 180], // level 0 at 1/2 (4:4:4: luma and chroma by libjpeg's 4x4 IDCT)
        [3, 0, 0, 128, 80], // level 1 at 1/2 (4:2:0: luma 4x4, chroma full 8x8 IDCT, no upsampling)
        [4, 0, 0, 64, 40],
        [5, 0, 0, 32, 20],
        [6, 0, 0, 16, 10],
        [7, 0, 0, 8, 5],
      ] as const) {
        const ref = await openslideRegion(SLIDE, x, y, level, w, h);
        expect(ref.alpha.every((a) => a === 255)).toBe(true);
        expect(mad(await s.readRegion(level, x, y, w, h), ref.rgb), `level ${level} at ${x},${y}`).toBe(0);
      }
    });
  });

  it('4:2:0 intervals at full size: each decoded alone (the piece the writer encoded), where OpenSlide 3.4.1 fails', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      // Level 2 = directory 1 (4:2:0, 64x16 intervals): tiles (1, 2) and (2, 2) as libjpeg decodes their pieces.
      const region = await s.readRegion(2, 4 * 64, 4 * 32, 128, 16);
      const level1 = truth.pictures[1]!;
      const expected = new Uint8Array(128 * 16 * 3);
      for (const col of [1, 2]) {
        const piece = await sharp(await plainJpeg(crop(level1, col * 64, 32, 64, 16), '4:2:0')).raw().toBuffer();
        for (let r = 0; r < 16; r++) expected.set(piece.subarray(r * 64 * 3, (r + 1) * 64 * 3), (r * 128 + (col - 1) * 64) * 3);
      }
      expect(mad(region, expected)).toBe(0);
      // And they are the picture (JPEG loss only).
      expect(mad(region, crop(level1, 64, 32, 128, 16).data)).toBeLessThan(8);
    });
    if (haveOpenSlide) {
      // libjpeg's fancy upsampling wants the next MCU row of a one-row tile whose header says 160 rows: OpenSlide's
      // tile decode meets the end-of-image where it expects the next restart marker.
      expect(() => execFileSync('openslide-write-png', [SLIDE, '256', '128', '2', '16', '16', join(tmp, 'fail.png')], { stdio: 'pipe' })).toThrow(/instead of RST/);
    }
  });

  it('the macro (SourceLens -1) is the JPEG written; OpenSlide\'s equals it', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      const macro = await s.readAssociated('macro');
      const written = new Uint8Array(await sharp(await plainJpeg(truth.macro, '4:2:0')).raw().toBuffer());
      expect(mad(macro.data, written)).toBe(0);
      if (haveOpenSlide && haveLibOpenSlide) {
        const ref = openslideAssociated(SLIDE);
        expect([...ref.keys()]).toEqual(['macro']);
        expect(mad(macro.data, ref.get('macro')!.data)).toBe(0);
      }
    });
  });

  it('reads level 0 by restart interval: a tile costs a few KiB of reads, never the whole JPEG', async () => {
    const file = await FileSource.open(SLIDE);
    let bytes = 0;
    const counting: ByteSource = {
      name: file.name,
      path: file.path,
      size: file.size,
      read: (offset, length, what, signal) => {
        bytes += length;
        return file.read(offset, length, what, signal);
      },
    };
    try {
      const parts = await openNdpi((await readNdpiFile(counting))!);
      const atOpen = bytes;
      const tile = await parts.levels[0]!.readTile(5, 40);
      expect([tile!.width, tile!.height]).toEqual([128, 8]);
      const level0Jpeg = truth.levels[1]!.jpegOffset - truth.levels[0]!.jpegOffset;
      // Open: directories, headers and the McuStarts tables; the tile: its group of 4 x 8 intervals (of 8 x 80).
      expect(atOpen).toBeLessThan(32 * 1024);
      expect(bytes - atOpen).toBeLessThan(level0Jpeg / 10);
      expect(mad(tile!.data, crop(truth.pictures[0]!, 5 * 128, 40 * 8, 128, 8).data)).toBeLessThan(8);
    } finally {
      await file.close();
    }
  });
});

/** RGB of a whole JPEG (libjpeg through sharp). */
async function decoded(jpeg: Uint8Array): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** A file that exists only as a few chunks at given positions (zeros elsewhere): NDPI beyond 4 GiB without 4 GiB of disk. */
function sparseFile(name: string, size: number, chunks: { at: number; bytes: Uint8Array }[]): ByteSource {
  return {
    name,
    path: `/sparse/${name}`,
    size,
    async read(offset, length) {
      if (offset < 0 || offset + length > size) throw new SdsError('SLIDE_UNREADABLE', `${name}: read outside the file`, { suggestion: 'none' });
      if (length > 64 << 20) throw new Error(`a ${length}-byte read from a sparse test file`);
      const out = new Uint8Array(length);
      for (const { at, bytes } of chunks) {
        const from = Math.max(at, offset);
        const to = Math.min(at + bytes.length, offset + length);
        if (from < to) out.set(bytes.subarray(from - at, to - at), from - offset);
      }
      return out;
    },
  };
}

describe('NDPI beyond 4 GiB (64-bit offsets)', () => {
  const GiB = 2 ** 30;

  it("OpenSlide 3.4.1's guess of the high bits: the largest that keeps an offset below its directory", () => {
    expect(fixNdpiOffset(5 * GiB + 10, 1000)).toBe(4 * GiB + 1000);
    expect(fixNdpiOffset(4 * GiB + 10, 20)).toBe(20); // 4 GiB + 20 is not below the directory: the window below
    expect(fixNdpiOffset(100, 50)).toBe(50);
    expect(fixNdpiOffset(100, 200)).toBe(200); // nothing below 0: as stored
    expect(fixNdpiOffset(9 * GiB, 2 ** 32 - 1)).toBe(8 * GiB - 1);
  });

  /**
   * One 256x64 level (4:4:4, 128x8 intervals) whose JPEG starts at 4 GiB + 1000; with `gap`, its intervals from 8 on
   * lie 4 GiB further (McuStarts then needs its high words, tag 65432), and so does its end (StripByteCounts > 32 bits).
   */
  async function bigNdpi(options: { gap: boolean; highWords: boolean; dirAt: number }) {
    const picture = tissue(256, 64, 21);
    const jpeg = await restartJpeg(picture, '4:4:4', 16);
    const start = 4 * GiB + 1000;
    const split = jpeg.mcuStarts[8]! - 2; // interval 8's restart marker
    const shift = options.gap ? 2 ** 32 : 0;
    const rel = jpeg.mcuStarts.map((m, i) => m + (i >= 8 ? shift : 0));
    const tags: NdpiTag[] = [
      ...stripTags(256, 64),
      { tag: 273, type: NT.LONG, values: [start] },
      { tag: 279, type: NT.LONG, values: [jpeg.bytes.length + shift] },
      { tag: 282, type: NT.RATIONAL, values: [20000, 1] },
      { tag: 283, type: NT.RATIONAL, values: [20000, 1] },
      { tag: 296, type: NT.SHORT, values: [3] },
      ...ndpiTags({ lens: 40, jpeg: { ...jpeg, mcuStarts: rel.map((r) => r % 2 ** 32) } }),
    ];
    if (options.gap) tags.push({ tag: 65432, type: NT.LONG, values: rel.map((r) => Math.floor(r / 2 ** 32)) });
    const dir = ndpiDirectory(tags, options.dirAt, 0, options.highWords);
    const header = Buffer.alloc(16);
    header.write('II', 0, 'latin1');
    header.writeUInt16LE(42, 2);
    header.writeBigUInt64LE(BigInt(dir.ifdOffset), 4);
    // Without stored high words the directory ends the file (nothing after it to read them from).
    const file = sparseFile('big.ndpi', options.highWords ? 10 * GiB : options.dirAt + dir.bytes.length, [
      { at: 0, bytes: header },
      { at: start, bytes: jpeg.bytes.subarray(0, split) },
      { at: start + shift + split, bytes: jpeg.bytes.subarray(split) },
      { at: options.dirAt, bytes: dir.bytes },
    ]);
    // For 4:4:4 the whole-image decode equals the interval decodes (no upsampling): the truth for every tile.
    const whole = { width: 256, height: 64, data: new Uint8Array(await sharp(jpeg.bytes).raw().toBuffer()) };
    return { file, whole };
  }

  it("stored high words (OpenSlide 4.0's reading): StripOffsets, StripByteCounts and McuStarts beyond 32 bits", async () => {
    const { file, whole } = await bigNdpi({ gap: true, highWords: true, dirAt: 9 * GiB + 12_346 });
    const ndpi = (await readNdpiFile(file))!;
    expect(ndpi.dirs[0]!.storedHighWords).toBe(true);
    const parts = await openNdpi(ndpi);
    expect(parts.vendor).toBe('hamamatsu');
    expect(parts.levels.map((l) => [l.level.width, l.level.height])).toEqual([
      [256, 64],
      [128, 32],
      [64, 16],
      [32, 8],
    ]);
    expect(parts.mpp).toEqual({ x: 0.5, y: 0.5 });
    // Tiles before the gap, after it (4 GiB + further), and the last (up to the 33-bit end).
    for (const [col, row] of [
      [0, 0],
      [1, 2],
      [0, 4],
      [1, 7],
    ] as const) {
      const tile = await parts.levels[0]!.readTile(col, row);
      expect(mad(tile!.data, crop(whole, col * 128, row * 8, 128, 8).data), `tile (${col}, ${row})`).toBe(0);
    }
    // Interval 7 runs across the 4 GiB gap: its data would be 4 GiB long, which is refused, not read.
    await expectSdsError(parts.levels[0]!.readTile(1, 3), 'SLIDE_UNREADABLE', /big\.ndpi: tile \(1, 3\) of level 0 cannot be read: its restart interval would be \d+ bytes/);
  });

  it("without stored high words: OpenSlide 3.4.1's guess from the directory's position", async () => {
    const { file, whole } = await bigNdpi({ gap: false, highWords: false, dirAt: 4 * GiB + 2 ** 20 });
    const ndpi = (await readNdpiFile(file))!;
    expect(ndpi.dirs[0]!.storedHighWords).toBe(false);
    const parts = await openNdpi(ndpi);
    for (let row = 0; row < 8; row++) {
      const tile = await parts.levels[0]!.readTile(1, row);
      expect(mad(tile!.data, crop(whole, 128, row * 8, 128, 8).data)).toBe(0);
    }
    // The scaled level reads the same intervals.
    const half = await parts.levels[1]!.readTile(0, 3);
    expect([half!.width, half!.height]).toEqual([64, 4]);
  });
});

describe('NDPI bad files: clear errors naming the file', () => {
  const small = () => tissue(512, 256, 7);

  it('McuStarts past the JPEG, or out of order: the tiles it lists fail (checked as its table is read), naming the file', async () => {
    const past = join(tmp, 'past.ndpi');
    await writeTestNdpi(past, small(), { level0McuStarts: (s) => s.map((v, i) => (i === 5 ? v + 10_000_000 : v)) });
    await withStoredLevels(past, async (s) => {
      await expectSdsError(s.readRegion(0, 0, 0, 16, 8), 'SLIDE_UNREADABLE', /past\.ndpi: level directory 0: McuStarts \(tag 65426\) puts restart interval 5 at byte \d+, past the end of its JPEG/);
      // The other levels read.
      expect((await s.readRegion(2, 0, 0, 64, 64)).length).toBe(64 * 64 * 3);
    });
    const order = join(tmp, 'order.ndpi');
    await writeTestNdpi(order, small(), { level0McuStarts: (s) => s.map((v, i) => (i === 6 ? s[4]! : v)) });
    await withStoredLevels(order, async (s) => {
      await expectSdsError(s.readRegion(0, 256, 8, 16, 8), 'SLIDE_UNREADABLE', /order\.ndpi: level directory 0: McuStarts \(tag 65426\) is out of order: restart interval 6/);
    });
  });

  it('a McuStarts entry off its restart marker: that tile fails, naming it (OpenSlide: "Restart marker not found")', async () => {
    const path = join(tmp, 'off.ndpi');
    await writeTestNdpi(path, small(), { level0McuStarts: (s) => s.map((v, i) => (i === 5 ? v + 1 : v)) });
    await withStoredLevels(path, async (s) => {
      // Interval 5 = tile (1, 1) of level 0 (4 intervals per row).
      await expectSdsError(s.readRegion(0, 128, 8, 16, 8), 'SLIDE_UNREADABLE', /off\.ndpi: tile \(1, 1\) of level 0 cannot be read: no restart marker before its data .*McuStarts \(tag 65426\) is wrong/);
      // Tiles of other groups are fine.
      expect((await s.readRegion(0, 0, 128, 16, 8)).length).toBe(16 * 8 * 3);
    });
  });

  it('without McuStarts the restart markers are found by scanning, as OpenSlide does: same pixels (MAD 0)', async () => {
    const path = join(tmp, 'scan.ndpi');
    await writeTestNdpi(path, small(), { level0McuStarts: () => null });
    // 4:4:4: the whole JPEG decoded at once equals its intervals decoded one by one.
    const whole = await decoded((await restartJpeg(small(), '4:4:4', 16)).bytes);
    await withStoredLevels(path, async (s) => {
      // Backwards first (a scan from the start, remembering every 64th interval), then all of it.
      expect(mad(await s.readRegion(0, 300, 200, 200, 56), crop(whole, 300, 200, 200, 56).data)).toBe(0);
      expect(mad(await s.readRegion(0, 0, 8, 512, 40), crop(whole, 0, 8, 512, 40).data)).toBe(0);
      expect(mad(await s.readRegion(0, 0, 0, 512, 256), whole.data)).toBe(0);
      if (haveOpenSlide) {
        for (const [level, x, y, w, h] of [
          [0, 0, 0, 512, 256],
          [1, 0, 0, 256, 128],
        ] as const) {
          const ref = await openslideRegion(path, x, y, level, w, h);
          expect(mad(await s.readRegion(level, x, y, w, h), ref.rgb), `level ${level}`).toBe(0);
        }
      }
    });
  });

  it('JPEG data cut short: tiles before the cut read, the cut one and those after fail, naming the file', async () => {
    const full = await restartJpeg(small(), '4:4:4', 16);
    // Cut in the middle of interval 20 (row 5, column 0); without McuStarts (found by scanning), and with them.
    const scanned = join(tmp, 'cut.ndpi');
    await writeTestNdpi(scanned, small(), { level0McuStarts: () => null, level0Cut: full.mcuStarts[20]! + 40 });
    await withStoredLevels(scanned, async (s) => {
      expect(mad(await s.readRegion(0, 0, 0, 512, 40), crop(await decoded(full.bytes), 0, 0, 512, 40).data)).toBe(0);
      for (const y of [40, 200]) await expectSdsError(s.readRegion(0, 0, y, 16, 8), 'SLIDE_UNREADABLE', /cut\.ndpi: level directory 0: its JPEG data ends after 21 of 128 restart intervals/);
    });
    const listed = join(tmp, 'cut-listed.ndpi');
    await writeTestNdpi(listed, small(), { level0McuStarts: (s) => s.slice(0, 21).concat(s.slice(21).map((_, i) => full.mcuStarts[20]! + 50 + i)), level0Cut: full.mcuStarts[20]! + 40 });
    await withStoredLevels(listed, async (s) => {
      await expectSdsError(s.readRegion(0, 0, 0, 16, 8), 'SLIDE_UNREADABLE', /cut-listed\.ndpi: level directory 0: McuStarts \(tag 65426\) puts restart interval 21 at byte \d+, past the end of its JPEG/);
    });
  });

  it('corrupt entropy-coded data: the tile fails as a decode error, naming the file and the tile', async () => {
    const path = join(tmp, 'corrupt.ndpi');
    const t = await writeTestNdpi(path, small());
    const bytes = readFileSync(path);
    // Interval 9 = tile (1, 2) of level 0: its data replaced by markers.
    const at = t.levels[0]!.jpegOffset + t.levels[0]!.mcuStarts[9]!;
    bytes.fill(0xff, at + 4, at + 40);
    bytes[at + 40] = 0xd8;
    writeFileSync(path, bytes);
    await withStoredLevels(path, async (s) => {
      await expectSdsError(s.readRegion(0, 128, 16, 16, 8), 'SLIDE_UNREADABLE', /corrupt\.ndpi: tile \(1, 2\) of level 0 cannot be decoded \(JPEG\)/);
      await expectSdsError(s.readRegion(1, 128, 16, 16, 4), 'SLIDE_UNREADABLE', /corrupt\.ndpi: tile \(1, 2\) of level 1 cannot be decoded \(JPEG\)/);
      expect((await s.readRegion(0, 0, 0, 128, 16)).length).toBe(128 * 16 * 3);
    });
  });

  it('a level whose size claims more restart intervals than its data can hold is refused at open', async () => {
    const path = join(tmp, 'claims.ndpi');
    await writeTestNdpi(path, small(), { level0Claims: { width: 64000, height: 64000 }, level0McuStarts: () => null });
    await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /claims\.ndpi: the JPEG of level directory 0 is not one OpenSlide reads: its 128x8 px restart intervals would number 4000000, more than its \d+ bytes can hold/);
  });

  it('a huge level without restart markers is refused, not decoded (the slide still opens, its other levels read)', async () => {
    const path = join(tmp, 'huge.ndpi');
    await writeTestNdpi(path, small(), { level0Untiled: { width: 8192, height: 6144 } });
    await withStoredLevels(path, async (s) => {
      expect([s.levels[0]!.width, s.levels[0]!.tileWidth]).toEqual([8192, 8192]);
      await expectSdsError(s.readRegion(0, 0, 0, 64, 64), 'SLIDE_TOO_LARGE', /huge\.ndpi: level directory 0 is one 8192x6144 px JPEG without restart markers \(50\.3 Mpx\)/);
      expect((await s.readRegion(s.levels.length - 1, 0, 0, 8, 4)).length).toBe(8 * 4 * 3);
    });
  });
});
