/**
 * DICOM WSI (VL Whole Slide Microscopy Image) reader. Truth: the pydicom-written series in
 * ../shared/slides/formats (six regions, MAD 0 against its PNGs, white outside the image), and series written
 * here by test/support/slide-writers/dicom.ts, compared with the pixels they were made from (lossless JPEG 2000,
 * JPEG-LS, native) or with sharp's decode of the very JPEG bytes stored. OpenSlide 3.4.1 does not read DICOM, so
 * it is no referee here.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimFolder, listSlides, openSlide, TileCache } from '../../../slide/index.js';
import { openSource } from '../../../slide/formats.js';
import { SHARED } from '../../support/shared.js';
import {
  CT_SOP_CLASS,
  cutFrame,
  cutFrames,
  encodeJ2k,
  encodeJpeg,
  encodeJpegLs,
  IMAGE_TYPE,
  testImage,
  TS,
  writeDicomInstance,
  type DicomInstanceSpec,
} from '../../support/slide-writers/dicom.js';
import { expectSdsError, withStoredLevels } from '../../support/slide-expect.js';

const FORMATS = join(SHARED, 'slides/formats');
const TRUTH_DIR = join(FORMATS, 'dicom-jpeg-2level');
const haveTruth = existsSync(join(FORMATS, 'dicom-jpeg-2level.truth.json'));
if (!haveTruth) console.warn(`DICOM truth-series tests SKIPPED: ${TRUTH_DIR} is absent (it lives in ../shared and is not part of the repository)`);

const tmp = mkdtempSync(join(tmpdir(), 'sds-dicom-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mad(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}



/** `image` (w x h RGB) placed in a white canvas of cw x ch at (0, 0). */
function onWhite(image: Uint8Array, w: number, h: number, cw: number, ch: number): Uint8Array {
  const out = new Uint8Array(cw * ch * 3).fill(255);
  for (let y = 0; y < Math.min(h, ch); y++) out.set(image.subarray(y * w * 3, (y * w + Math.min(w, cw)) * 3), y * cw * 3);
  return out;
}

/** Paint a tile-sized block white (a tile the file does not store). */
function whiteOut(image: Uint8Array, w: number, h: number, x0: number, y0: number, tw: number, th: number): void {
  for (let y = y0; y < Math.min(h, y0 + th); y++) image.fill(255, (y * w + x0) * 3, (y * w + Math.min(w, x0 + tw)) * 3);
}

