/**
 * 3DHISTECH MIRAX (.mrxs) against OpenSlide 3.4.1, on small slides written in the documented layout
 * (test/support/slide-writers/mrxs.ts): 3x3 camera photos of 2x2 images (128x96) at jittered positions with
 * overlaps, one photo never scanned, levels stored as JPEG, PNG and BMP24, associated label/macro/thumbnail;
 * variants with the zlib StitchingIntensityLayer, without positions (a regular grid), and with positions that
 * are fractional at reduced levels. Truth: openslide-show-properties and openslide-write-png (skipped with a
 * message when absent), python3-openslide for associated images where installed, and analytic values.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSlides, openSlide, type Slide } from '../../../slide/index.js';
import { writeMirax, type MiraxSpec, type Rgb, type WrittenMirax } from '../../support/slide-writers/mrxs.js';
import { expectSdsError } from '../../support/slide-expect.js';

const CMU = fileURLToPath(new URL('../../../../shared/slides/CMU-1-Small-Region.svs', import.meta.url));
const haveCmu = existsSync(CMU);
if (!haveCmu) console.warn(`mrxs: ${CMU} absent: the test slides are cut from a synthetic texture instead of real tissue`);

function has(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const haveOpenSlide = has('openslide-show-properties', ['--version']) && has('openslide-write-png', ['--version']);
if (!haveOpenSlide) console.warn('mrxs: OpenSlide cross-checks SKIPPED (openslide-show-properties / openslide-write-png not installed: apt-get install openslide-tools)');
const PYTHON = '/usr/bin/python3';
const havePyOpenSlide = has(PYTHON, ['-c', 'import openslide']);
if (!havePyOpenSlide) console.warn('mrxs: python3-openslide absent: associated images are checked against their stored JPEGs only');

const tmp = mkdtempSync(join(tmpdir(), 'sds-mrxs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The main slide: photo (px, py) at (8 + 228 px, 4 + 172 py) + jitter (multiples of 4, so every level is whole
// pixels), photo 5 (right column, middle row) never scanned; each photo's content cut a little off its position.
const IW = 128;
const IH = 96;
const JITTER: [number, number][] = [[0, 0], [4, -4], [-4, 4], [4, 0], [0, 4], [-4, -4], [0, -4], [4, 4], [-4, 0]];
const MISSING = 5;
const positionsOf = (extra: (i: number) => [number, number] = () => [0, 0]) =>
  JITTER.map(([jx, jy], i): [number, number] | undefined => (i === MISSING ? undefined : [8 + (i % 3) * 228 + jx + extra(i)[0], 4 + Math.floor(i / 3) * 172 + jy + extra(i)[1]]));
const POSITIONS = positionsOf();

let source: Rgb;
let main: WrittenMirax;
let stitching: WrittenMirax;
let grid: WrittenMirax;
let fractional: WrittenMirax;

function baseSpec(name: string): MiraxSpec {
  return {
    dir: tmp,
    name,
    imageWidth: IW,
    imageHeight: IH,
    divisions: 2,
    photosAcross: 3,
    photosDown: 3,
    positions: POSITIONS,
    shift: (p) => [(p * 7) % 11, (p * 5) % 9],
    source,
    levels: ['JPEG', 'PNG', 'BMP24'],
    positionLayer: 'vimslide',
    overlap: [16, 12],
    mpp: 0.2325,
    objective: 20,
    fillBgr: 0xe0f0ff,
    bom: true,
    pages: 2,
  };
}

beforeAll(async () => {
  if (haveCmu) {
    const cmu = await openSlide(CMU);
    source = { width: 800, height: 600, data: await cmu.readRegion(0, 600, 900, 800, 600) };
    await cmu.close();
  } else {
    const data = new Uint8Array(800 * 600 * 3);
    for (let i = 0; i < 800 * 600; i++) {
      const x = i % 800;
      const y = Math.floor(i / 800);
      data.set([128 + 100 * Math.sin(x / 13), 128 + 100 * Math.cos(y / 17), (x * y) % 251], i * 3);
    }
    source = { width: 800, height: 600, data };
  }
  const cut = (x: number, y: number, width: number, height: number): Rgb => {
    const data = new Uint8Array(width * height * 3);
    for (let j = 0; j < height; j++) data.set(source.data.subarray(((y + j) * source.width + x) * 3, ((y + j) * source.width + x + width) * 3), j * width * 3);
    return { width, height, data };
  };
  main = await writeMirax({ ...baseSpec('main'), associated: { label: cut(0, 0, 60, 40), macro: cut(100, 100, 100, 30), thumbnail: cut(200, 200, 92, 69) } });
  stitching = await writeMirax({ ...baseSpec('stitching'), positionLayer: 'stitching' });
  grid = await writeMirax({ ...baseSpec('grid'), positionLayer: 'none', overlap: [0, 0], positions: JITTER.map((_, i) => (i === MISSING ? undefined : [(i % 3) * 2 * IW, Math.floor(i / 3) * 2 * IH])) });
  // Positions off the multiples of 4: fractional at levels 1 and 2, where OpenSlide resamples.
  fractional = await writeMirax({ ...baseSpec('fractional'), positions: positionsOf((i) => [(i * 3) % 4, (i * 5) % 4]) });
});

async function withSlide<T>(path: string, fn: (s: Slide) => Promise<T>): Promise<T> {
  const slide = await openSlide(path);
  try {
    return await fn(slide);
  } finally {
    await slide.close();
  }
}

function mad(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** openslide-write-png of a region, as RGB with transparent (unpainted) pixels white, as sds shows them. */
async function openSlidePng(path: string, level: number, x: number, y: number, w: number, h: number): Promise<Uint8Array> {
  const out = join(tmp, `ref-${level}-${x}-${y}.png`);
  execFileSync('openslide-write-png', [path, String(x), String(y), String(level), String(w), String(h), out]);
  const { data } = await sharp(out).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = data[i * 4 + 3] === 0 ? 255 : data[i * 4 + c]!;
  return rgb;
}

