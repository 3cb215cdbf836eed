/**
 * OME-TIFF (vendor 'ome-tiff'): tifffile's SubIFD pyramid against its truth file (levels, MPP, six regions equal to
 * the expected PNGs, white outside the image), and OME-TIFFs written here over known pixels in the other layouts:
 * separate-directory pyramids (as further Images and as unclaimed directories), three single-sample channel
 * directories, RGB in separate planes of one directory (Interleaved="false", Zstandard, BigTIFF), strips,
 * label/macro Images, MPP in other units; then OME-XML that lies and layouts sds refuses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSlide, type Slide } from '../../../slide/index.js';
import { checkRegion, FORMATS_DIR, loadTruth, mad } from '../../support/format-truth.js';
import { buildTiff } from '../../support/hostile-tiff.js';
import { channelIfd, omeXml, planarIfd, pyramid, rgbIfd, rgbStrips, tiffWithSubIfds, type OmeImageXml } from '../../support/slide-writers/ome-tiff.js';
import { crop, pattern, type Rgb } from '../../support/slide-writers/tiff-pieces.js';
import { expectSdsError, withStoredLevels } from '../../support/slide-expect.js';

const tmp = mkdtempSync(join(tmpdir(), 'sds-ome-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}


/** Every stored level read whole equals the pixels written, and a region over the bottom-right corner is white outside. */
async function expectPixels(slide: Slide, levels: Rgb[]): Promise<void> {
  expect(slide.levels.map((l) => [l.width, l.height])).toEqual(levels.map((l) => [l.width, l.height]));
  for (const [i, img] of levels.entries()) {
    const whole = await slide.readRegion(i, 0, 0, img.width, img.height);
    expect(mad(whole, img.data), `level ${i}`).toBe(0);
    // 20 px past the bottom-right corner (level-0 coordinates of the level's point (w - 10, h - 10)).
    const ds = slide.levels[i]!.downsample;
    const corner = await slide.readRegion(i, Math.round((img.width - 10) * ds), Math.round((img.height - 10) * ds), 20, 20);
    expect(mad(corner, crop(img, img.width - 10, img.height - 10, 20, 20, 255)), `level ${i} corner`).toBe(0);
  }
}


const TIFFFILE = 'tifffile-ome-deflate.ome.tif';
const truth = loadTruth(TIFFFILE);

describe.skipIf(!truth)(`${TIFFFILE} (tifffile, pyramid in SubIFDs) against its truth file`, () => {
  const path = join(FORMATS_DIR, TIFFFILE);

  it('vendor ome-tiff, the three levels with their downsamples, MPP 0.499 from OME-XML, ome.* properties', async () => {
    await withStoredLevels(path, async (s) => {
      expect(s.info.vendor).toBe('ome-tiff');
      expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual(truth!.levels.map((l) => [l.width, l.height, l.downsample]));
      expect(s.levels.map((l) => [l.tileWidth, l.tileHeight, l.compression])).toEqual(truth!.levels.map(() => [256, 256, 'Deflate']));
      // Exactly the XML's 0.499 (the resolution tags, in pixels per cm, give 0.4990003...).
      expect(s.mpp).toEqual({ x: truth!.mpp.x, y: truth!.mpp.y });
      expect(s.info.properties).toMatchObject({
        'openslide.vendor': 'ome-tiff',
        'openslide.mpp-x': '0.499',
        'openslide.level-count': '3',
        'ome.PhysicalSizeX': '0.499',
        'ome.PhysicalSizeXUnit': 'µm',
        'ome.SizeC': '3',
        'ome.Image.Name': TIFFFILE,
        'ome.Creator': 'tifffile.py 2023.2.3',
      });
      expect(s.associated).toEqual([]);
    });
  });

  it.each((truth?.regions ?? []).map((r, k) => [k, r] as const))('region %i equals its PNG (MAD 0), white outside the image', async (_k, region) => {
    await withStoredLevels(path, async (s) => {
      const { mad: d } = await checkRegion(s, region);
      expect(d).toBe(0);
    });
  });
});

// --- OME-TIFFs written here over known pixels ---
const base = pattern(300, 200, 5);
const levels = pyramid(base, 3); // 300x200, 150x100, 75x50
const label = pattern(60, 40, 9);
const macro = pattern(100, 50, 11);
const UM = 'PhysicalSizeX="0.25" PhysicalSizeY="0.25"';
const rgbImage = (extra: Partial<OmeImageXml> = {}): OmeImageXml => ({ name: 'slide', sizeX: 300, sizeY: 200, physical: UM, tiffData: '<TiffData IFD="0" PlaneCount="1"/>', ...extra });