describe.skipIf(!haveTruth)('DICOM WSI: the pydicom truth series (JPEG baseline, YBR_FULL_422, BOT)', () => {
  const truth = haveTruth
    ? (JSON.parse(readFileSync(join(FORMATS, 'dicom-jpeg-2level.truth.json'), 'utf8')) as {
        level0_file: string;
        levels: { width: number; height: number; downsample: number }[];
        mpp: { x: number; y: number };
        tile: { width: number; height: number };
        regions: { level: number; x: number; y: number; width: number; height: number; png: string; tolerance: number; edge: boolean }[];
      })
    : undefined;

  for (const how of ['folder', 'level-0 file', 'level-1 file'] as const) {
    it(`opened as its ${how}: levels, MPP, vendor, and all six regions MAD 0 vs the truth PNGs`, async () => {
      const t = truth!;
      const other = readdirSync(TRUTH_DIR).find((n) => n !== t.level0_file)!;
      const path = how === 'folder' ? TRUTH_DIR : join(TRUTH_DIR, how === 'level-0 file' ? t.level0_file : other);
      await withStoredLevels(path, async (s) => {
        expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual(t.levels.map((l) => [l.width, l.height, l.downsample]));
        expect(s.levels.map((l) => [l.tileWidth, l.tileHeight, l.compression])).toEqual(t.levels.map(() => [t.tile.width, t.tile.height, 'JPEG']));
        expect(s.mpp).toEqual(t.mpp);
        expect(s.info.vendor).toBe('dicom');
        expect(s.info.properties['openslide.mpp-x']).toBe('0.499');
        expect(s.info.properties['dicom.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[1]']).toBe('0.000499');
        expect(s.info.properties['dicom.ImageType[2]']).toBe('VOLUME');
        expect(s.info.properties['dicom.PatientName']).toBeUndefined();
        for (const r of t.regions) {
          const { data, info } = await sharp(join(FORMATS, r.png)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
          expect([info.width, info.height]).toEqual([r.width, r.height]);
          const got = await s.readRegion(r.level, r.x, r.y, r.width, r.height);
          expect(mad(got, new Uint8Array(data)), r.png).toBe(0);
        }
      });
    });
  }

  it('a folder scan lists the series folder as one slide, and the folder itself by its level-0 file', async () => {
    const t = truth!;
    expect(await listSlides(FORMATS)).toContain(TRUTH_DIR);
    expect(await listSlides(TRUTH_DIR)).toEqual([join(TRUTH_DIR, t.level0_file)]);
  });
});

// ------------------------------------------------------------------ written series

const SERIES_A = '1.2.826.0.1.3680043.9.7433.10';
const SERIES_B = '1.2.826.0.1.3680043.9.7433.20';
const L0 = { w: 300, h: 200, t: 128 };
const L1 = { w: 150, h: 100, t: 64 };
const L2 = { w: 75, h: 50, t: 32 };
const L3 = { w: 37, h: 25 };
const img0 = testImage(L0.w, L0.h, 1);
const img0plane2 = testImage(L0.w, L0.h, 7);
const img1 = testImage(L1.w, L1.h, 2);
const img1path2 = testImage(L1.w, L1.h, 8);
const img2 = testImage(L2.w, L2.h, 3);
const img3 = testImage(L3.w, L3.h, 4);
const label = testImage(60, 40, 5);
const overview = testImage(100, 50, 6);
/** Level 1 (TILED_SPARSE) stores no frame for this tile. */
const MISSING = { col: 1, row: 1 };

const dirA = join(tmp, 'a');
let overviewTruth: Uint8Array;
let jpegFramesB: Uint8Array[];

const base = (uid: string, series = SERIES_A) => ({ sopInstanceUid: uid, seriesUid: series });

async function writeSeriesA(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // Level 0: JPEG 2000 lossless, Extended Offset Table, two focal planes (the first is shown).
  const planes = [...cutFrames(img0, L0.w, L0.h, L0.t, L0.t), ...cutFrames(img0plane2, L0.w, L0.h, L0.t, L0.t)];
  writeDicomInstance(join(dir, 'a-0.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.10.1'),
    transferSyntax: TS.j2kLossless,
    width: L0.w,
    height: L0.h,
    tileWidth: L0.t,
    tileHeight: L0.t,
    photometric: 'YBR_RCT',
    frames: await Promise.all(planes.map((f) => encodeJ2k(f, L0.t, L0.t))),
    focalPlanes: 2,
    offsetTable: 'eot',
    pixelSpacingMm: [0.00025, 0.00026],
    objectivePower: 20,
  });
  // Level 1: TILED_SPARSE JPEG-LS (interleave none), no offset table, frames out of order, one tile absent,
  // and frames of a second optical path that is not shown.
  const sparseFrames: Uint8Array[] = [];
  const positions: DicomInstanceSpec['positions'] = [];
  for (const [path, picture] of [['2', img1path2], ['1', img1]] as const) {
    for (const [col, row] of [[2, 1], [0, 0], [1, 0], [0, 1], [2, 0]]) {
      sparseFrames.push(await encodeJpegLs(cutFrame(picture, L1.w, L1.h, col!, row!, L1.t, L1.t), L1.t, L1.t, 0));
      positions.push({ column: col! * L1.t + 1, row: row! * L1.t + 1, z: 0, path });
    }
  }
  writeDicomInstance(join(dir, 'a-1.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.10.2'),
    imageType: IMAGE_TYPE.resampled,
    transferSyntax: TS.jpegLs,
    width: L1.w,
    height: L1.h,
    tileWidth: L1.t,
    tileHeight: L1.t,
    photometric: 'RGB',
    frames: sparseFrames,
    organization: 'TILED_SPARSE',
    positions,
    opticalPaths: ['1', '2'],
    offsetTable: 'none',
  });
  // Level 2: native RGB, a concatenation of two files.
  const frames2 = cutFrames(img2, L2.w, L2.h, L2.t, L2.t);
  for (const part of [0, 1]) {
    writeDicomInstance(join(dir, `a-2-part${part + 1}.dcm`), {
      ...base(`1.2.826.0.1.3680043.9.7433.10.3${part}`),
      imageType: IMAGE_TYPE.resampled,
      transferSyntax: TS.explicit,
      width: L2.w,
      height: L2.h,
      tileWidth: L2.t,
      tileHeight: L2.t,
      photometric: 'RGB',
      frames: frames2.slice(part * 3, part * 3 + 3),
      concatenation: { uid: '1.2.826.0.1.3680043.9.7433.10.39', frameOffset: part * 3, number: part + 1, total: 2, sourceUid: '1.2.826.0.1.3680043.9.7433.10.3' },
    });
  }
  // Level 3: one frame, implicit VR little endian, planar configuration 1.
  const planar = new Uint8Array(img3.length);
  const n = L3.w * L3.h;
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) planar[c * n + p] = img3[p * 3 + c]!;
  writeDicomInstance(join(dir, 'a-3.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.10.4'),
    imageType: IMAGE_TYPE.resampled,
    transferSyntax: TS.implicit,
    width: L3.w,
    height: L3.h,
    tileWidth: L3.w,
    tileHeight: L3.h,
    photometric: 'RGB',
    planarConfiguration: 1,
    frames: [planar],
    organization: 'none',
  });
  writeDicomInstance(join(dir, 'a-label.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.10.5'),
    imageType: IMAGE_TYPE.label,
    transferSyntax: TS.explicit,
    width: 60,
    height: 40,
    tileWidth: 60,
    tileHeight: 40,
    photometric: 'RGB',
    frames: [label],
  });
  // Overview: two JPEG frames, each split into two fragments (Basic Offset Table).
  const ovFrames = await Promise.all(cutFrames(overview, 100, 50, 64, 64).map((f) => encodeJpeg(f, 64, 64)));
  writeDicomInstance(join(dir, 'a-overview.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.10.6'),
    imageType: IMAGE_TYPE.overview,
    transferSyntax: TS.jpeg,
    width: 100,
    height: 50,
    tileWidth: 64,
    tileHeight: 64,
    photometric: 'YBR_FULL_422',
    frames: ovFrames,
    fragmentsPerFrame: 2,
  });
  // Truth for the overview: sharp's own decode of the stored JPEG bytes, cropped.
  overviewTruth = new Uint8Array(100 * 50 * 3);
  for (let c = 0; c < 2; c++) {
    const px = new Uint8Array(await sharp(ovFrames[c]!).raw().toBuffer());
    for (let y = 0; y < 50; y++) overviewTruth.set(px.subarray(y * 64 * 3, (y * 64 + Math.min(64, 100 - c * 64)) * 3), (y * 100 + c * 64) * 3);
  }
  // Not a slide: a CT image in the same folder.
  writeDicomInstance(join(dir, 'ct.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.10.9', '1.2.826.0.1.3680043.9.7433.99'),
    sopClass: CT_SOP_CLASS,
    transferSyntax: TS.explicit,
    width: 8,
    height: 8,
    tileWidth: 8,
    tileHeight: 8,
    photometric: 'MONOCHROME2',
    samplesPerPixel: 1,
    frames: [new Uint8Array(64)],
    organization: 'none',
  });
}

