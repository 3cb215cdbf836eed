/**
 * `npm start` as a new user meets it, in a real browser (Debian's chromium driven by playwright-core):
 * `sds start` with a fresh results folder and no sample yet prints the viewer's URL at once; the page
 * opened then says the sample is being made, shows the slide when it is written, follows the demo
 * analysis running behind it (the server's job, over its event stream) and draws its first overlay
 * as soon as it is finished, without a reload. The times of each step are logged ([start-e2e]), not
 * asserted; screenshots: test-output/e2e/start-*.png. Kept small for CI: a 3072 px sample, --quick.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { FloatStore } from '../../maps/index.js';
import { sds, type CliProcess } from '../support/cli-process.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && existsSync(p));
if (!CHROMIUM) console.warn('[sds tests] no chromium executable (apt-get install chromium, or set CHROMIUM_PATH): the sds start e2e test is skipped');
const MODELS = new URL('../../models-demo/', import.meta.url).pathname;
const hasModels = existsSync(join(MODELS, 'tumour-resnet18.safetensors'));
if (!hasModels) console.warn('[sds tests] no demo models in models-demo/: the sds start e2e test is skipped');
const OUT = new URL('../../test-output/e2e/', import.meta.url).pathname;
/**
 * Measuring `npm start` itself (not for CI): SDS_START_E2E_SAMPLE=slides-sample/sample.svs uses that
 * sample (already made), SDS_START_E2E_FULL=1 runs the full demo plan; the test then ends at the first
 * overlay's screenshot and logs the times.
 */
const SAMPLE = process.env.SDS_START_E2E_SAMPLE;
const FULL = process.env.SDS_START_E2E_FULL === '1';
/**
 * the sample's side: 3072 px makes the first overlays (1_0, 1_1: 4 px per value) 2 x 2 store chunks, so part of
 * one is drawn before the rest is computed, with as many grid patches at the default overlap (stride 192) as
 * 4096 px had side by side (8192: npm start's own sample)
 */
const SIZE = Number(process.env.SDS_START_E2E_SIZE ?? (SAMPLE ? 8192 : 3072));