describe('OME-TIFFs written here: every layout reads back the pixels written (MAD 0)', () => {
  it('pyramid in SubIFDs, label and macro Images (one stripped), MPP in nm, objective 40x', async () => {
    const description = omeXml([
      rgbImage({ physical: 'PhysicalSizeX="250" PhysicalSizeXUnit="nm" PhysicalSizeY="260" PhysicalSizeYUnit="nm"', objectiveRef: 'Objective:0' }),
      { name: 'label', sizeX: 60, sizeY: 40, tiffData: '<TiffData IFD="1" PlaneCount="1"/>' },
      { name: 'macro image', sizeX: 100, sizeY: 50, tiffData: '<TiffData IFD="2" PlaneCount="1"/>' },
    ]);
    const path = write(
      'subifd.ome.tif',
      tiffWithSubIfds({
        ifds: [{ ...rgbIfd(levels[0]!, 64, { description }), subIfds: [rgbIfd(levels[1]!, 64, { newSubfileType: 1 }), rgbIfd(levels[2]!, 32, { newSubfileType: 1 })] }, rgbStrips(label, 16), rgbIfd(macro, 32)],
      }),
    );
    await withStoredLevels(path, async (s) => {
      expect(s.info.vendor).toBe('ome-tiff');
      await expectPixels(s, levels);
      expect(s.levels.map((l) => l.downsample)).toEqual([1, 2, 4]);
      expect(s.mpp!.x).toBeCloseTo(0.25, 12);
      expect(s.mpp!.y).toBeCloseTo(0.26, 12);
      expect(s.magnification).toBe(40);
      expect(s.info.properties).toMatchObject({ 'ome.PhysicalSizeXUnit': 'nm', 'ome.Objective.NominalMagnification': '40', 'openslide.objective-power': '40', 'ome.ImageCount': '3' });
      expect(s.associated.map((a) => [a.name, a.width, a.height])).toEqual([
        ['label', 60, 40],
        ['macro', 100, 50],
      ]);
      expect(mad((await s.readAssociated('label')).data, label.data)).toBe(0);
      expect(mad((await s.readAssociated('macro')).data, macro.data)).toBe(0);
    });
  });

  it('older layout: reductions as further Images of the main chain, and as directories no Image claims', async () => {
    const asImages = omeXml([
      rgbImage(),
      { name: 'slide resolution 1', sizeX: 150, sizeY: 100, tiffData: '<TiffData IFD="1" PlaneCount="1"/>' },
      { name: 'label', sizeX: 60, sizeY: 40, tiffData: '<TiffData IFD="2" PlaneCount="1"/>' },
      { name: 'slide resolution 2', sizeX: 75, sizeY: 50, tiffData: '<TiffData IFD="3" PlaneCount="1"/>' },
    ]);
    const images = write('images.ome.tif', buildTiff({ ifds: [rgbIfd(levels[0]!, 64, { description: asImages }), rgbIfd(levels[1]!, 64), rgbIfd(label, 32), rgbIfd(levels[2]!, 32)] }));
    await withStoredLevels(images, async (s) => {
      await expectPixels(s, levels);
      expect(s.associated.map((a) => a.name)).toEqual(['label']);
    });
    // Unclaimed: only Image 0 (and its label) are in the XML; the reduced directories follow in the chain.
    const unclaimed = omeXml([rgbImage(), { name: 'label', sizeX: 60, sizeY: 40, tiffData: '<TiffData IFD="3" PlaneCount="1"/>' }]);
    const chain = write('chain.ome.tif', buildTiff({ ifds: [rgbIfd(levels[0]!, 64, { description: unclaimed }), rgbIfd(levels[2]!, 32), rgbIfd(levels[1]!, 64), rgbIfd(label, 32)] }));
    await withStoredLevels(chain, async (s) => {
      await expectPixels(s, levels);
      expect(s.associated.map((a) => a.name)).toEqual(['label']);
    });
  });

  it('SizeC=3 as three single-sample channel directories (Deflate, predictor 2), each with its SubIFD pyramid', async () => {
    const description = omeXml([{ name: 'brightfield', sizeX: 300, sizeY: 200, layout: 'channels', physical: UM, tiffData: '<TiffData IFD="0" PlaneCount="3"/>' }]);
    const channels = [0, 1, 2].map((c) => ({
      ...channelIfd(levels[0]!, c, 64, c === 0 ? { description } : {}),
      subIfds: [channelIfd(levels[1]!, c, 64), channelIfd(levels[2]!, c, 32)],
    }));
    const path = write('channels.ome.tif', tiffWithSubIfds({ ifds: channels }));
    await withStoredLevels(path, async (s) => {
      await expectPixels(s, levels);
      expect(s.levels[0]!.compression).toBe('Deflate, separate R/G/B planes');
      expect(s.mpp).toEqual({ x: 0.25, y: 0.25 });
    });
  });

  it('Interleaved="false": RGB in separate planes of one directory (PlanarConfiguration 2, Zstandard, predictor 2), BigTIFF, SubIFDs', async () => {
    const description = omeXml([rgbImage({ interleaved: false })]);
    const path = write('planar.ome.tif', tiffWithSubIfds({ bigTiff: true, ifds: [{ ...planarIfd(levels[0]!, 64, { description }), subIfds: [planarIfd(levels[1]!, 64), planarIfd(levels[2]!, 32)] }] }));
    await withStoredLevels(path, async (s) => {
      await expectPixels(s, levels);
      expect(s.levels[0]!.compression).toBe('Zstandard, separate R/G/B planes');
    });
  });

  it('a stripped image is a level (strips of 48 rows, the last one short); the pyramid below it in SubIFDs', async () => {
    const description = omeXml([rgbImage()]);
    const path = write('strips.ome.tif', tiffWithSubIfds({ ifds: [{ ...rgbStrips(levels[0]!, 48, { description }), subIfds: [rgbStrips(levels[1]!, 48), rgbIfd(levels[2]!, 32)] }] }));
    await withStoredLevels(path, async (s) => {
      await expectPixels(s, levels);
      expect(s.levels.map((l) => [l.tileWidth, l.tileHeight])).toEqual([
        [300, 48],
        [150, 48],
        [32, 32],
      ]);
    });
  });

  it.each([
    ['µm by default', 'PhysicalSizeX="0.5" PhysicalSizeY="0.5"', { x: 0.5, y: 0.5 }],
    ['mm', 'PhysicalSizeX="0.0005" PhysicalSizeXUnit="mm" PhysicalSizeY="0.0004" PhysicalSizeYUnit="mm"', { x: 0.5, y: 0.4 }],
    ['cm', 'PhysicalSizeX="0.00005" PhysicalSizeXUnit="cm" PhysicalSizeY="0.00005" PhysicalSizeYUnit="cm"', { x: 0.5, y: 0.5 }],
    ['Å', 'PhysicalSizeX="2500" PhysicalSizeXUnit="Å" PhysicalSizeY="2500" PhysicalSizeYUnit="Å"', { x: 0.25, y: 0.25 }],
    ['m, exponent', 'PhysicalSizeX="2.5e-7" PhysicalSizeXUnit="m" PhysicalSizeY="2.5E-7" PhysicalSizeYUnit="m"', { x: 0.25, y: 0.25 }],
  ])('MPP from PhysicalSize in %s', async (_unit, physical, mpp) => {
    const path = write('units.ome.tif', buildTiff({ ifds: [rgbIfd(levels[2]!, 32, { description: omeXml([rgbImage({ sizeX: 75, sizeY: 50, physical })]) })] }));
    await withStoredLevels(path, async (s) => {
      expect(s.mpp!.x).toBeCloseTo(mpp.x, 12);
      expect(s.mpp!.y).toBeCloseTo(mpp.y, 12);
    });
  });
});