/** Series B: JPEG baseline, BOT, two levels; returns the stored frames (the truth is their decode). */
async function writeSeriesB(dir: string, options: { frames0?: number } = {}): Promise<Uint8Array[]> {
  mkdirSync(dir, { recursive: true });
  const picture = testImage(200, 150, 9);
  const frames = await Promise.all(cutFrames(picture, 200, 150, 100, 100).map((f) => encodeJpeg(f, 100, 100)));
  writeDicomInstance(join(dir, 'b-0.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.20.1', SERIES_B),
    transferSyntax: TS.jpeg,
    width: 200,
    height: 150,
    tileWidth: 100,
    tileHeight: 100,
    photometric: 'YBR_FULL_422',
    frames: frames.slice(0, options.frames0 ?? frames.length),
  });
  const small = await encodeJpeg(testImage(100, 75, 10), 100, 75);
  writeDicomInstance(join(dir, 'b-1.dcm'), {
    ...base('1.2.826.0.1.3680043.9.7433.20.2', SERIES_B),
    imageType: IMAGE_TYPE.resampled,
    transferSyntax: TS.jpeg,
    width: 100,
    height: 75,
    tileWidth: 100,
    tileHeight: 75,
    photometric: 'YBR_FULL_422',
    frames: [small],
  });
  return frames;
}