/** What the callbacks that run in the page use of it (the functions are sent to the browser as source). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  hidden: boolean;
}
interface PageGlobals {
  document: { querySelector(sel: string): PageElement | null };
  MutationObserver: new (cb: () => void) => { observe(el: PageElement, options: Record<string, boolean>): void };
  recordJob(text: string): void;
}

describe.skipIf(!CHROMIUM || !hasModels)('sds start in chromium: the viewer first, the demo analysis behind it', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-start-e2e-'));
  let browser: Browser | undefined;
  let start: CliProcess | undefined;

  afterAll(async () => {
    await browser?.close();
    if (start && start.p.exitCode === null) {
      start.p.kill('SIGINT');
      await start.exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('prints the URL at once; the page shows the slide, the analysis progress, then its overlays', async () => {
    mkdirSync(OUT, { recursive: true });
    const results = join(root, 'results');
    const t0 = performance.now();
    const at = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    const times: string[] = [];
    const mark = (what: string) => times.push(`${what}: ${at()}`);
    start = sds(['start', ...(FULL ? [] : ['--quick']), '--port', '0', '--size', String(SIZE), '--sample', SAMPLE ?? join(root, 'sample.svs'), '--results', results, '--workers', '2']);
    const url = (await start.waitFor(/sds viewer: (http:\/\/\S+)/, 60_000))[1]!;
    mark('URL printed');
    // the URL comes before the sample exists: the server does not wait for anything slow
    if (!SAMPLE) expect(start.stderr()).not.toMatch(/sample slide .* \(made now\)/);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 850 }, deviceScaleFactor: 1 });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // every text the job box shows, as the page shows it
    const jobTexts: string[] = [];
    await page.exposeFunction('recordJob', (text: string) => jobTexts.push(text));
    await page.addInitScript(() => {
      const g = globalThis as unknown as PageGlobals & { addEventListener(t: string, f: () => void): void };
      g.addEventListener('DOMContentLoaded', () => {
        const text = g.document.querySelector('#job-text')!;
        new g.MutationObserver(() => g.recordJob(text.textContent ?? '')).observe(text, { childList: true, characterData: true, subtree: true });
      });
    });
    // overlay tiles with drawn pixels (a running analysis' tiles are transparent where nothing is computed yet)
    let firstDrawn: { at: string; running: boolean } | undefined;
    page.on('response', (r) => {
      if (firstDrawn || !/\/api\/analyses\/.+_files\//.test(r.url())) return;
      const running = !/demo analyses ready/.test(start!.stderr());
      void r.body().then(async (png) => {
        const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
        let drawn = 0;
        for (let i = 3; i < data.length; i += info.channels) if (data[i]! > 0) drawn++;
        if (drawn && !firstDrawn) firstDrawn = { at: at(), running };
      }, () => undefined);
    });
    await page.goto(url);

    // the sample is still being made (2048 px: a few seconds): the page says so and looks again
    await page.waitForFunction(() => {
      const d = (globalThis as unknown as PageGlobals).document;
      return d.querySelector('#slides-empty')?.hidden === false || d.querySelector('#view-a')?.dataset.loaded === 'true';
    }, undefined, { timeout: 30_000 });
    const making = await page.locator('#slides-empty').isVisible();
    if (making) {
      mark('page: "no slides yet"');
      await page.screenshot({ path: join(OUT, 'start-0-making-sample.png') });
    }
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#view-a')?.dataset.loaded === 'true', undefined, { timeout: 60_000 });
    mark('page: slide shown');
    const overlayShown = () => !!(globalThis as unknown as PageGlobals).document.querySelector('#view-a')?.dataset.main;
    const earlyOverlay = await page.evaluate(overlayShown);
    await page.screenshot({ path: join(OUT, 'start-1-slide.png') });

    // the analysis behind it: the page follows the server's job and draws its overlays while it runs
    await page.waitForFunction(overlayShown, undefined, { timeout: 120_000 });
    const jobState = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.querySelector('#job')?.dataset.state);
    mark(`page: first overlay listed (analysis ${jobState})`);
    for (let t = 0; !firstDrawn; t++) {
      if (t > 600) throw new Error('no overlay tile with drawn pixels reached the page');
      await new Promise((ok) => setTimeout(ok, 100));
    }
    times.push(`first overlay pixels: ${firstDrawn.at} (analysis ${firstDrawn.running ? 'still running' : 'finished'})`);
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#view-a')?.dataset.loaded === 'true', undefined, { timeout: 30_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(OUT, 'start-2-first-overlay.png') });
    if (SAMPLE || FULL) {
      console.log(`[start-e2e] measured (${SAMPLE ?? `a new ${SIZE} px sample`}, ${FULL ? 'full demo plan' : '--quick'}): ${times.join('; ')}`);
      return;
    }
    await start.waitFor(/demo analyses ready/, 60_000);
    mark('sds: analyses ready');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#job')?.dataset.state === 'done', undefined, { timeout: 30_000 });
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#view-a')?.dataset.loaded === 'true', undefined, { timeout: 30_000 });
    await page.waitForTimeout(300);
    const shot = await page.screenshot({ path: join(OUT, 'start-3-done.png') });
    console.log(`[start-e2e] ${times.join('; ')}`);
    console.log(`[start-e2e] job box showed: ${[...new Set(jobTexts)].slice(0, 4).join(' | ')} ... ${jobTexts.at(-1) ?? ''}`);

    expect(pageErrors).toEqual([]);
    // the page was up before the analysis had finished, and got its overlay without a reload
    expect(earlyOverlay).toBe(false);
    // the progress the page showed is the server job's: patch counts, then done
    expect(jobTexts.some((t) => /\d+ \/ \d+ patches/.test(t))).toBe(true);
    expect(jobTexts.at(-1)).toMatch(/done$/);
    const hash = Object.fromEntries(new URLSearchParams(new URL(page.url()).hash.slice(1)));
    // the overlay shown is the finished analysis's first one, and its float store is complete on disk
    expect(hash.analysis).toBe('tumour-resnet18-quick__sample');
    expect(hash.overlay).toBe('original/grad/1_0');
    const store = await FloatStore.open(join(results, 'tumour-resnet18-quick', 'sample', 'overlays', 'original', 'grad', '1_0.zarr'));
    const values = await store.readRegion(0, 0, 0, store.width, store.height);
    expect(values.some((v) => Number.isFinite(v) && v !== 0)).toBe(true);
    expect(shot.length).toBeGreaterThan(10_000);
  }, 180_000);
});
