/**
 * Issue #15 end to end, as a lab would run it: `sds batch` (bin/sds.js) over one folder holding a slide of every
 * format (Aperio SVS, OME-TIFF, libvips WebP TIFF, a DICOM series folder, Philips, Leica SCN, Ventana BIF,
 * 3DHISTECH MRXS with its data folder, Hamamatsu NDPI) and two broken files (a truncated NDPI, an MRXS missing
 * its data file). The good ones finish with a manifest naming their vendor; the broken ones are reported with
 * the file and the problem; nothing else is listed (not the MRXS data folder, not the series' files).
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSlides } from '../../slide/index.js';
import { sdsRun } from '../support/cli-process.js';
import { SHARED } from '../support/shared.js';
import { writeLeicaScn } from '../support/slide-writers/leica.js';
import { writeMirax } from '../support/slide-writers/mrxs.js';
import { writeNdpiFromSlide } from '../support/slide-writers/ndpi.js';
import { writePhilipsTiff } from '../support/slide-writers/philips.js';
import { tissue } from '../support/slide-writers/tiff-vendor-kit.js';
import { writeVentanaBif } from '../support/slide-writers/ventana.js';

const FORMATS = `${SHARED}slides/formats/`;
const CMU = `${SHARED}slides/CMU-1-Small-Region.svs`;
const haveShared = existsSync(`${FORMATS}dicom-jpeg-2level`) && existsSync(CMU);
if (!haveShared) console.warn(`[sds tests] ${FORMATS} is absent: the mixed-format batch test is skipped`);

const root = mkdtempSync(join(tmpdir(), 'sds-batch-formats-'));
const folder = join(root, 'slides');
const out = join(root, 'out');

/** stem -> the vendor its manifest must name. */
const GOOD: Record<string, string> = {
  aperio: 'aperio',
  'ome.ome': 'ome-tiff',
  webp: 'generic-tiff',
  'dicom-series': 'dicom',
  philips: 'philips',
  leica: 'leica',
  ventana: 'ventana',
  mirax: 'mirax',
  hamamatsu: 'hamamatsu',
};

describe.skipIf(!haveShared)('sds batch over a folder of every format and two broken files', () => {
  beforeAll(async () => {
    mkdirSync(folder, { recursive: true });
    copyFileSync(CMU, join(folder, 'aperio.svs'));
    copyFileSync(`${FORMATS}tifffile-ome-deflate.ome.tif`, join(folder, 'ome.ome.tif'));
    copyFileSync(`${FORMATS}vips-webp-lossless.tif`, join(folder, 'webp.tif'));
    cpSync(`${FORMATS}dicom-jpeg-2level`, join(folder, 'dicom-series'), { recursive: true });
    await writePhilipsTiff(join(folder, 'philips.tiff'));
    await writeLeicaScn(join(folder, 'leica.scn'));
    await writeVentanaBif(join(folder, 'ventana.bif'));
    const spec = {
      dir: folder,
      imageWidth: 128,
      imageHeight: 96,
      divisions: 2,
      photosAcross: 3,
      photosDown: 3,
      positions: Array.from({ length: 9 }, (_, i): [number, number] => [(i % 3) * 240, Math.floor(i / 3) * 180]),
      source: tissue(800, 600, 5),
      levels: ['JPEG', 'JPEG', 'JPEG'] as const,
      positionLayer: 'vimslide' as const,
      overlap: [16, 12] as [number, number],
      mpp: 0.25,
      objective: 20,
    };
    await writeMirax({ ...spec, levels: [...spec.levels], name: 'mirax' });
    await writeNdpiFromSlide(CMU, join(folder, 'hamamatsu.ndpi'));
    // broken: an NDPI cut in the middle of its level-0 JPEG, an MRXS whose data file is gone
    copyFileSync(join(folder, 'hamamatsu.ndpi'), join(folder, 'cut.ndpi'));
    truncateSync(join(folder, 'cut.ndpi'), Math.floor(statSync(join(folder, 'cut.ndpi')).size / 2));
    const broken = await writeMirax({ ...spec, levels: [...spec.levels], name: 'no-data' });
    rmSync(join(broken.folder, 'Data0000.dat'), { force: true });
    rmSync(join(broken.folder, 'Data0001.dat'), { force: true });
  }, 120_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('lists each slide once: files by extension, the series folder, the .mrxs and not its data folder', async () => {
    const names = (await listSlides(folder)).map((p) => p.slice(folder.length + 1));
    expect(names).toEqual(['aperio.svs', 'cut.ndpi', 'dicom-series', 'hamamatsu.ndpi', 'leica.scn', 'mirax.mrxs', 'no-data.mrxs', 'ome.ome.tif', 'philips.tiff', 'ventana.bif', 'webp.tif']);
  });

  it('finishes the good ones and reports the broken ones with the file and the problem', async () => {
    const run = await sdsRun(['batch', folder, '--out', out, '--weights', 'random:resnet18', '--patch', '128', '--overlap', '0', '--level', '1', '--layers', '2_1', '--variants', 'backward-hook', '--workers', '1']);
    expect(run.code, run.stderr).toBe(1);
    for (const stem of Object.keys(GOOD)) expect(run.stdout).toMatch(new RegExp(`^${stem.replace('.', '\\.')}\\S*\\s+done\\s+\\d+`, 'm'));
    expect(run.stdout).toMatch(/^cut\.ndpi\s+failed: .*cut\.ndpi.*(truncated|past the end|outside the file)/m);
    expect(run.stdout).toMatch(/^no-data\.mrxs\s+failed: .*Data000[01]\.dat.*missing/m);
    expect(run.stdout).toMatch(/^11 slides, 2 failed/m);
    for (const [stem, vendor] of Object.entries(GOOD)) {
      const manifest = JSON.parse(readFileSync(join(out, stem, 'manifest.json'), 'utf8')) as { slide: { vendor?: string }; overlays: unknown[] };
      expect(manifest.overlays.length, stem).toBeGreaterThan(0);
      expect(manifest.slide.vendor, stem).toBe(vendor);
    }
  }, 600_000);
});