beforeAll(async () => {
  await writeSeriesA(dirA);
  jpegFramesB = await writeSeriesB(join(tmp, 'b'));
});

/** Each level of series A as it must read: its picture, white outside it and where the file stores nothing. */
function expectedLevels(): { picture: Uint8Array; w: number; h: number }[] {
  const l1 = img1.slice();
  whiteOut(l1, L1.w, L1.h, MISSING.col * L1.t, MISSING.row * L1.t, L1.t, L1.t);
  return [
    { picture: img0, w: L0.w, h: L0.h },
    { picture: l1, w: L1.w, h: L1.h },
    { picture: img2, w: L2.w, h: L2.h },
    { picture: img3, w: L3.w, h: L3.h },
  ];
}

describe('DICOM WSI: written series (JPEG 2000 + EOT, sparse JPEG-LS, concatenated native, implicit VR)', () => {
  for (const how of ['folder', 'a file of level 2']) {
    it(`opened as ${how}: 4 levels, MPP, objective, associated images; every level equals the pixels written (MAD 0)`, async () => {
      await withStoredLevels(how === 'folder' ? dirA : join(dirA, 'a-2-part2.dcm'), async (s) => {
        expect(s.levels.map((l) => [l.width, l.height, l.tileWidth, l.tileHeight, l.compression])).toEqual([
          [300, 200, 128, 128, 'JPEG 2000'],
          [150, 100, 64, 64, 'JPEG-LS'],
          [75, 50, 32, 32, 'uncompressed'],
          [37, 25, 37, 25, 'uncompressed'],
        ]);
        expect(s.levels.map((l) => l.downsample)).toEqual([1, 2, 4, (300 / 37 + 200 / 25) / 2]);
        // PixelSpacing is row\column: y first.
        expect(s.mpp).toEqual({ x: 0.26, y: 0.25 });
        expect(s.magnification).toBe(20);
        expect(s.info.properties['openslide.objective-power']).toBe('20');
        expect(s.associated.map((a) => [a.name, a.width, a.height, a.compression])).toEqual([
          ['label', 60, 40, 'uncompressed'],
          ['macro', 100, 50, 'JPEG'],
        ]);
        for (const [level, { picture, w, h }] of expectedLevels().entries()) {
          const ds = s.levels[level]!.downsample;
          // The whole level plus a margin: white outside, first focal plane, first optical path, empty tile white.
          const got = await s.readRegion(level, 0, 0, w + 9, h + 7);
          expect(mad(got, onWhite(picture, w, h, w + 9, h + 7)), `level ${level} (downsample ${ds})`).toBe(0);
        }
        const lab = await s.readAssociated('label');
        expect(mad(lab.data, label)).toBe(0);
        const macro = await s.readAssociated('macro');
        expect([macro.width, macro.height]).toEqual([100, 50]);
        expect(mad(macro.data, overviewTruth)).toBe(0);
      });
    });
  }

  it('isEmpty: the sparse level reports exactly the tile it has no frame for; TILED_FULL levels none', async () => {
    const source = await openSource(dirA, { cache: new TileCache(1 << 20), concurrency: 4 });
    try {
      const empty: string[] = [];
      source.levels.forEach((l, i) => {
        for (let r = 0; r < Math.ceil(l.height / l.tileHeight); r++) for (let c = 0; c < Math.ceil(l.width / l.tileWidth); c++) if (source.isEmpty(i, c, r)) empty.push(`${i}:${c},${r}`);
      });
      expect(empty).toEqual([`1:${MISSING.col},${MISSING.row}`]);
      expect(await source.readTile(1, MISSING.col, MISSING.row)).toBeUndefined();
      expect(source.vendor).toBe('dicom');
    } finally {
      await source.close();
    }
  });

  it('JPEG baseline series (BOT): tiles equal sharp decoding the stored frame bytes (MAD 0)', async () => {
    await withStoredLevels(join(tmp, 'b'), async (s) => {
      expect(s.levels.map((l) => [l.width, l.height])).toEqual([[200, 150], [100, 75]]);
      expect(s.mpp).toBeUndefined();
      for (const [i, frame] of jpegFramesB.entries()) {
        const [col, row] = [i % 2, Math.floor(i / 2)];
        const w = Math.min(100, 200 - col * 100);
        const h = Math.min(100, 150 - row * 100);
        const { data } = await sharp(frame).extract({ left: 0, top: 0, width: w, height: h }).raw().toBuffer({ resolveWithObject: true });
        expect(mad(await s.readRegion(0, col * 100, row * 100, w, h), new Uint8Array(data)), `frame ${i}`).toBe(0);
      }
    });
  });

  it('folder scans: a series subfolder is one slide; loose files give one slide per series (its level-0 file); other SOP classes are no slides', async () => {
    const root = join(tmp, 'scan');
    mkdirSync(join(root, 'series-a'), { recursive: true });
    for (const n of readdirSync(dirA)) if (n !== 'ct.dcm') copyFileSync(join(dirA, n), join(root, 'series-a', n));
    for (const n of readdirSync(join(tmp, 'b'))) copyFileSync(join(tmp, 'b', n), join(root, n));
    copyFileSync(join(dirA, 'a-label.dcm'), join(root, 'zz-a-label.dcm'));
    copyFileSync(join(dirA, 'a-0.dcm'), join(root, 'zz-a-0.dcm'));
    copyFileSync(join(dirA, 'ct.dcm'), join(root, 'ct.dcm'));
    writeFileSync(join(root, 'notes.txt'), 'not a slide');
    expect(await listSlides(root)).toEqual([join(root, 'b-0.dcm'), join(root, 'series-a'), join(root, 'zz-a-0.dcm')].sort());
    const claim = await claimFolder(root, readdirSync(root, { withFileTypes: true }));
    expect(claim.owned.sort()).toEqual(['b-1.dcm', 'ct.dcm', 'zz-a-label.dcm']);
    // The loose level-0 file opens with its series found beside it (the label), not series B's files.
    await withStoredLevels(join(root, 'zz-a-0.dcm'), async (s) => {
      expect(s.levels.map((l) => l.width)).toEqual([300]);
      expect(s.associated.map((a) => a.name)).toEqual(['label']);
    });
  });
});

