/**
 * Philips TIFF (issue #15): a small file in Philips' layout (test/support/slide-writers/philips.ts) read by sds and
 * by OpenSlide 3.4.1, the referee: vendor, padded levels cut to the sizes the pixel spacings give, MPP, every
 * `philips.*` property, sparse tiles as background, regions (MAD 0), label and macro. Bad files: truncated,
 * broken XML (OpenSlide falls back to generic-tiff, and so does sds), XML that does not match the pyramid.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../../slide/formats.js';
import { openSlide, TileCache } from '../../../slide/index.js';
import { writePhilipsTiff, type PhilipsSlide } from '../../support/slide-writers/philips.js';
import { haveLibOpenSlide, haveOpenSlide, mad, OPENSLIDE_MISSING, openslideAssociated, openslideProperties, openslideRegion, tissue } from '../../support/slide-writers/tiff-vendor-kit.js';
import { expectSdsError, withStoredLevels } from '../../support/slide-expect.js';

if (!haveOpenSlide) console.warn(`Philips tests: ${OPENSLIDE_MISSING}`);

const tmp = mkdtempSync(join(tmpdir(), 'sds-philips-'));
const SLIDE = join(tmp, 'philips.tiff');
let truth: PhilipsSlide;
beforeAll(async () => {
  truth = await writePhilipsTiff(SLIDE);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));



describe('Philips TIFF', () => {
  it('levels: padded TIFF sizes cut to level 0 / the whole downsample the pixel spacings give; MPP from DICOM_PIXEL_SPACING', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      expect(s.info.vendor).toBe('philips');
      // TIFF directories 1 and 2 are 256x256 and 128x128 (padded); spacings 2x and 4x level 0's.
      expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [512, 384, 1],
        [256, 192, 2],
        [128, 96, 4],
      ]);
      // "row spacing" "column spacing" in mm: x is the column spacing.
      expect(s.mpp).toEqual({ x: 0.245, y: 0.25 });
      const p = s.info.properties;
      expect(p['philips.DICOM_MANUFACTURER']).toBe('PHILIPS');
      expect(p['philips.DICOM_PIXEL_SPACING']).toBe('"0.00025" "0.000245"');
      expect(p['philips.PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE[2].DICOM_PIXEL_SPACING']).toBe('"0.001" "0.00098"');
      expect(p['philips.PIM_DP_IMAGE_TYPE']).toBe('WSI');
      // The XML is not repeated as a property, nor are the base64 images.
      expect(p['tiff.ImageDescription']).toBeUndefined();
      expect(Object.keys(p).some((k) => k.includes('PIM_DP_IMAGE_DATA'))).toBe(false);
    });
  });

  it('sparse tiles (no bytes) are background: empty without a read, white', async () => {
    const source = await openSource(SLIDE, { cache: new TileCache(1 << 20), concurrency: 2 });
    try {
      for (const [col, row] of truth.sparse) expect(source.isEmpty(0, col, row)).toBe(true);
      expect(source.isEmpty(0, 0, 0)).toBe(false);
      expect(await source.readTile(0, 3, 0)).toBeUndefined();
    } finally {
      await source.close();
    }
    await withStoredLevels(SLIDE, async (s) => {
      const region = await s.readRegion(0, 384, 0, 128, 128);
      expect(region.every((v) => v === 255)).toBe(true);
    });
  });

  it('label from the "Label" directory (it wins over the XML one), macro from the XML base64 JPEG', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      expect(s.associated.map((a) => [a.name, a.width, a.height])).toEqual([
        ['label', 90, 60],
        ['macro', 150, 60],
      ]);
      expect(mad((await s.readAssociated('label')).data, truth.label.data)).toBe(0);
      const macro = await s.readAssociated('macro');
      const jpeg = await sharp(truth.macroJpeg).raw().toBuffer();
      expect(mad(macro.data, new Uint8Array(jpeg))).toBe(0);
      // And it is the picture written (JPEG loss of a grainy picture: ~6), not another one (~25).
      expect(mad(macro.data, tissue(150, 60, 5).data)).toBeLessThan(8);
      expect(mad(macro.data, tissue(150, 60, 6).data)).toBeGreaterThan(15);
    });
  });

  it.skipIf(!haveOpenSlide)('OpenSlide 3.4.1 agrees: vendor, levels, downsamples, MPP and every philips.* property', async () => {
    const { properties: osr, ok } = openslideProperties(SLIDE);
    expect(ok).toBe(true);
    await withStoredLevels(SLIDE, async (s) => {
      const ours = s.info.properties;
      expect(osr['openslide.vendor']).toBe('philips');
      for (const key of ['openslide.level-count', ...[0, 1, 2].flatMap((i) => ['width', 'height', 'downsample'].map((f) => `openslide.level[${i}].${f}`))]) {
        expect(ours[key], key).toBe(osr[key]);
      }
      expect(Number(ours['openslide.mpp-x'])).toBe(Number(osr['openslide.mpp-x']));
      expect(Number(ours['openslide.mpp-y'])).toBe(Number(osr['openslide.mpp-y']));
      const philips = (p: Record<string, string>) => Object.fromEntries(Object.entries(p).filter(([k]) => k.startsWith('philips.')));
      expect(Object.keys(philips(osr)).length).toBeGreaterThan(15);
      expect(philips(ours)).toEqual(philips(osr));
    });
  });

  it.skipIf(!haveOpenSlide)('regions equal openslide-write-png (MAD 0): level 0 across sparse tiles, levels 1 and 2 across tile borders', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      // [level, level-0 x, y, width, height]: tile borders at multiples of 128 level pixels.
      for (const [level, x, y, w, h] of [
        [0, 320, 64, 192, 128], // tiles (2,0), (3,0) sparse, (2,1), (3,1)
        [0, 0, 200, 200, 184], // tile (0,2) sparse
        [1, 200, 200, 150, 90],
        [2, 0, 0, 128, 96],
      ] as const) {
        const ref = await openslideRegion(SLIDE, x, y, level, w, h);
        expect(mad(await s.readRegion(level, x, y, w, h), ref.rgb), `level ${level} at ${x},${y}`).toBe(0);
        if (level === 0) expect(ref.alpha.filter((a) => a === 0).length, 'OpenSlide leaves the sparse tile transparent').toBeGreaterThan(8000);
      }
    });
  });

  it.skipIf(!haveOpenSlide || !haveLibOpenSlide)('associated images equal libopenslide\'s (MAD 0)', async () => {
    const ref = openslideAssociated(SLIDE);
    expect([...ref.keys()].sort()).toEqual(['label', 'macro']);
    await withStoredLevels(SLIDE, async (s) => {
      for (const [name, img] of ref) {
        const got = await s.readAssociated(name);
        expect([got.width, got.height]).toEqual([img.width, img.height]);
        expect(mad(got.data, img.data), name).toBe(0);
      }
    });
  });

  describe('bad files', () => {
    it('a truncated file: SLIDE_UNREADABLE naming the truncation', async () => {
      const path = join(tmp, 'truncated.tiff');
      const bytes = readFileSync(SLIDE);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /truncated/);
    });

    it('broken XML: not Philips to OpenSlide, a generic TIFF (graceful fallback, as OpenSlide)', async () => {
      const path = join(tmp, 'broken-xml.tiff');
      await writePhilipsTiff(path, { xml: (xml) => xml.slice(0, 400) });
      await withStoredLevels(path, async (s) => {
        expect(s.info.vendor).toBe('generic-tiff');
        expect([s.levels[0]!.width, s.levels[0]!.height]).toEqual([512, 384]);
      });
      if (haveOpenSlide) expect(openslideProperties(path).properties['openslide.vendor']).toBe('generic-tiff');
    });

    it('Software not "Philips...": a generic TIFF, as OpenSlide', async () => {
      const path = join(tmp, 'other-software.tiff');
      await writePhilipsTiff(path, { software: 'Other Scanner 2.0' });
      await withStoredLevels(path, async (s) => expect(s.info.vendor).toBe('generic-tiff'));
      if (haveOpenSlide) expect(openslideProperties(path).properties['openslide.vendor']).toBe('generic-tiff');
    });

    it('XML with fewer pixel spacings than levels: SLIDE_UNREADABLE (OpenSlide refuses it too)', async () => {
      const path = join(tmp, 'spacings.tiff');
      await writePhilipsTiff(path, { xml: (xml) => xml.replace(/<Attribute Name="DICOM_PIXEL_SPACING"[^>]*>&quot;0.001&quot;[^<]*<\/Attribute>/, '') });
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /2 pixel spacings \(DICOM_PIXEL_SPACING\) for 3 tiled levels/);
      if (haveOpenSlide) expect(openslideProperties(path).ok).toBe(false);
    });
  });
});