function openSlideProperties(path: string): Record<string, string> {
  const out = execFileSync('openslide-show-properties', [path], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((line) => /^(.*?): '(.*)'$/.exec(line)!.slice(1, 3) as [string, string]));
}

/** A stored image of the written slide, decoded from its bytes (sharp), as RGB. */
async function storedImage(slide: WrittenMirax, part: { file: string; offset: number; length: number }): Promise<Rgb> {
  const bytes = readFileSync(join(slide.folder, part.file)).subarray(part.offset, part.offset + part.length);
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function crop(image: Rgb, x: number, y: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let j = 0; j < h; j++) out.set(image.data.subarray(((y + j) * image.width + x) * 3, ((y + j) * image.width + x + w) * 3), j * w * 3);
  return out;
}


/** A fresh copy of the main slide to damage. */
function copyOfMain(name: string): { mrxs: string; folder: string } {
  const mrxs = join(tmp, `${name}.mrxs`);
  const folder = join(tmp, name);
  cpSync(main.mrxs, mrxs);
  cpSync(main.folder, folder, { recursive: true });
  return { mrxs, folder };
}

describe('MIRAX: what the slide says', () => {
  it('levels, MPP, objective, bounds and background from Slidedat.ini and the positions (analytic)', async () => {
    await withSlide(main.mrxs, async (s) => {
      expect(s.info.vendor).toBe('mirax');
      // Level 0: 6 images of 128 less the overlap (16) of each photo's last image but the slide's last: 736; 552 likewise.
      expect(s.levels.filter((l) => !l.virtual).map((l) => [l.width, l.height, l.downsample, l.compression])).toEqual([
        [736, 552, 1, 'JPEG'],
        [368, 276, 2, 'PNG'],
        [184, 138, 4, 'BMP'],
      ]);
      expect(s.mpp).toEqual({ x: 0.2325, y: 0.2325 });
      expect(s.magnification).toBe(20);
      const scanned = POSITIONS.filter((p): p is [number, number] => p !== undefined);
      const x = Math.min(...scanned.map((p) => p[0]));
      const y = Math.min(...scanned.map((p) => p[1]));
      const p = s.info.properties;
      expect([p['openslide.bounds-x'], p['openslide.bounds-y'], p['openslide.bounds-width'], p['openslide.bounds-height']]).toEqual(
        [x, y, Math.max(...scanned.map((q) => q[0] + 2 * IW)) - x, Math.max(...scanned.map((q) => q[1] + 2 * IH)) - y].map(String),
      );
      expect(p['openslide.background-color']).toBe('FFF0E0'); // IMAGE_FILL_COLOR_BGR 0xE0F0FF
      // Every Slidedat key as mirax.GROUP.KEY, trimmed around '=', the BOM gone.
      expect(p['mirax.GENERAL.SLIDE_ID']).toBe(main.slideId);
      expect(p['mirax.GENERAL.SLIDE_NAME']).toBe('main');
      expect(p['mirax.LAYER_0_LEVEL_2_SECTION.IMAGE_FORMAT']).toBe('BMP24');
      expect(s.associated.map((a) => [a.name, a.width, a.height, a.compression]).sort()).toEqual([
        ['label', 60, 40, 'JPEG'],
        ['macro', 100, 30, 'JPEG'],
        ['thumbnail', 92, 69, 'JPEG'],
      ]);
    });
  });

  it.skipIf(!haveOpenSlide)('properties equal openslide-show-properties (vendor mirax, levels, MPP, bounds, every mirax.* key)', async () => {
    for (const slide of [main, stitching, grid]) {
      const theirs = openSlideProperties(slide.mrxs);
      await withSlide(slide.mrxs, async (s) => {
        const ours = s.info.properties;
        expect(theirs['openslide.vendor']).toBe('mirax');
        for (const [key, value] of Object.entries(theirs)) {
          if (key === 'openslide.quickhash-1') continue; // not computed by sds
          // OpenSlide prints MIRAX MPPs with 17 significant digits (0.23250000000000001): the same double.
          if (key.startsWith('openslide.mpp-')) expect(Number(ours[key]), key).toBe(Number(value));
          else expect(ours[key], key).toBe(value);
        }
        const miraxKeys = (props: Record<string, string>) => Object.keys(props).filter((k) => k.startsWith('mirax.')).sort();
        expect(miraxKeys(ours)).toEqual(miraxKeys(theirs));
      });
    }
    // Positions on a regular grid: OpenSlide states the images as tiles, and so does sds.
    expect(openSlideProperties(grid.mrxs)['openslide.level[0].tile-width']).toBe(String(IW));
  });

  it.skipIf(!haveOpenSlide)('Slidedat.ini is read as GLib reads it for OpenSlide: blanks, raw escapes, "==", trailing text after a number, groups after blanks', async () => {
    const { mrxs, folder } = copyOfMain('keyfile');
    const ini = join(folder, 'Slidedat.ini');
    const text = readFileSync(ini, 'latin1')
      .replace('SLIDE_NAME = main', 'SLIDE_NAME = main  \t\r\n  EXTRA_KEY\t=\t  a\\sb\\n c ;x\r\n   # indented comment')
      .replace('OBJECTIVE_MAGNIFICATION = 20', 'OBJECTIVE_MAGNIFICATION = 20 x');
    writeFileSync(ini, Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from('\r\n   [WEIRD GROUP]   \r\nK==v\r\nK2 = \u00b5m\n', 'utf8')]));
    const theirs = openSlideProperties(mrxs);
    await withSlide(mrxs, async (s) => {
      for (const key of ['mirax.GENERAL.SLIDE_NAME', 'mirax.GENERAL.EXTRA_KEY', 'mirax.GENERAL.OBJECTIVE_MAGNIFICATION', 'mirax.WEIRD GROUP.K', 'mirax.WEIRD GROUP.K2', 'openslide.objective-power']) {
        expect(theirs[key], key).toBeDefined();
        expect(s.info.properties[key], key).toBe(theirs[key]);
      }
      expect(s.info.properties['mirax.GENERAL.SLIDE_NAME']).toBe('main  \t');
    });
  });

  it('the grid variant (no positions, no overlap) uses the images as tiles; the others a 512 grid', async () => {
    await withSlide(grid.mrxs, async (s) => expect(s.levels.filter((l) => !l.virtual).map((l) => [l.width, l.height, l.tileWidth, l.tileHeight])).toEqual([[768, 576, IW, IH], [384, 288, IW, IH], [192, 144, IW, IH]]));
    await withSlide(main.mrxs, async (s) => expect(s.levels[0]!.tileWidth).toBe(512));
  });
});

