/**
 * The viewer's Export panel in Debian's chromium against the real server (issue #17): the overlay
 * on screen exported as a TIFF shows its progress ("n / N tiles"), then a download link whose file
 * the browser saves under the server's name; a second export waiting behind a long one is cancelled
 * from its row (state cancelled, no file on disk). Screenshots: test-output/e2e/export-*.png.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportStatus } from '../../contracts/index.js';
import { initEngine } from '../../models/index.js';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import { createServer, type SdsServer } from '../../server/index.js';
import { writeTissueSlide } from '../support/synthetic-slide.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && existsSync(p));
if (!CHROMIUM) console.warn('[sds tests] no chromium executable (apt-get install chromium, or set CHROMIUM_PATH): the export panel e2e test is skipped');
const OUT = new URL('../../test-output/e2e/', import.meta.url).pathname;

interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
}
interface PageGlobals {
  document: { querySelector(sel: string): PageElement | null };
  MutationObserver: new (cb: () => void) => { observe(el: PageElement, options: Record<string, boolean>): void };
  exportTexts: string[];
}

describe.skipIf(!CHROMIUM)('viewer: the Export panel (chromium, real server)', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-export-e2e-'));
  let server: SdsServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  let dir: string;

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    mkdirSync(join(root, 'slides'));
    await initEngine({ announce: false });
    const slide = join(root, 'slides', 'slide.tif');
    await writeTissueSlide(slide, 1024, 768, 3);
    dir = (await analyzeSlideToDir({ slide, out: join(root, 'results'), model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, layers: ['1_1'], variants: ['original'], patch: 128, overlap: 0, workers: 1 })).dir;
    server = createServer({ slides: [join(root, 'slides')], results: join(root, 'results'), workers: 1 }, () => undefined);
    base = (await server.listen(0, '127.0.0.1')).url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1, acceptDownloads: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const rowState = (n: number) => page.locator('#export-list .export-item').nth(n).getAttribute('data-state');

  it('exports the overlay on screen with progress and a download link; cancels a waiting export', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}#slide=slide&colormap=viridis`);
    await page.waitForSelector('body[data-ready=true]');
    await page.locator('#export').waitFor({ state: 'visible' });
    expect(await page.locator('#export-what').textContent()).toMatch(/^original\/grad\/1_1 · viridis \[/);
    // every text an export row shows, as it changes (the progress lines pass quickly)
    await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      g.exportTexts = [];
      const list = g.document.querySelector('#export-list')!;
      new g.MutationObserver(() => g.exportTexts.push(list.textContent ?? '')).observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
    });

    // long exports started elsewhere (16 px JPEG tiles at full resolution: thousands) run first, so
    // the page's exports wait and then report every step of theirs
    const long = async () =>
      ((await (await fetch(`${base}api/analyses/slide/exports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'tiff', overlay: 'original/grad/1_1', fullResolution: true, tileSize: 16, compression: 'jpeg' }) })).json()) as { export: string }).export;
    const blockers = [await long(), await long()];
    await page.locator('#export-full').check();
    await page.locator('#export-tiff').click();
    await page.locator('#export-detections').click();
    await page.locator('#export-list .export-item').nth(1).waitFor();
    expect([await rowState(0), await rowState(1)]).toEqual(['queued', 'queued']);
    const detectionsRow = page.locator('#export-list .export-item').first();
    await detectionsRow.locator('button.export-cancel').waitFor({ state: 'visible' });
    await page.screenshot({ path: join(OUT, 'export-progress.png') });
    // the detections export is cancelled from its row: it never runs
    await detectionsRow.locator('button.export-cancel').click();
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#export-list .export-item')?.dataset.state === 'cancelled', undefined, { timeout: 30_000 });
    expect(await detectionsRow.locator('.export-text').textContent()).toBe('cancelled (no file kept)');
    expect(await detectionsRow.locator('button.export-cancel').count()).toBe(0);
    // the long ones cancelled: the page's TIFF runs, with its progress, to a download link
    for (const id of blockers) expect(((await (await fetch(`${base}api/exports/${id}`, { method: 'DELETE' })).json()) as ExportStatus).state).toBe('cancelled');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#export-list .export-item:nth-child(2)')?.dataset.state === 'done', undefined, { timeout: 60_000 });
    const texts = await page.evaluate(() => (globalThis as unknown as PageGlobals).exportTexts);
    expect(texts.some((t) => /\d+ \/ \d+ tiles/.test(t)), texts.join(' | ')).toBe(true);
    const link = page.locator('#export-list .export-item a.export-download');
    expect(await link.textContent()).toBe('Download slide_original_grad_1_1.tif');
    expect(await link.getAttribute('href')).toMatch(/^\/api\/exports\/[0-9a-f-]{36}\/file$/);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe('slide_original_grad_1_1.tif');
    const saved = join(root, 'downloaded.tif');
    await download.saveAs(saved);
    expect(statSync(saved).size).toBeGreaterThan(1000);
    await page.screenshot({ path: join(OUT, 'export-done.png') });
    // on disk: the finished TIFF only (no detections, no partial files of the cancelled ones)
    expect(readdirSync(join(dir, 'exports'))).toEqual([`${(await link.getAttribute('href'))!.split('/')[3]}.tif`]);
    expect(errors).toEqual([]);
  }, 120_000);

  it('the analysis form sends a QuPath GeoJSON (a bad one: the server\'s 400 in the form); a running analysis is cancelled from its row', async () => {
    await page.locator('#analyze-open').click();
    await page.locator('#analyze').waitFor({ state: 'visible' });
    await page.locator('#analyze-layers input[value="2_1"]').uncheck();
    // a ring of two positions: refused by the server, its message shown beside the form
    const bad = [{ type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[0, 0], [500, 0]]] }, properties: { objectType: 'annotation' } }];
    await page.locator('#analyze-roi').setInputFiles({ name: 'bad.geojson', mimeType: 'application/geo+json', buffer: Buffer.from(JSON.stringify(bad)) });
    await page.locator('#analyze-start').click();
    await page.locator('#analyze-error').waitFor({ state: 'visible' });
    expect(await page.locator('#analyze-error').textContent()).toMatch(/^roi: \[0\]\.geometry: coordinates\.0: a ring needs at least 3 positions/);
    await page.screenshot({ path: join(OUT, 'export-roi-error.png') });
    expect(((await (await fetch(`${base}api/jobs`)).json()) as unknown[]).length).toBe(0);

    // not JSON at all: refused in the page
    await page.locator('#analyze-roi').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('tumour, left') });
    await page.locator('#analyze-start').click();
    await page.waitForFunction(() => /^roi: notes\.txt is not JSON/.test((globalThis as unknown as PageGlobals).document.querySelector('#analyze-error')?.textContent ?? ''));

    // a good one: the job starts, limited to the left half; cancelled from the job row
    const good = [{ type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[0, 0], [512, 0], [512, 768], [0, 768], [0, 0]]] }, properties: { objectType: 'annotation' } }];
    await page.locator('#analyze-roi').setInputFiles({ name: 'left.geojson', mimeType: 'application/geo+json', buffer: Buffer.from(JSON.stringify(good)) });
    await page.locator('#analyze-start').click();
    await page.locator('#analyze').waitFor({ state: 'hidden' });
    await page.locator('#job-cancel').waitFor({ state: 'visible' });
    await page.screenshot({ path: join(OUT, 'export-job-running.png') });
    await page.locator('#job-cancel').click();
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#job')?.dataset.state === 'cancelled', undefined, { timeout: 60_000 });
    expect(await page.locator('#job-text').textContent()).toMatch(/^slide\.tif: cancelled.*starting the same analysis again resumes/);
    expect(await page.locator('#job-cancel').isVisible()).toBe(false);
    await page.screenshot({ path: join(OUT, 'export-job-cancelled.png') });
    const jobs = (await (await fetch(`${base}api/jobs`)).json()) as { state: string }[];
    expect(jobs.map((j) => j.state)).toEqual(['cancelled']);
  }, 120_000);
});