describe('OME-XML that lies, and layouts sds refuses', () => {
  // Resolution tags saying 0.5 µm: where the XML states a size that is not a length, they are not used either.
  const resolution = { tags: [{ tag: 282, type: 5, values: [20000, 1] }, { tag: 283, type: 5, values: [20000, 1] }, { tag: 296, type: 3, values: [3] }] };

  it.each([
    ['PhysicalSize 0', 'PhysicalSizeX="0" PhysicalSizeY="0"'],
    ['negative', 'PhysicalSizeX="-0.25" PhysicalSizeY="-0.25"'],
    ['garbage', 'PhysicalSizeX="abc" PhysicalSizeY="0.25µm"'],
    ['infinite', 'PhysicalSizeX="1e999" PhysicalSizeY="1e999"'],
    ['in pixels', 'PhysicalSizeX="1" PhysicalSizeXUnit="pixel" PhysicalSizeY="1" PhysicalSizeYUnit="pixel"'],
    ['an unknown unit', 'PhysicalSizeX="0.25" PhysicalSizeXUnit="furlong" PhysicalSizeY="0.25" PhysicalSizeYUnit="furlong"'],
    ['implausible (1 m per pixel)', 'PhysicalSizeX="1" PhysicalSizeXUnit="m" PhysicalSizeY="1" PhysicalSizeYUnit="m"'],
    ['only X', 'PhysicalSizeX="0.25"'],
  ])('%s: no MPP, the pixels still read', async (_label, physical) => {
    const path = write('lying.ome.tif', buildTiff({ ifds: [rgbIfd(levels[2]!, 32, { description: omeXml([rgbImage({ sizeX: 75, sizeY: 50, physical })]), ...resolution })] }));
    await withStoredLevels(path, async (s) => {
      expect(s.info.vendor).toBe('ome-tiff');
      expect(s.mpp).toBeUndefined();
      expect(s.info.properties['openslide.mpp-x']).toBeUndefined();
      expect(mad(await s.readRegion(0, 0, 0, 75, 50), levels[2]!.data)).toBe(0);
    });
  });

  it('no PhysicalSize at all: MPP from the resolution tags (0.5 µm)', async () => {
    const path = write('nosize.ome.tif', buildTiff({ ifds: [rgbIfd(levels[2]!, 32, { description: omeXml([rgbImage({ sizeX: 75, sizeY: 50, physical: '' })]), ...resolution })] }));
    await withStoredLevels(path, async (s) => expect(s.mpp).toEqual({ x: 0.5, y: 0.5 }));
  });

  it('OME-XML that is not well-formed: opened as its first directory and SubIFDs, the reason in ome.error', async () => {
    const broken = omeXml([rgbImage()]).replace('</Pixels>', '');
    const path = write('broken.ome.tif', tiffWithSubIfds({ ifds: [{ ...rgbIfd(levels[0]!, 64, { description: broken }), subIfds: [rgbIfd(levels[1]!, 64)] }] }));
    await withStoredLevels(path, async (s) => {
      expect(s.info.vendor).toBe('ome-tiff');
      await expectPixels(s, levels.slice(0, 2));
      expect(s.info.properties['ome.error']).toMatch(/not well-formed/);
      expect(s.mpp).toBeUndefined();
    });
  });

  it('TiffData lying about counts (PlaneCount 10^12, IFD past the end) opens what is there or refuses cleanly', async () => {
    const huge = write('huge.ome.tif', buildTiff({ ifds: [rgbIfd(levels[2]!, 32, { description: omeXml([rgbImage({ sizeX: 75, sizeY: 50, tiffData: '<TiffData PlaneCount="1000000000000"/>' })]) })] }));
    await withStoredLevels(huge, async (s) => expect(mad(await s.readRegion(0, 0, 0, 75, 50), levels[2]!.data)).toBe(0));
    const past = write('past.ome.tif', buildTiff({ ifds: [rgbIfd(levels[2]!, 32, { description: omeXml([rgbImage({ tiffData: '<TiffData IFD="99" PlaneCount="1"/>' })]) })] }));
    await expectSdsError(openSlide(past), 'SLIDE_UNSUPPORTED', /past\.ome\.tif: its OME-XML puts the first plane of Image "slide" in no directory of this file/);
  });

  it('fluorescence (SizeC=5 single-sample channels) is refused, naming the channel count', async () => {
    const description = omeXml([rgbImage({ tiffData: '<TiffData/>' })]).replace('SizeC="3"', 'SizeC="5"').replace('SamplesPerPixel="3"', 'SamplesPerPixel="1"');
    const path = write('fluo.ome.tif', buildTiff({ ifds: [0, 1, 2, 3, 4].map((c) => channelIfd(levels[2]!, c % 3, 32, c === 0 ? { description } : {})) }));
    await expectSdsError(openSlide(path), 'SLIDE_UNSUPPORTED', /fluo\.ome\.tif is an OME-TIFF with 5 channels of 1 sample\(s\) each/);
  });

  it('a SubIFD pointing past the end of the file, or back at its parent: SLIDE_UNREADABLE at open', async () => {
    const description = omeXml([rgbImage()]);
    const past = write('subpast.ome.tif', buildTiff({ ifds: [rgbIfd(levels[0]!, 64, { description, tags: [{ tag: 330, type: 4, values: [50_000_000] }] })] }));
    await expectSdsError(openSlide(past), 'SLIDE_UNREADABLE', /subpast\.ome\.tif is truncated or corrupt: SubIFD 0 of TIFF directory 0 would start at byte 50000000, past the end of the file/);
    // The SubIFD's next pointer leads back to the main directory that lists it (its offset: from the header).
    const looping = (next: number) => tiffWithSubIfds({ ifds: [{ ...rgbIfd(levels[0]!, 64, { description }), subIfds: [rgbIfd(levels[1]!, 64, { next })] }] });
    const loop = write('subloop.ome.tif', looping(looping(0).readUInt32LE(4)));
    await expectSdsError(openSlide(loop), 'SLIDE_UNREADABLE', /subloop\.ome\.tif is corrupt: the SubIFDs \(tag 330\) of TIFF directory 0 point back to a directory already read \(byte \d+\): the chain loops/);
  });
});