describe('MIRAX: pixels', () => {
  it('in an overlap the photo of the lower row is drawn (OpenSlide paints from the highest key down, first paint stays); tile 0 holds data, the unscanned photo is empty', async () => {
    // Photo 3 (row 1, images (0..1, 2..3)) at (12, 176) overlaps photo 0 (row 0, image (0, 1) at (8, 100)) for y 176..196.
    const [x3, y3] = POSITIONS[3]!;
    const [x0, y0] = POSITIONS[0]!;
    expect([x3, y3, x0, y0]).toEqual([12, 176, 8, 4]);
    const at = (level: number, x: number, y: number) => main.images.find((i) => i.level === level && i.x === x && i.y === y)!;
    const photo3 = await storedImage(main, at(0, 0, 2));
    const photo0 = await storedImage(main, at(0, 0, 1));
    await withSlide(main.mrxs, async (s) => {
      const region = await s.readRegion(0, x3, y3, IW, 20);
      expect(mad(region, crop(photo3, 0, 0, IW, 20))).toBe(0);
      // The two photos disagree there (a stitching error), so the rule is visible.
      expect(mad(crop(photo3, 0, 0, IW - 4, 20), crop(photo0, x3 - x0, y3 - (y0 + IH), IW - 4, 20))).toBeGreaterThan(5);
      // Photo 5 (x 464..720, y 172..364 nominal) was never scanned: nothing stored where only it would be.
      const gap = await s.readRegion(0, 600, 290, 100, 20);
      expect(gap.every((v) => v === 255)).toBe(true);
    });
  });

  it.skipIf(!haveOpenSlide)('whole levels 0 (JPEG), 1 (PNG) and 2 (BMP24, images cut per photo) equal openslide-write-png: MAD 0', async () => {
    await withSlide(main.mrxs, async (s) => {
      for (const [level, w, h] of [[0, 736, 552], [1, 368, 276], [2, 184, 138]] as const) {
        expect(mad(await s.readRegion(level, 0, 0, w, h), await openSlidePng(main.mrxs, level, 0, 0, w, h)), `level ${level}`).toBe(0);
      }
      // A region off the origin, across image borders and the corner where four photos overlap (x ~236..264, y ~176..196).
      expect(mad(await s.readRegion(0, 200, 150, 300, 200), await openSlidePng(main.mrxs, 0, 200, 150, 300, 200))).toBe(0);
      expect(mad(await s.readRegion(1, 200, 150, 150, 100), await openSlidePng(main.mrxs, 1, 200, 150, 150, 100))).toBe(0);
    });
  });

  it.skipIf(!haveOpenSlide)('StitchingIntensityLayer (zlib positions) and the position-less grid equal openslide-write-png: MAD 0', async () => {
    for (const [slide, w, h] of [[stitching, 736, 552], [grid, 768, 576]] as const) {
      await withSlide(slide.mrxs, async (s) => {
        expect(mad(await s.readRegion(0, 0, 0, w, h), await openSlidePng(slide.mrxs, 0, 0, 0, w, h))).toBe(0);
        expect(mad(await s.readRegion(2, 0, 0, w / 4, h / 4), await openSlidePng(slide.mrxs, 2, 0, 0, w / 4, h / 4))).toBe(0);
      });
    }
  });

  it.skipIf(!haveOpenSlide)('positions fractional at reduced levels: level 0 exact; level 2 within 6 (OpenSlide resamples bilinearly, sds snaps to the nearest pixel)', async () => {
    await withSlide(fractional.mrxs, async (s) => {
      expect(mad(await s.readRegion(0, 0, 0, 736, 552), await openSlidePng(fractional.mrxs, 0, 0, 0, 736, 552))).toBe(0);
      const d = mad(await s.readRegion(2, 0, 0, 184, 138), await openSlidePng(fractional.mrxs, 2, 0, 0, 184, 138));
      expect(d).toBeGreaterThan(0); // measured 4.2
      expect(d).toBeLessThan(6);
    });
  });

  it('associated images equal their stored JPEGs; and OpenSlide’s (python3-openslide) where installed: MAD 0', async () => {
    await withSlide(main.mrxs, async (s) => {
      for (const name of ['label', 'macro', 'thumbnail']) {
        const ours = await s.readAssociated(name);
        expect(mad(ours.data, (await storedImage(main, main.associated[name]!)).data), name).toBe(0);
        if (havePyOpenSlide) {
          const out = join(tmp, `assoc-${name}.png`);
          execFileSync(PYTHON, ['-c', `import openslide,sys; openslide.OpenSlide(sys.argv[1]).associated_images[sys.argv[2]].convert('RGB').save(sys.argv[3])`, main.mrxs, name, out]);
          const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
          expect([info.width, info.height]).toEqual([ours.width, ours.height]);
          expect(mad(ours.data, new Uint8Array(data)), name).toBe(0);
        }
      }
    });
  });
});

