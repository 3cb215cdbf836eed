/**
 * The viewer in a real browser (Debian's chromium driven by playwright-core) against the real server
 * and an analysis made here. Pixels on screen are checked against independent truths: the overlay's
 * float store coloured by the server's own `colorize` at the slide position the view says it shows
 * (placement, layer, colour map), alpha blending for the opacity, the two sides of the curtain, and a
 * page reopened from the shared URL against the page it came from. Screenshots: test-output/e2e/.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSlideToDir } from '../../pipeline/index.js';
import type { Manifest } from '../../contracts/index.js';
import { createServer, type SdsServer } from '../../server/index.js';
import { colorize, FloatStore, type DziColormap } from '../../maps/index.js';
import { tissuePattern, writeTiff } from '../support/server-helpers.js';
import { SHARED } from '../support/shared.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && existsSync(p));
if (!CHROMIUM) console.warn('[sds tests] no chromium executable (apt-get install chromium, or set CHROMIUM_PATH): the viewer e2e test is skipped');

const CMU = `${SHARED}slides/CMU-1-Small-Region.svs`;
const OUT = new URL('../../test-output/e2e/', import.meta.url).pathname;
const VIEWPORT = { width: 1400, height: 850 };

/**
 * What the callbacks that run in the page use of it (the project's Node typings have no DOM; the
 * functions are sent to the browser as source, so the cast costs nothing there).
 */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  complete?: boolean;
  naturalWidth?: number;
}
interface PageGlobals {
  document: { querySelector(sel: string): PageElement | null; querySelectorAll(sel: string): ArrayLike<PageElement> };
  requestAnimationFrame(cb: () => void): number;
  MutationObserver: new (cb: () => void) => { observe(el: PageElement, options: Record<string, boolean>): void };
  recordJob(text: string): void;
}

/** A decoded screenshot, addressed in page pixels. */
interface Shot {
  data: Uint8Array;
  width: number;
  at(x: number, y: number): [number, number, number];
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where on the page a level-0 pixel is drawn, for a view (centre in level-0 px, zoom in screen px per level-0 px). */
interface View {
  x: number;
  y: number;
  zoom: number;
}

describe.skipIf(!CHROMIUM)('viewer in chromium against sds serve (real server, real analysis)', () => {
  const root = mkdtempSync(join(tmpdir(), 'sds-e2e-'));
  const slidesDir = join(root, 'slides');
  const resultsDir = join(root, 'results');
  let server: SdsServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  let manifest: Manifest;
  let slideId: string;
  const stores = new Map<string, Float32Array>();
  const tileResponses: { url: string; status: number; type: string; bytes: number }[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(slidesDir, { recursive: true });
    mkdirSync(OUT, { recursive: true });
    // the analysed slide: CMU-1-Small-Region (a real Aperio slide) when ../shared has it
    let slidePath: string;
    if (existsSync(CMU)) {
      slidePath = join(slidesDir, 'CMU-1-Small-Region.svs');
      copyFileSync(CMU, slidePath);
    } else {
      console.warn(`[sds tests] ${CMU} is absent: the viewer e2e test runs on a generated slide`);
      slidePath = join(slidesDir, 'generated-tissue.tif');
      await writeTiff(slidePath, tissuePattern(1536, 1280), 1536, 1280);
    }
    // a small slide without analysis, for the "Analyse slide…" job (4 tissue patches at the form's default overlap, 64 at 256 px)
    await writeTiff(join(slidesDir, 'small-tissue.tif'), tissuePattern(768, 576), 768, 576);
    const t0 = performance.now();
    ({ manifest } = await analyzeSlideToDir({
      slide: slidePath,
      out: resultsDir,
      model: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 },
      layers: ['1_1', '2_1'],
      methods: ['grad'],
      variants: ['original', 'backward-hook'],
      patch: 256,
      level: 0,
      overlap: 0,
      batch: 4,
      workers: 1,
    }));
    console.log(`[e2e] analysis of ${manifest.slide.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s, ${manifest.patches.count} patches`);
    const dir = join(resultsDir, manifest.slide.name.replace(/\.[^.]+$/, ''));
    for (const o of [...manifest.overlays, ...(manifest.outputs ?? [])]) {
      const store = await FloatStore.open(join(dir, o.store));
      stores.set(`${o.variant}/${o.method}/${o.layer}`, await store.readRegion(0, 0, 0, o.width, o.height));
    }
    server = createServer({ slides: [slidesDir], results: resultsDir, workers: 1, batch: 4 }, () => undefined);
    base = (await server.listen(0, '127.0.0.1')).url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: VIEWPORT, deviceScaleFactor: 1 });
    watch(page);
    slideId = manifest.slide.name.replace(/\.[^.]+$/, '');
    // the analysis is ~45 s on an idle 2-core machine; the whole suite shares those cores
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  function watch(p: Page) {
    p.on('pageerror', (e) => pageErrors.push(e.message));
    p.on('response', (r) => {
      if (/\/(slides|api\/analyses)\/.+_files\//.test(r.url())) {
        void r.body().then(
          (b) => tileResponses.push({ url: r.url(), status: r.status(), type: r.headers()['content-type'] ?? '', bytes: b.length }),
          () => undefined,
        );
      }
    });
  }

