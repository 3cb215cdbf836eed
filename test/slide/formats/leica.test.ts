/**
 * Leica SCN (issue #15): a small BigTIFF in Leica's layout (test/support/slide-writers/leica.ts: a macro image and
 * two overlapping brightfield main images off the tile grid) read by sds and by OpenSlide 3.4.1, the referee:
 * collection-sized levels with the main images composited at their offsets, macro as the associated image, MPP
 * from the TIFF resolution (not the XML), `leica.*`, `openslide.region[i]` and `openslide.bounds-*`, regions MAD 0.
 * Bad files: truncated, broken XML (OpenSlide falls back to generic-tiff, and so does sds), missing attributes,
 * fluorescence only.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../../slide/formats.js';
import { openSlide, TileCache } from '../../../slide/index.js';
import { writeLeicaScn, type LeicaSlide } from '../../support/slide-writers/leica.js';
import { crop, haveLibOpenSlide, haveOpenSlide, mad, OPENSLIDE_MISSING, openslideAssociated, openslideProperties, openslideRegion, tissue } from '../../support/slide-writers/tiff-vendor-kit.js';
import { expectSdsError, withStoredLevels } from '../../support/slide-expect.js';

if (!haveOpenSlide) console.warn(`Leica tests: ${OPENSLIDE_MISSING}`);

const tmp = mkdtempSync(join(tmpdir(), 'sds-leica-'));
const SLIDE = join(tmp, 'leica.scn');
let truth: LeicaSlide;
beforeAll(async () => {
  truth = await writeLeicaScn(SLIDE);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));



describe('Leica SCN', () => {
  it('levels are the collection (640x480 px at 500 nm) at each main-image resolution; MPP from XResolution in cm', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      expect(s.info.vendor).toBe('leica');
      expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [640, 480, 1],
        [320, 240, 2],
        [160, 120, 4],
      ]);
      // The XML says 500 nm per pixel; OpenSlide 3.4.1 takes 10000 / XResolution (20060.18 px/cm, read as a float).
      const mpp = 10000 / Math.fround(20060.18);
      expect(s.mpp).toEqual({ x: mpp, y: mpp });
      expect(s.magnification).toBe(20);
      const p = s.info.properties;
      expect(p['leica.barcode']).toBe(truth.barcode);
      expect(p['leica.objective']).toBe('20');
      expect(p['leica.aperture']).toBe('0.7');
      expect(p['leica.illumination-source']).toBe('brightfield');
      expect(p['leica.device-model']).toBe('Leica SCN400;Leica SCN');
      expect(p['tiff.ImageDescription']).toBeUndefined();
      // The main images' level-0 rectangles, and the one around both.
      expect([0, 1].map((i) => ['x', 'y', 'width', 'height'].map((f) => p[`openslide.region[${i}].${f}`]))).toEqual([
        ['100', '60', '300', '200'],
        ['360', '220', '160', '100'],
      ]);
      expect(['x', 'y', 'width', 'height'].map((f) => p[`openslide.bounds-${f}`])).toEqual(['100', '60', '420', '260']);
    });
  });

  it('outside the main images is empty background; inside, the main image at its offset', async () => {
    const source = await openSource(SLIDE, { cache: new TileCache(1 << 20), concurrency: 2 });
    try {
      // 64 px tiles: (0, 0) is all background, (2, 1) holds main image 0 (it starts at 100, 60).
      expect(source.isEmpty(0, 0, 0)).toBe(true);
      expect(source.isEmpty(0, 9, 7)).toBe(true);
      expect(source.isEmpty(0, 2, 1)).toBe(false);
    } finally {
      await source.close();
    }
    await withStoredLevels(SLIDE, async (s) => {
      expect((await s.readRegion(0, 0, 0, 100, 60)).every((v) => v === 255)).toBe(true);
      // Main image 0's pixels, off the tile grid (JPEG loss of a grainy picture only).
      const main0 = tissue(300, 200, 20);
      expect(mad(await s.readRegion(0, 100, 60, 250, 150), crop(main0, 0, 0, 250, 150).data)).toBeLessThan(8);
      // Where the main images overlap, the first keeps its pixels (OpenSlide paints it first, SATURATE).
      expect(mad(await s.readRegion(0, 360, 220, 40, 40), crop(main0, 260, 160, 40, 40).data)).toBeLessThan(8);
    });
  });

  it('the macro image (spanning the collection) is the associated "macro", its largest dimension', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      expect(s.associated.map((a) => [a.name, a.width, a.height])).toEqual([['macro', 160, 120]]);
      expect(mad((await s.readAssociated('macro')).data, truth.macro.data)).toBeLessThan(8);
    });
  });

  it.skipIf(!haveOpenSlide)('OpenSlide 3.4.1 agrees: vendor, levels, MPP, objective, leica.*, regions and bounds', async () => {
    const { properties: osr, ok } = openslideProperties(SLIDE);
    expect(ok).toBe(true);
    await withStoredLevels(SLIDE, async (s) => {
      const ours = s.info.properties;
      expect(osr['openslide.vendor']).toBe('leica');
      for (const [key, value] of Object.entries(osr)) {
        if (key.startsWith('leica.') || key.startsWith('openslide.region[') || key.startsWith('openslide.bounds-') || /^openslide\.level(-count|\[\d\]\.(width|height|downsample))$/.test(key) || key === 'openslide.objective-power') {
          expect(ours[key], key).toBe(value);
        }
      }
      expect(Object.keys(osr).filter((k) => k.startsWith('leica.')).length).toBe(7);
      expect(Number(ours['openslide.mpp-x'])).toBe(Number(osr['openslide.mpp-x']));
      expect(Number(ours['openslide.mpp-y'])).toBe(Number(osr['openslide.mpp-y']));
    });
  });

  it.skipIf(!haveOpenSlide)('regions equal openslide-write-png (MAD 0): background, main-image edges, the overlap, levels 1 and 2', async () => {
    await withStoredLevels(SLIDE, async (s) => {
      for (const [level, x, y, w, h] of [
        [0, 80, 40, 200, 150], // background and main image 0's corner, across its tiles
        [0, 330, 200, 200, 140], // both main images, their overlap, background
        [1, 80, 40, 120, 100],
        [2, 0, 0, 160, 120],
      ] as const) {
        const ref = await openslideRegion(SLIDE, x, y, level, w, h);
        expect(mad(await s.readRegion(level, x, y, w, h), ref.rgb), `level ${level} at ${x},${y}`).toBe(0);
        expect(ref.alpha.some((a) => a === 0), 'OpenSlide leaves the background transparent').toBe(true);
      }
    });
  });

  it.skipIf(!haveOpenSlide || !haveLibOpenSlide)("the macro equals libopenslide's (MAD 0)", async () => {
    const ref = openslideAssociated(SLIDE);
    expect([...ref.keys()]).toEqual(['macro']);
    await withStoredLevels(SLIDE, async (s) => {
      const got = await s.readAssociated('macro');
      expect([got.width, got.height]).toEqual([ref.get('macro')!.width, ref.get('macro')!.height]);
      expect(mad(got.data, ref.get('macro')!.data)).toBe(0);
    });
  });

  describe('bad files', () => {
    it('a truncated file: SLIDE_UNREADABLE naming the truncation', async () => {
      const path = join(tmp, 'truncated.scn');
      const bytes = readFileSync(SLIDE);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /truncated/);
    });

    it('broken XML: not Leica to OpenSlide, a generic TIFF (graceful fallback, as OpenSlide)', async () => {
      const path = join(tmp, 'broken-xml.scn');
      await writeLeicaScn(path, { xml: (xml) => xml.slice(0, 300) });
      await withStoredLevels(path, async (s) => expect(s.info.vendor).toBe('generic-tiff'));
      if (haveOpenSlide) expect(openslideProperties(path).properties['openslide.vendor']).toBe('generic-tiff');
    });

    it('a collection without sizeX: SLIDE_UNREADABLE (OpenSlide refuses it too)', async () => {
      const path = join(tmp, 'no-size.scn');
      await writeLeicaScn(path, { xml: (xml) => xml.replace(/(<collection[^>]*) sizeX="\d+"/, '$1') });
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /no integer "sizeX" on <collection>/);
      if (haveOpenSlide) expect(openslideProperties(path).ok).toBe(false);
    });

    it('no brightfield main image (fluorescence): SLIDE_UNSUPPORTED (OpenSlide refuses it too)', async () => {
      const path = join(tmp, 'fluorescence.scn');
      await writeLeicaScn(path, { xml: (xml) => xml.replaceAll('brightfield', 'fluorescence') });
      await expectSdsError(openSlide(path), 'SLIDE_UNSUPPORTED', /no brightfield main image/);
      if (haveOpenSlide) expect(openslideProperties(path).ok).toBe(false);
    });
  });
});