describe('MIRAX: folders', () => {
  it('a folder scan lists the .mrxs once and not its data folder; the data folder opens as the slide', async () => {
    const dir = join(tmp, 'scan');
    cpSync(main.mrxs, join(dir, 'slide.mrxs'));
    cpSync(main.folder, join(dir, 'slide'), { recursive: true });
    writeFileSync(join(dir, 'lonely.mrxs'), 'no data folder');
    const listed = await listSlides(dir);
    expect(listed).toEqual([join(dir, 'lonely.mrxs'), join(dir, 'slide.mrxs')]); // the lonely one is listed, to fail with its reason
    const viaFolder = await withSlide(join(dir, 'slide'), async (s) => s.levels.map((l) => [l.width, l.height]));
    expect(viaFolder).toEqual(await withSlide(join(dir, 'slide.mrxs'), async (s) => s.levels.map((l) => [l.width, l.height])));
    await expectSdsError(openSlide(join(dir, 'lonely.mrxs')), 'SLIDE_UNREADABLE', /lonely\.mrxs has no data folder/);
  });
});

describe('MIRAX: damaged slides fail clearly', () => {
  it('a missing data file (Data0001.dat) fails at open, naming it', async () => {
    const { mrxs, folder } = copyOfMain('no-data1');
    unlinkSync(join(folder, 'Data0001.dat'));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /no-data1\.mrxs: no-data1\/Data0001\.dat is missing/);
  });

  it('a missing Index.dat fails at open, naming it', async () => {
    const { mrxs, folder } = copyOfMain('no-index');
    unlinkSync(join(folder, 'Index.dat'));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /no-index\/Index\.dat is missing/);
  });

  it('a broken Slidedat.ini fails at open, naming the file and the line or key', async () => {
    const { mrxs, folder } = copyOfMain('bad-ini');
    const ini = join(folder, 'Slidedat.ini');
    const text = readFileSync(ini, 'utf8');
    writeFileSync(ini, text.replace('[DATAFILE]', 'this line is garbage\r\n[DATAFILE]'));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /bad-ini\/Slidedat\.ini: line \d+ is neither a \[group\], a key=value pair nor a comment/);
    writeFileSync(ini, text.replace(/IMAGENUMBER_X = \d+\r\n/, ''));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /bad-ini\/Slidedat\.ini: \[GENERAL\] has no IMAGENUMBER_X/);
    writeFileSync(ini, text.replace('IMAGE_FORMAT = PNG', 'IMAGE_FORMAT = TIFF'));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNSUPPORTED', /IMAGE_FORMAT is "TIFF"; MIRAX images are JPEG, PNG or BMP24/);
    writeFileSync(ini, text.replace('FILE_1 = Data0001.dat', 'FILE_1 = ../../main/Data0001.dat'));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /names the file "\.\.\/\.\.\/main\/Data0001\.dat", which is not inside the data folder bad-ini\//);
  });

  it('a truncated data file fails at open, naming the file and the image cut off', async () => {
    const { mrxs, folder } = copyOfMain('cut-data');
    const data1 = join(folder, 'Data0001.dat');
    truncateSync(data1, Math.floor(readFileSync(data1).length / 2));
    // The positions (stored last in Data0001.dat) are read first; the level-0 images there are checked next.
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /cut-data\/Data0001\.dat is truncated: the camera position record lies at bytes \d+\.\.\d+, the file has \d+/);
    const data0 = join(folder, 'Data0000.dat');
    truncateSync(data0, main.images.find((i) => i.level === 2)!.offset + 10);
    cpSync(join(main.folder, 'Data0001.dat'), data1);
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /cut-data\/Data0000\.dat is truncated: (the \w+ image|image \(\d+, \d+\) of zoom level [12]) lies at bytes \d+\.\.\d+, the file has \d+/);
  });

  it('a truncated or foreign Index.dat fails at open', async () => {
    const { mrxs, folder } = copyOfMain('cut-index');
    const index = join(folder, 'Index.dat');
    const bytes = readFileSync(index);
    writeFileSync(index, bytes.subarray(0, 200));
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /cut-index\/Index\.dat: .* lies outside the file \(200 bytes\)/);
    const foreign = Buffer.from(bytes);
    foreign.write('0', 5, 'latin1');
    writeFileSync(index, foreign);
    await expectSdsError(openSlide(mrxs), 'SLIDE_UNREADABLE', /Index\.dat: its slide identifier does not match/);
  });

  it('an undecodable level-0 image: the slide opens, the read fails naming the data file and the image', async () => {
    const { mrxs, folder } = copyOfMain('bad-jpeg');
    const first = main.images.find((i) => i.level === 0 && i.x === 0 && i.y === 0)!;
    const data1 = join(folder, first.file);
    const bytes = readFileSync(data1);
    bytes.fill(0x42, first.offset + 2, first.offset + first.length); // keep SOI, garble the rest
    writeFileSync(data1, bytes);
    await withSlide(mrxs, async (s) => {
      await expectSdsError(s.readRegion(0, 0, 0, 64, 64), 'SLIDE_UNREADABLE', /bad-jpeg\/Data0001\.dat: image \(0, 0\) of zoom level 0 \(bytes \d+\.\.\d+\) cannot be decoded \(JPEG\)/);
    });
  });
});