  const overlayOf = (key: string) => {
    const o = [...manifest.overlays, ...(manifest.outputs ?? [])].find((x) => `${x.variant}/${x.method}/${x.layer}` === key);
    if (!o) throw new Error(`no overlay ${key}`);
    return { ...o, key, live: `/api/analyses/${slideId}/overlays/${key}.dzi`, values: stores.get(key)! };
  };

  /** Waits until the pane shows the wanted layers with all their tiles, and has drawn them. */
  async function settled(p: Page, pane: string, want: Record<string, string> = {}) {
    await p.waitForFunction(
      ([sel, w]) => {
        const el = (globalThis as unknown as PageGlobals).document.querySelector(sel);
        if (!el || el.dataset.loaded !== 'true' || (el.dataset.swapping ?? '0') !== '0') return false;
        return Object.entries(w).every(([k, v]) => (el.dataset[k] ?? '').startsWith(v));
      },
      [pane, want] as const,
      { timeout: 30_000 },
    );
    // OpenSeadragon draws on its next animation frames
    await p.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return new Promise((r) => setTimeout(() => g.requestAnimationFrame(() => g.requestAnimationFrame(() => r(null))), 50));
    });
  }

  /** Screenshot of the page, saved for people to look at, decoded for the checks. */
  async function shot(p: Page, name: string): Promise<Shot> {
    const png = await p.screenshot({ path: join(OUT, `${name}.png`) });
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const d = new Uint8Array(data);
    return { data: d, width: info.width, at: (x, y) => [d[(y * info.width + x) * 3]!, d[(y * info.width + x) * 3 + 1]!, d[(y * info.width + x) * 3 + 2]!] };
  }

  const box = async (p: Page, sel: string): Promise<Box> => {
    const b = await p.locator(sel).boundingBox();
    if (!b) throw new Error(`${sel} is not visible`);
    return b;
  };

  const hashState = (p: Page) => Object.fromEntries(new URLSearchParams(new URL(p.url()).hash.slice(1)));
  const viewOf = (p: Page): View => {
    const h = hashState(p);
    return { x: Number(h.x), y: Number(h.y), zoom: Number(h.zoom) };
  };

  /**
   * Sample points of a pane where the overlay has a value, away from overlay-pixel edges (a pixel
   * is several screen pixels wide at these zooms), with the colour `colorize` gives that value.
   */
  function expected(pane: Box, view: View, key: string, colormap: DziColormap, range: [number, number], keep: (x: number, y: number) => boolean = () => true) {
    const o = overlayOf(key);
    const out: { x: number; y: number; rgb: [number, number, number] }[] = [];
    // the top strip holds captions and labels, the bottom one the scale bar and navigator
    for (let y = Math.ceil(pane.y + 40); y < pane.y + pane.height - 190; y += 7) {
      for (let x = Math.ceil(pane.x + 10); x < pane.x + pane.width - 10; x += 7) {
        if (!keep(x, y)) continue;
        const fx = (view.x + (x + 0.5 - (pane.x + pane.width / 2)) / view.zoom) / o.downsample;
        const fy = (view.y + (y + 0.5 - (pane.y + pane.height / 2)) / view.zoom) / o.downsample;
        const [ix, iy] = [Math.floor(fx), Math.floor(fy)];
        if (ix < 0 || iy < 0 || ix >= o.width || iy >= o.height) continue;
        if (Math.min(fx - ix, 1 - (fx - ix), fy - iy, 1 - (fy - iy)) < 0.25) continue;
        const v = o.values[iy * o.width + ix]!;
        if (Number.isNaN(v)) continue;
        const c = colorize(Float32Array.of(v), range, colormap);
        out.push({ x, y, rgb: [c[0]!, c[1]!, c[2]!] });
      }
    }
    return out;
  }

  /** Share of samples whose screen colour is within `tol` of the expected one in every channel. */
  function agreement(s: Shot, samples: { x: number; y: number; rgb: [number, number, number] }[], tol = 3) {
    let ok = 0;
    for (const p of samples) {
      const got = s.at(p.x, p.y);
      if (got.every((g, c) => Math.abs(g - p.rgb[c]!) <= tol)) ok++;
    }
    return ok / samples.length;
  }

  /**
   * A view centre well inside the tissue: where a window of the pane's size at zoom 2 holds the
   * most 2_1 values (a summed-area table over the map's finite values).
   */
  function tissueCentre(pane: { width: number; height: number }): { x: number; y: number } {
    const o = overlayOf('original/grad/2_1');
    const W = o.width + 1;
    const sat = new Float64Array(W * (o.height + 1));
    for (let y = 0; y < o.height; y++)
      for (let x = 0; x < o.width; x++)
        sat[(y + 1) * W + x + 1] = (Number.isNaN(o.values[y * o.width + x]!) ? 0 : 1) + sat[y * W + x + 1]! + sat[(y + 1) * W + x]! - sat[y * W + x]!;
    const [ww, wh] = [Math.min(o.width, Math.round(pane.width / 2 / o.downsample)), Math.min(o.height, Math.round(pane.height / 2 / o.downsample))];
    let best = { n: -1, x: 0, y: 0 };
    for (let y = 0; y + wh <= o.height; y++)
      for (let x = 0; x + ww <= o.width; x++) {
        const n = sat[(y + wh) * W + x + ww]! - sat[y * W + x + ww]! - sat[(y + wh) * W + x]! + sat[y * W + x]!;
        if (n > best.n) best = { n, x, y };
      }
    return { x: (best.x + ww / 2) * o.downsample, y: (best.y + wh / 2) * o.downsample };
  }

  it('lists the slides with thumbnails, opens one with its tiles, a scale bar from its MPP, errors in the page', async () => {
    await page.goto(`${base}#slide=no-such-slide`);
    await page.waitForSelector('body[data-ready=true]');
    await page.locator('#errors .error', { hasText: 'slide "no-such-slide" is not on this server' }).waitFor();

    await page.goto(base);
    await page.waitForSelector('body[data-ready=true]');
    const items = page.locator('#slide-list button');
    expect(await items.count()).toBe(2);
    await page.locator(`#slide-list button[data-slide="${slideId}"]`).click();
    await settled(page, '#view-a', {});
    await page.waitForFunction(() => Array.from((globalThis as unknown as PageGlobals).document.querySelectorAll('#slide-list img')).every((i) => i.complete && i.naturalWidth! > 0));
    expect(await page.locator('#slide-title').textContent()).toBe(manifest.slide.name);
    const slideTiles = tileResponses.filter((t) => t.url.includes(`/slides/${slideId}_files/`));
    expect(slideTiles.length).toBeGreaterThan(0);
    expect(slideTiles.every((t) => t.status === 200 && t.type === 'image/jpeg' && t.bytes > 0)).toBe(true);

    // at 1 screen pixel per slide pixel the bar is the longest 1/2/5 x 10^k µm below 160 px
    await page.goto(`${base}#slide=${slideId}&x=1000&y=1200&zoom=1`);
    await settled(page, '#view-a');
    const mpp = manifest.slide.mpp;
    const bar = page.locator('#scalebar');
    if (mpp) {
      // the bar's length is a 1, 2 or 5 x 10^k µm, the longest that fits in 160 px
      const m = /^([\d.]+) (nm|µm|mm)$/.exec((await bar.textContent()) ?? '');
      expect(m).not.toBeNull();
      const um = Number(m![1]) * { nm: 1e-3, µm: 1, mm: 1e3 }[m![2] as 'nm' | 'µm' | 'mm'];
      const mantissa = um / 10 ** Math.floor(Math.log10(um) + 1e-9);
      expect([1, 2, 5].some((v) => Math.abs(mantissa - v) < 1e-6)).toBe(true);
      const px = um / mpp.x; // at 1 screen pixel per slide pixel
      expect(px).toBeLessThanOrEqual(160);
      expect(px * 2.5).toBeGreaterThan(160);
      expect((await box(page, '#scalebar')).width).toBeCloseTo(px, 0);
      if (manifest.slide.magnification) expect(await page.locator('#magnification').textContent()).toBe(`${manifest.slide.magnification}×`);
    } else {
      expect(await bar.isHidden()).toBe(true);
    }
    await shot(page, '01-slide');
  });

  it('draws each layer at its place on the slide with the colours of its values; tiles differ per layer', async () => {
    const c = tissueCentre(await box(page, '#view-a'));
    await page.goto(`${base}#slide=${slideId}&overlay=original/grad/1_1&opacity=1&x=${c.x}&y=${c.y}&zoom=2`);
    const o11 = overlayOf('original/grad/1_1');
    await settled(page, '#view-a', { main: `${o11.live}|diverging|` });
    const view = viewOf(page);
    expect(view).toEqual({ x: c.x, y: c.y, zoom: 2 });
    const pane = await box(page, '#view-a');
    const s11 = await shot(page, '02-layer-1_1');
    const want11 = expected(pane, view, o11.key, 'diverging', o11.range);
    expect(want11.length).toBeGreaterThan(300);
    expect(agreement(s11, want11)).toBeGreaterThan(0.97);

    // ']' goes one layer deeper: 2_1, one value per 8 level-0 pixels
    await page.keyboard.press(']');
    const o21 = overlayOf('original/grad/2_1');
    await settled(page, '#view-a', { main: `${o21.live}|diverging|` });
    expect(await page.locator('#layers button[aria-checked=true]').textContent()).toBe('2_1');
    const s21 = await shot(page, '03-layer-2_1');
    const want21 = expected(pane, view, o21.key, 'diverging', o21.range);
    expect(agreement(s21, want21)).toBeGreaterThan(0.97);
    // and the screen really changed: the 1_1 colours no longer match
    expect(agreement(s21, want11)).toBeLessThan(0.5);
    // '[' goes back
    await page.keyboard.press('[');
    await settled(page, '#view-a', { main: `${o11.live}|` });
    expect(hashState(page).overlay).toBe('original/grad/1_1');
    await page.keyboard.press(']');
    await settled(page, '#view-a', { main: `${o21.live}|` });

    const tiles = (layer: string) => tileResponses.filter((t) => t.url.includes(`/overlays/original/grad/${layer}_files/`) && t.status === 200 && t.type === 'image/png');
    expect(tiles('1_1').length).toBeGreaterThan(0);
    expect(tiles('2_1').length).toBeGreaterThan(0);
    const sizes11 = new Set(tiles('1_1').map((t) => t.bytes));
    expect(tiles('2_1').some((t) => !sizes11.has(t.bytes))).toBe(true);
  });

  it('the opacity slider blends the overlay over the slide; o hides it', async () => {
    const pane = await box(page, '#view-a');
    const view = viewOf(page);
    const o21 = overlayOf('original/grad/2_1');
    const want = expected(pane, view, o21.key, 'diverging', o21.range);
    await page.keyboard.press('o');
    await settled(page, '#view-a');
    expect(hashState(page).show).toBe('0');
    const bare = await shot(page, '04-overlay-off');
    expect(agreement(bare, want)).toBeLessThan(0.3);

    await page.locator('#opacity').fill('0.5');
    await settled(page, '#view-a', { main: `${o21.live}|diverging|` });
    expect(hashState(page)).toMatchObject({ opacity: '0.5' });
    expect(hashState(page).show).toBeUndefined();
    const half = await shot(page, '05-opacity-0.5');
    const blended = want.map((p) => ({ ...p, rgb: p.rgb.map((v, c) => Math.round(0.5 * v + 0.5 * bare.at(p.x, p.y)[c]!)) as [number, number, number] }));
    expect(agreement(half, blended, 3)).toBeGreaterThan(0.95);
  });

  it('the model output shows under the saliency, alone when the saliency is hidden', async () => {
    const out = manifest.outputs?.[0];
    if (!out) throw new Error('the analysis has no model outputs');
    const o = overlayOf(`${out.variant}/${out.method}/${out.layer}`);
    await page.locator('#output').selectOption(o.key);
    await page.locator('#opacity').fill('1'); // shows the saliency again
    await page.locator('#overlay-on').uncheck();
    await settled(page, '#view-a', { output: `${o.live}|viridis|0|1` });
    expect(hashState(page)).toMatchObject({ output: o.key, show: '0', opacity: '1' });
    const s = await shot(page, '06-model-output');
    const want = expected(await box(page, '#view-a'), viewOf(page), o.key, 'viridis', o.range);
    expect(want.length).toBeGreaterThan(300);
    expect(agreement(s, want)).toBeGreaterThan(0.97);
    expect(await page.locator('#legend-output .legend-title').textContent()).toBe(`probability of class ${out.layer.replace('class-', '')}`);
    await page.locator('#output').selectOption('');
    await page.locator('#overlay-on').check();
    await settled(page, '#view-a');
    expect(await page.locator('#view-a').getAttribute('data-output')).toBeNull();
    expect(hashState(page).output).toBeUndefined();
  });

  it('curtain: the overlay left of the divider, the smoothed variant right of it; the divider drags', async () => {
    await page.locator('#opacity').fill('1');
    await page.keyboard.press('c');
    const main = overlayOf('original/grad/2_1');
    const cmp = overlayOf('backward-hook/grad/2_1');
    await settled(page, '#view-a', { main: `${main.live}|`, compare: `${cmp.live}|` });
    expect(hashState(page)).toMatchObject({ mode: 'curtain', compare: cmp.key });
    const pane = await box(page, '#view-a');
    const view = viewOf(page);
    const split = (f: number) => pane.x + f * pane.width;
    let s = await shot(page, '07-curtain');
    // the divider's handle is 30 px wide around the line
    const left = (f: number) => (x: number) => x < split(f) - 20;
    const right = (f: number) => (x: number) => x > split(f) + 20;
    expect(agreement(s, expected(pane, view, main.key, 'diverging', main.range, left(0.5)))).toBeGreaterThan(0.97);
    expect(agreement(s, expected(pane, view, cmp.key, 'diverging', cmp.range, right(0.5)))).toBeGreaterThan(0.97);

    const handle = await box(page, '#curtain-handle');
    await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await page.mouse.down();
    await page.mouse.move(split(0.25), handle.y + handle.height / 2, { steps: 5 });
    await page.mouse.up();
    await settled(page, '#view-a');
    expect(Number(hashState(page).split)).toBeCloseTo(0.25, 2);
    expect(viewOf(page)).toEqual(view); // dragging the divider does not pan the slide
    s = await shot(page, '08-curtain-dragged');
    expect(agreement(s, expected(pane, view, main.key, 'diverging', main.range, left(0.25)))).toBeGreaterThan(0.97);
    expect(agreement(s, expected(pane, view, cmp.key, 'diverging', cmp.range, right(0.25)))).toBeGreaterThan(0.97);
  });

  it('colour map and legend: viridis tiles and a legend with the server colours and the value range', async () => {
    await page.locator('#colormap').selectOption('viridis');
    const main = overlayOf('original/grad/2_1');
    const cmp = overlayOf('backward-hook/grad/2_1');
    await settled(page, '#view-a', { main: `${main.live}|viridis|`, compare: `${cmp.live}|viridis|` });
    const pane = await box(page, '#view-a');
    const view = viewOf(page);
    const s = await shot(page, '09-viridis');
    const splitX = pane.x + 0.25 * pane.width;
    expect(agreement(s, expected(pane, view, main.key, 'viridis', main.range, (x) => x < splitX - 20))).toBeGreaterThan(0.97);
    expect(agreement(s, expected(pane, view, cmp.key, 'viridis', cmp.range, (x) => x > splitX + 20))).toBeGreaterThan(0.97);

    const legend = await box(page, '#legend-main canvas');
    const cols = [0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999].map((f) => Math.floor(f * legend.width));
    const [lo, hi] = main.range;
    for (const col of cols) {
      const v = lo + ((hi - lo) * (col + 0.5)) / legend.width;
      const c = colorize(Float32Array.of(v), main.range, 'viridis');
      const got = s.at(Math.round(legend.x + col), Math.round(legend.y + legend.height / 2));
      got.forEach((g, i) => expect(Math.abs(g - c[i]!), `legend column ${col}`).toBeLessThanOrEqual(1));
    }
    const [elo, ehi] = [Number(lo.toExponential(2)), Number(hi.toExponential(2))];
    expect(Number(await page.locator('#legend-main .legend-lo').textContent())).toBeCloseTo(elo, 12);
    expect(Number(await page.locator('#legend-main .legend-hi').textContent())).toBeCloseTo(ehi, 12);
  });

  it('a shared link restores the view: same controls, same pixels', async () => {
    const url = page.url();
    const before = await shot(page, '10-before-share');
    const other = await browser.newPage({ viewport: VIEWPORT, deviceScaleFactor: 1 });
    watch(other);
    try {
      await other.goto(url);
      await other.waitForSelector('body[data-ready=true]');
      await settled(other, '#view-a', { main: `${overlayOf('original/grad/2_1').live}|viridis|`, compare: `${overlayOf('backward-hook/grad/2_1').live}|viridis|` });
      expect(other.url()).toBe(url);
      expect(await other.locator('#layers button[aria-checked=true]').textContent()).toBe('2_1');
      expect(await other.locator('#variant').inputValue()).toBe('original');
      expect(await other.locator('#opacity').inputValue()).toBe('1');
      expect(await other.locator('#colormap').inputValue()).toBe('viridis');
      expect(await other.locator('#compare').inputValue()).toBe('backward-hook/grad/2_1');
      expect(await other.locator('button[data-mode=curtain]').getAttribute('aria-pressed')).toBe('true');
      const after = await shot(other, '11-restored');
      // the slide area (the panel's focus ring and hover states may differ)
      const pane = await box(other, '#view-a');
      let sum = 0, n = 0;
      for (let y = Math.ceil(pane.y); y < pane.y + pane.height; y += 3)
        for (let x = Math.ceil(pane.x); x < pane.x + pane.width; x += 3) {
          const [a, b] = [before.at(x, y), after.at(x, y)];
          sum += Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
          n += 3;
        }
      expect(sum / n).toBeLessThan(1);
    } finally {
      await other.close();
    }
  });

  it('side by side: two synchronised views, the comparison on the right', async () => {
    await page.keyboard.press('b');
    const main = overlayOf('original/grad/2_1');
    const cmp = overlayOf('backward-hook/grad/2_1');
    await settled(page, '#view-a', { main: `${main.live}|viridis|` });
    await settled(page, '#view-b', { main: `${cmp.live}|viridis|` });
    const view = viewOf(page);
    expect(view.zoom).toBe(2); // half the width, same magnification
    // pan the left view; the right one follows
    const a = await box(page, '#view-a');
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    await page.mouse.move(a.x + a.width / 2 - 120, a.y + a.height / 2 - 60, { steps: 6 });
    await page.mouse.up();
    await page.waitForTimeout(1200);
    await settled(page, '#view-a');
    await settled(page, '#view-b');
    const moved = viewOf(page);
    expect(Math.hypot(moved.x - view.x, moved.y - view.y)).toBeGreaterThan(30);
    const b = await box(page, '#view-b');
    const s = await shot(page, '12-side-by-side');
    expect(agreement(s, expected(a, moved, main.key, 'viridis', main.range))).toBeGreaterThan(0.97);
    expect(agreement(s, expected(b, moved, cmp.key, 'viridis', cmp.range))).toBeGreaterThan(0.97);
    await page.keyboard.press('b');
    await page.locator('#pane-b').waitFor({ state: 'hidden' });
  });

  it('starts an analysis of another slide, shows its progress and then its overlays', async () => {
    const progress: string[] = [];
    await page.exposeFunction('recordJob', (t: string) => progress.push(t));
    await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      const el = g.document.querySelector('#job-text')!;
      new g.MutationObserver(() => g.recordJob(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await page.locator('#slide-list button[data-slide="small-tissue"]').click();
    await settled(page, '#view-a');
    await page.locator('#no-analysis').waitFor({ state: 'visible' });
    await page.locator('#analyze-open').click();
    await page.locator('#analyze').waitFor({ state: 'visible' });
    expect(await page.locator('#analyze-model').inputValue()).toBe('random-resnet18');
    // a bad field: the server's 400 is shown in the form
    await page.locator('#analyze-patch').fill('250');
    await page.locator('#analyze-start').click();
    await page.locator('#analyze-error', { hasText: 'patch' }).waitFor();
    await page.locator('#analyze-patch').fill('256');
    await page.locator('#analyze-layers input[value="2_1"]').uncheck();
    await page.locator('#analyze-variants input[value="original"]').uncheck();
    await shot(page, '13-analyse-form');
    await page.locator('#analyze-start').click();
    await page.locator('#analyze').waitFor({ state: 'hidden' });
    await page.locator('#job').waitFor({ state: 'visible' });
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#job')?.dataset.state === 'done', undefined, { timeout: 100_000 });
    const key = 'backward-hook/grad/1_1';
    await settled(page, '#view-a', { main: `/api/analyses/small-tissue/overlays/${key}.dzi|` });
    expect(progress.some((t) => /^small-tissue\.tif: \d+ \/ \d+ patches/.test(t))).toBe(true);
    expect(progress.at(-1)).toBe('small-tissue.tif: done');
    expect(hashState(page)).toMatchObject({ slide: 'small-tissue', analysis: 'small-tissue', overlay: key });
    await page.locator('#analysis').waitFor({ state: 'visible' });
    await shot(page, '14-new-analysis');
    const tiles = tileResponses.filter((t) => t.url.includes(`/api/analyses/small-tissue/overlays/${key}_files/`));
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.every((t) => t.status === 200)).toBe(true);
    expect(pageErrors).toEqual([]);
    expect(await page.locator('#errors .error').count()).toBe(0);
    writeFileSync(join(OUT, 'progress.txt'), `${progress.join('\n')}\n`);
  });
});
