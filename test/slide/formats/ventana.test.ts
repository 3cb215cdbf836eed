/**
 * Ventana BIF (issue #15): small BigTIFFs in Ventana's layout (test/support/slide-writers/ventana.ts) read by sds
 * and by OpenSlide 3.4.1, the referee. A BIF with EncodeInfo: two scanned areas whose scanner tiles overlap, placed
 * at the confidence-weighted mean joint overlap as 3.4.1 does (advance 56 x 60 for 64 px tiles), lower levels as
 * subtiles; a Ventana TIFF without it: plain grids. iScan gives `ventana.*`, MPP and objective; "Label_Image" is the
 * macro, "Thumbnail" the thumbnail. Bad files: truncated, broken iScan XMP, broken EncodeInfo, impossible joints.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource } from '../../../slide/formats.js';
import { openSlide, TileCache } from '../../../slide/index.js';
import { writeVentanaBif, type VentanaSlide } from '../../support/slide-writers/ventana.js';
import { crop, haveLibOpenSlide, haveOpenSlide, mad, OPENSLIDE_MISSING, openslideAssociated, openslideProperties, openslideRegion } from '../../support/slide-writers/tiff-vendor-kit.js';
import { expectSdsError, withStoredLevels } from '../../support/slide-expect.js';

if (!haveOpenSlide) console.warn(`Ventana tests: ${OPENSLIDE_MISSING}`);

const tmp = mkdtempSync(join(tmpdir(), 'sds-ventana-'));
const BIF = join(tmp, 'ventana.bif');
const PLAIN = join(tmp, 'ventana-plain.tif');
let truth: VentanaSlide;
beforeAll(async () => {
  truth = await writeVentanaBif(BIF);
  await writeVentanaBif(PLAIN, { stitched: false });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));



describe('Ventana BIF', () => {
  it('stitched levels: sized by where the tiles land (advance 56 x 60), downsample mag0 / mag; iScan properties, MPP, objective', async () => {
    await withStoredLevels(BIF, async (s) => {
      expect(s.info.vendor).toBe('ventana');
      // Area 1 starts at x 200 and ends 2 advances + one tile later: 200 + 112 + 64 = 376; area 0 is 3 * 60 + 64 tall.
      expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [376, 244, 1],
        [188, 122, 2],
        [94, 61, 4],
      ]);
      expect(s.mpp).toEqual({ x: 0.2325, y: 0.2325 });
      expect(s.magnification).toBe(40);
      const p = s.info.properties;
      expect(p['ventana.ScannerModel']).toBe('VENTANA iScan HT');
      expect(p['ventana.UnitNumber']).toBe('BI10N0294');
      // Empty attributes are left out, as OpenSlide does.
      expect('ventana.SlideAnnotation' in p).toBe(false);
      expect([0, 1].map((i) => ['x', 'y', 'width', 'height'].map((f) => p[`openslide.region[${i}].${f}`]))).toEqual([
        ['0', '0', '176', '244'],
        ['168', '0', '176', '124'],
      ]);
      // OpenSlide 3.4.1 sets no bounds for Ventana.
      expect(p['openslide.bounds-x']).toBeUndefined();
    });
  });

  it('the stitched level 0 shows the scanned picture where the areas are (overlaps resolved), glass elsewhere', async () => {
    await withStoredLevels(BIF, async (s) => {
      // Area 0 covers x 0..176, y 0..244; area 1 x 200..376, y 20..144 (Pos-Y 100 from the bottom of 244).
      expect(mad(await s.readRegion(0, 0, 0, 176, 244), crop(truth.picture, 0, 0, 176, 244).data)).toBeLessThan(8);
      expect(mad(await s.readRegion(0, 200, 20, 176, 124), crop(truth.picture, 200, 20, 176, 124).data)).toBeLessThan(8);
      // The raw TIFF grid (no stitching) would be far off.
      expect(mad(await s.readRegion(0, 0, 0, 176, 244), crop(truth.picture, 0, 0, 176, 244).data)).toBeLessThan(
        mad((await plainArea0()).data, crop(truth.picture, 0, 0, 176, 244).data) / 2,
      );
      expect((await s.readRegion(0, 180, 0, 16, 244)).every((v) => v === 255)).toBe(true);
    });
    const source = await openSource(BIF, { cache: new TileCache(1 << 20), concurrency: 2 });
    try {
      expect(source.isEmpty(0, 5, 3)).toBe(true); // x 320.., y 192..: below area 1
      expect(source.isEmpty(0, 0, 0)).toBe(false);
    } finally {
      await source.close();
    }
  });

  it('macro ("Label_Image") and thumbnail are the stored pixels', async () => {
    await withStoredLevels(BIF, async (s) => {
      expect(s.associated.map((a) => [a.name, a.width, a.height])).toEqual([
        ['macro', 120, 80],
        ['thumbnail', 96, 64],
      ]);
      expect(mad((await s.readAssociated('macro')).data, truth.macro.data)).toBe(0);
      expect(mad((await s.readAssociated('thumbnail')).data, truth.thumbnail.data)).toBe(0);
    });
  });

  it('a Ventana TIFF without EncodeInfo: the levels are the TIFF grids', async () => {
    await withStoredLevels(PLAIN, async (s) => {
      expect(s.info.vendor).toBe('ventana');
      expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([
        [384, 256, 1],
        [192, 128, 2],
        [96, 64, 4],
      ]);
      expect(s.info.properties['openslide.region[0].x']).toBeUndefined();
    });
  });

  it.skipIf(!haveOpenSlide)('OpenSlide 3.4.1 agrees: vendor, levels, MPP, objective, ventana.* and regions (BIF and plain TIFF)', async () => {
    for (const path of [BIF, PLAIN]) {
      const { properties: osr, ok } = openslideProperties(path);
      expect(ok).toBe(true);
      await withStoredLevels(path, async (s) => {
        const ours = s.info.properties;
        expect(osr['openslide.vendor']).toBe('ventana');
        for (const [key, value] of Object.entries(osr)) {
          if (key.startsWith('ventana.') || key.startsWith('openslide.region[') || /^openslide\.level(-count|\[\d\]\.(width|height|downsample))$/.test(key) || key === 'openslide.objective-power') {
            expect(ours[key], key).toBe(value);
          }
        }
        expect(Object.keys(ours).filter((k) => k.startsWith('ventana.')).sort()).toEqual(Object.keys(osr).filter((k) => k.startsWith('ventana.')).sort());
        expect(Number(ours['openslide.mpp-x'])).toBe(Number(osr['openslide.mpp-x']));
        expect(osr['openslide.bounds-x']).toBeUndefined();
      });
    }
  });

  it.skipIf(!haveOpenSlide)('regions equal openslide-write-png (MAD 0): overlapping tiles, the gap between areas, levels 1 and 2', async () => {
    await withStoredLevels(BIF, async (s) => {
      for (const [level, x, y, w, h] of [
        [0, 40, 30, 200, 120], // tile overlaps in both axes, the gap, area 1's first column
        [0, 0, 0, 376, 244], // all of level 0
        [1, 20, 20, 150, 100], // subtiles of 2x2 per TIFF tile
        [2, 0, 0, 94, 61], // subtiles of 4x4, the last TIFF tile half empty
      ] as const) {
        const ref = await openslideRegion(BIF, x, y, level, w, h);
        expect(mad(await s.readRegion(level, x, y, w, h), ref.rgb), `level ${level} at ${x},${y}`).toBe(0);
      }
    });
    await withStoredLevels(PLAIN, async (s) => {
      for (const [level, x, y, w, h] of [
        [0, 40, 30, 200, 120],
        [1, 20, 20, 150, 100],
      ] as const) {
        const ref = await openslideRegion(PLAIN, x, y, level, w, h);
        expect(mad(await s.readRegion(level, x, y, w, h), ref.rgb), `plain level ${level}`).toBe(0);
      }
    });
  });

  it.skipIf(!haveOpenSlide || !haveLibOpenSlide)("associated images equal libopenslide's (MAD 0)", async () => {
    const ref = openslideAssociated(BIF);
    expect([...ref.keys()].sort()).toEqual(['macro', 'thumbnail']);
    await withStoredLevels(BIF, async (s) => {
      for (const [name, img] of ref) expect(mad((await s.readAssociated(name)).data, img.data), name).toBe(0);
    });
  });

  describe('bad files', () => {
    it('a truncated file: SLIDE_UNREADABLE naming the truncation', async () => {
      const path = join(tmp, 'truncated.bif');
      const bytes = readFileSync(BIF);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /truncated/);
    });

    it('broken iScan XMP: a clear error (OpenSlide cannot open it either: not Ventana, and not a generic TIFF with an untiled first directory)', async () => {
      const path = join(tmp, 'broken-iscan.bif');
      await writeVentanaBif(path, { iscan: (xml) => xml.slice(0, 80) });
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /XMP of directory 0 is not well-formed XML/);
      if (haveOpenSlide) expect(openslideProperties(path).ok).toBe(false);
    });

    it('broken EncodeInfo XMP on level 0: SLIDE_UNREADABLE (OpenSlide refuses it too)', async () => {
      const path = join(tmp, 'broken-encodeinfo.bif');
      await writeVentanaBif(path, { encodeInfo: (xml) => xml.slice(0, 300) });
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /XMP of level 0 .* is not well-formed XML/);
      if (haveOpenSlide) expect(openslideProperties(path).ok).toBe(false);
    });

    it('a tile joint between tiles that are not neighbours: SLIDE_UNREADABLE (OpenSlide refuses it too)', async () => {
      const path = join(tmp, 'bad-joint.bif');
      await writeVentanaBif(path, { encodeInfo: (xml) => xml.replace(/Direction="RIGHT" Tile1="(\d+)" Tile2="\d+"/, 'Direction="RIGHT" Tile1="$1" Tile2="$1"') });
      await expectSdsError(openSlide(path), 'SLIDE_UNREADABLE', /RIGHT tile joint links tiles/);
      if (haveOpenSlide) expect(openslideProperties(path).ok).toBe(false);
    });
  });
});

/** The plain TIFF's level 0 at area 0: the raw scanner tiles side by side, as a reader ignoring EncodeInfo shows them. */
async function plainArea0(): Promise<{ data: Uint8Array }> {
  return withStoredLevels(PLAIN, async (s) => ({ data: await s.readRegion(0, 0, 0, 176, 244) }));
}