describe('DICOM WSI: bad input gives clear errors', () => {
  it('a folder of two series: SLIDE_UNREADABLE naming both and the way out', async () => {
    const dir = join(tmp, 'mixed');
    mkdirSync(dir);
    copyFileSync(join(dirA, 'a-0.dcm'), join(dir, 'a-0.dcm'));
    copyFileSync(join(tmp, 'b', 'b-0.dcm'), join(dir, 'b-0.dcm'));
    const err = await expectSdsError(openSlide(dir), 'SLIDE_UNREADABLE', /holds 2 DICOM WSI series/);
    expect(err.message).toContain(SERIES_A);
    expect(err.message).toContain(SERIES_B);
    expect(err.suggestion).toMatch(/open one file of the series/);
    // One of its files opens its own series.
    await withStoredLevels(join(dir, 'b-0.dcm'), async (s) => expect(s.levels.map((l) => l.width)).toEqual([200]));
  });

  it('a concatenation with a part missing: SLIDE_UNREADABLE naming the part', async () => {
    const dir = join(tmp, 'missing-part');
    mkdirSync(dir);
    for (const n of ['a-0.dcm', 'a-2-part1.dcm']) copyFileSync(join(dirA, n), join(dir, n));
    const err = await expectSdsError(openSlide(dir), 'SLIDE_UNREADABLE', /concatenation .* is incomplete: it declares 2 parts, 1 are here \(part 2 missing\)/);
    expect(err.message).toContain('a-2-part1.dcm');
  });

  it('a TILED_FULL level with fewer frames than its grid: SLIDE_UNREADABLE with both counts', async () => {
    const dir = join(tmp, 'frames-short');
    await writeSeriesB(dir, { frames0: 3 });
    await expectSdsError(openSlide(dir), 'SLIDE_UNREADABLE', /b-0\.dcm holds 3 frames; its TILED_FULL grid of 2x2 tiles needs 4/);
  });

  it('truncated frame data: SLIDE_UNREADABLE naming the file (BOT and EOT)', async () => {
    const dir = join(tmp, 'truncated');
    mkdirSync(dir);
    copyFileSync(join(tmp, 'b', 'b-0.dcm'), join(dir, 'b-0.dcm'));
    truncateSync(join(dir, 'b-0.dcm'), readFileSync(join(dir, 'b-0.dcm')).length - 3000);
    await expectSdsError(openSlide(join(dir, 'b-0.dcm')), 'SLIDE_UNREADABLE', /b-0\.dcm is truncated/);
    const eot = join(tmp, 'truncated-eot');
    mkdirSync(eot);
    copyFileSync(join(dirA, 'a-0.dcm'), join(eot, 'a-0.dcm'));
    truncateSync(join(eot, 'a-0.dcm'), readFileSync(join(eot, 'a-0.dcm')).length - 100);
    await expectSdsError(openSlide(eot), 'SLIDE_UNREADABLE', /a-0\.dcm is truncated: frame 12 of 12/);
  });

  it('a corrupt JPEG frame: SLIDE_UNREADABLE naming the file, tile and frame', async () => {
    const dir = join(tmp, 'corrupt');
    mkdirSync(dir);
    const bytes = readFileSync(join(tmp, 'b', 'b-0.dcm'));
    // Overwrite the middle of the last frame's entropy-coded data and its EOI with garbage markers.
    bytes.fill(0xff, bytes.length - 400, bytes.length - 8);
    writeFileSync(join(dir, 'b-0.dcm'), bytes);
    const s = await openSlide(join(dir, 'b-0.dcm'), { probe: false, smallestLevelSize: 0 });
    try {
      await expectSdsError(s.readRegion(0, 100, 100, 100, 50), 'SLIDE_UNREADABLE', /b-0\.dcm: tile \(1, 1\) of level 0 \(frame 4\) cannot be decoded \(JPEG\)/);
    } finally {
      await s.close();
    }
  });

  it('a file of another SOP class: SLIDE_UNSUPPORTED naming the class; a folder of only such files too', async () => {
    await expectSdsError(openSlide(join(dirA, 'ct.dcm')), 'SLIDE_UNSUPPORTED', /SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2 \(CT Image\), not a VL Whole Slide Microscopy Image/);
    const dir = join(tmp, 'ct-only');
    mkdirSync(dir);
    copyFileSync(join(dirA, 'ct.dcm'), join(dir, 'ct.dcm'));
    await expectSdsError(openSlide(dir), 'SLIDE_UNSUPPORTED', /none is a VL Whole Slide Microscopy Image/);
  });

  it('an unsupported transfer syntax: SLIDE_UNSUPPORTED naming it', async () => {
    const dir = join(tmp, 'lossless-jpeg');
    mkdirSync(dir);
    writeDicomInstance(join(dir, 'x.dcm'), {
      ...base('1.2.826.0.1.3680043.9.7433.30.1', '1.2.826.0.1.3680043.9.7433.30'),
      transferSyntax: TS.jpegLossless,
      width: 16,
      height: 16,
      tileWidth: 16,
      tileHeight: 16,
      photometric: 'RGB',
      frames: [Uint8Array.of(0xff, 0xd8, 0xff, 0xd9)],
    });
    await expectSdsError(openSlide(join(dir, 'x.dcm')), 'SLIDE_UNSUPPORTED', /transfer syntax 1\.2\.840\.10008\.1\.2\.4\.57 \(JPEG lossless\)/);
  });

  it('a series without any VOLUME instance (only its label): SLIDE_UNREADABLE saying so', async () => {
    const dir = join(tmp, 'label-only');
    mkdirSync(dir);
    copyFileSync(join(dirA, 'a-label.dcm'), join(dir, 'a-label.dcm'));
    await expectSdsError(openSlide(dir), 'SLIDE_UNREADABLE', /no pyramid level \(no instance with ImageType VOLUME\); it holds ORIGINAL\\PRIMARY\\LABEL\\NONE/);
  });

  it('sizes a few header bytes claim are refused before anything is allocated (SLIDE_TOO_LARGE / SLIDE_UNREADABLE, fast)', async () => {
    const dir = join(tmp, 'claims');
    mkdirSync(dir);
    const frame = [Uint8Array.of(0xff, 0xd8, 0xff, 0xd9)];
    const spec = { seriesUid: '1.2.826.0.1.3680043.9.7433.40', transferSyntax: TS.jpeg, photometric: 'YBR_FULL_422', frames: frame };
    // A sparse grid of 2e9 x 2e9 px in 16 px frames: 1.6e16 tiles.
    writeDicomInstance(join(dir, 'grid.dcm'), { ...spec, sopInstanceUid: '1.2.826.0.1.3680043.9.7433.40.1', width: 2e9, height: 2e9, tileWidth: 16, tileHeight: 16, organization: 'TILED_SPARSE', positions: [{ column: 1, row: 1 }] });
    await expectSdsError(openSlide(join(dir, 'grid.dcm')), 'SLIDE_TOO_LARGE', /grid of .* tiles, more than the 16777216/);
    // 65535 x 65535 px frames (12 GiB each as RGB).
    writeDicomInstance(join(dir, 'frame.dcm'), { ...spec, sopInstanceUid: '1.2.826.0.1.3680043.9.7433.40.2', seriesUid: '1.2.826.0.1.3680043.9.7433.41', width: 65535, height: 65535, tileWidth: 65535, tileHeight: 65535 });
    await expectSdsError(openSlide(join(dir, 'frame.dcm')), 'SLIDE_TOO_LARGE', /frame\.dcm: one 65535x65535 frame is 4294\.8 Mpx, more than the 16\.8 Mpx/);
    // A billion frames declared, one stored, no offset table.
    writeDicomInstance(join(dir, 'frames.dcm'), { ...spec, sopInstanceUid: '1.2.826.0.1.3680043.9.7433.40.3', seriesUid: '1.2.826.0.1.3680043.9.7433.42', width: 16, height: 16, tileWidth: 16, tileHeight: 16, declaredFrames: 1e9, offsetTable: 'none' });
    await expectSdsError(openSlide(join(dir, 'frames.dcm')), 'SLIDE_UNREADABLE', /1 fragments for 1000000000 frames and no offset table/);
  });

  it('not DICOM at all: a file without the DICM magic is not taken for DICOM', async () => {
    const path = join(tmp, 'fake.dcm');
    writeFileSync(path, new Uint8Array(300));
    const err = await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /not a DICOM file: no "DICM" at byte 128/);
    expect(err.message).toContain('fake.dcm');
  });
});
