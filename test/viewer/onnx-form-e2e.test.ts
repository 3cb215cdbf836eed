/**
 * The viewer's analysis form takes ONNX models and WSInfer folders (issue #16), in Debian's chromium
 * against the real server: each model's own layers are offered (module paths), its default layers
 * are preselected and a WSInfer config's patch size is filled in; an analysis started from the form
 * on the ONNX model runs to done and its overlay (named by module path) is shown. Screenshots in
 * test-output/e2e/onnx-*.png.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInfo } from '../../contracts/index.js';
import { createServer, type SdsServer } from '../../server/index.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';
import { SHARED } from '../support/shared.js';
import { writeWsinferFolder } from '../support/wsinfer-folder.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && existsSync(p));
const DIR = `${SHARED}fixtures/onnx-reference/`;
const OUT = new URL('../../test-output/e2e/', import.meta.url).pathname;
const present = existsSync(`${DIR}vgg_small_bn_c2.onnx`);
if (!CHROMIUM) console.warn('[sds tests] no chromium executable: the viewer test of ONNX models in the analysis form is skipped');
if (!present) console.warn(`[sds tests] ${DIR} is absent: the viewer test of ONNX models in the analysis form is skipped`);

interface PageElement {
  dataset: Record<string, string | undefined>;
}
interface PageGlobals {
  document: { querySelector(sel: string): PageElement | null };
}

describe.skipIf(!CHROMIUM || !present)('viewer: ONNX models in the analysis form (chromium, real server)', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-onnx-e2e-'));
  let server: SdsServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  let models: ModelInfo[];

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    mkdirSync(join(root, 'slides'));
    mkdirSync(join(root, 'models', 'breast'), { recursive: true });
    await writeTiff(join(root, 'slides', 'tissue.tif'), tissuePattern(512, 512), 512, 512);
    copyFileSync(`${DIR}vgg_small_bn_c2.onnx`, join(root, 'models', 'vgg.onnx'));
    writeWsinferFolder(join(root, 'models', 'breast'), `${DIR}mobilenet_v3_small_c4.onnx`, 'model.onnx', { classNames: ['Other', 'Tumor', 'Necrosis', 'Stroma'], resize: 224, mean: [0.7, 0.55, 0.65], std: [0.1, 0.15, 0.1] });
    server = createServer({ slides: [join(root, 'slides')], models: join(root, 'models'), results: join(root, 'results'), workers: 1, batch: 4 }, () => undefined);
    base = (await server.listen(0, '127.0.0.1')).url;
    models = (await (await fetch(`${base}api/models`)).json()) as ModelInfo[];
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const checked = (list: string) =>
    page.locator(`#${list} input:checked`).evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));

  it('offers each model its own layers, preselects its defaults, runs an analysis on the ONNX model', async () => {
    const vgg = models.find((m) => m.name === 'vgg.onnx')!;
    const breast = models.find((m) => m.classes === 4)!;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}#slide=tissue`);
    await page.waitForSelector('body[data-ready=true]');
    await page.locator('#no-analysis').waitFor({ state: 'visible' });
    await page.locator('#analyze-open').click();
    await page.locator('#analyze').waitFor({ state: 'visible' });

    await page.locator('#analyze-model').selectOption(breast.id);
    expect(await checked('analyze-layers')).toEqual(breast.defaultLayers);
    expect(await page.locator('#analyze-patch').inputValue()).toBe('224');
    expect(await page.locator('#analyze-layers input').count()).toBe(breast.layers.length);
    await page.screenshot({ path: join(OUT, 'onnx-form-wsinfer.png') });

    await page.locator('#analyze-model').selectOption(vgg.id);
    expect(await checked('analyze-layers')).toEqual(['features.6', 'features.13']);
    expect(await page.locator('#analyze-patch').inputValue()).toBe('256');
    await page.locator('#analyze-layers input[value="features.13"]').uncheck();
    await page.locator('#analyze-patch').fill('128');
    await page.screenshot({ path: join(OUT, 'onnx-form-vgg.png') });
    await page.locator('#analyze-start').click();
    await page.locator('#analyze').waitFor({ state: 'hidden' });
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#job')?.dataset.state === 'done', undefined, { timeout: 100_000 });
    await page.waitForFunction(
      () => {
        const el = (globalThis as unknown as PageGlobals).document.querySelector('#view-a');
        return !!el && el.dataset.loaded === 'true' && (el.dataset.main ?? '').includes('/grad/features.6.dzi');
      },
      undefined,
      { timeout: 30_000 },
    );
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(OUT, 'onnx-analysis.png') });
    const hash = Object.fromEntries(new URLSearchParams(new URL(page.url()).hash.slice(1)));
    expect(hash.overlay).toMatch(/^(original|backward-hook)\/grad\/features\.6$/);
    const slide = (await (await fetch(`${base}api/slides/tissue`)).json()) as { analyses: { patches: { count: number }; overlays: { key: string }[] }[] };
    expect(slide.analyses[0]!.patches.count).toBeGreaterThanOrEqual(4);
    expect(slide.analyses[0]!.overlays.map((o) => o.key).sort()).toEqual(['backward-hook/grad/features.6', 'original/grad/features.6']);
    expect(errors).toEqual([]);
  });
});
