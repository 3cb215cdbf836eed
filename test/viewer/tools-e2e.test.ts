/**
 * The viewer tools in chromium against the real server and a hand-written analysis whose values
 * the test knows (test/support/region-tools-fixture.ts): the regions of `sds regions` drawn and
 * listed, hidden with g, a list click moving the view into the region; a rectangle and a polygon
 * drawn with the mouse whose panel numbers equal the statistics the test sums over the float
 * store's pixels (its own point-in-polygon); the shape saved as a QuPath annotation; the ruler's
 * µm against the drag's level-0 length (from the view the page reports in its URL) times the
 * slide's MPP, and px on a slide without MPP. Screenshots: test-output/e2e/tools-*.png.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type SdsServer } from '../../server/index.js';
import { exportSaliencyGeoJson } from '../../results/index.js';
import { writeTiff, testPattern } from '../support/server-helpers.js';
import { ANALYSIS_ID, BLOCKS, expectedStats, KEY, MAP, OTHER_KEY, SLIDE, writeToolsFixture, type ToolsFixture } from '../support/region-tools-fixture.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && existsSync(p));
const OUT = new URL('../../test-output/e2e/', import.meta.url).pathname;

interface PageElement {
  dataset: Record<string, string | undefined>;
  hidden: boolean;
}
interface PageGlobals {
  document: { querySelector(sel: string): PageElement | null };
  location: { hash: string };
  requestAnimationFrame(cb: () => void): number;
}

describe.skipIf(!CHROMIUM)('viewer tools in chromium (regions, rectangle / polygon statistics, ruler)', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'sds-tools-e2e-')));
  let server: SdsServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  let fx: ToolsFixture;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    fx = await writeToolsFixture(join(root, 'slides'), join(root, 'results'));
    await exportSaliencyGeoJson(fx.analysisDir, { layer: '2_1', variant: 'backward-hook', method: 'grad', threshold: 2 });
    // a slide without MPP (libvips' default resolution is not a plausible microscope's)
    await writeTiff(join(root, 'slides', 'plain.tif'), testPattern(800, 600), 800, 600);
    server = createServer({ slides: [join(root, 'slides')], results: join(root, 'results'), port: 0, rescanMs: 0 }, () => undefined);
    base = (await server.listen(0, '127.0.0.1')).url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 850 }, deviceScaleFactor: 1, acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Opens a view and waits until its tiles are drawn. */
  async function open(hash: string) {
    // a fresh page (a URL differing only in its hash would not reload)
    await page.goto('about:blank');
    await page.goto(`${base}#${hash}`);
    await page.waitForSelector('body[data-ready=true]');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#view-a')?.dataset.loaded === 'true', undefined, { timeout: 20_000 });
    await page.evaluate(() => new Promise((r) => setTimeout(() => (globalThis as unknown as PageGlobals).requestAnimationFrame(() => r(null)), 100)));
  }

  const paneBox = async () => (await page.locator('#view-a').boundingBox())!;
  const hashView = () => {
    const h = new URLSearchParams(new URL(page.url()).hash.slice(1));
    return { x: Number(h.get('x')), y: Number(h.get('y')), zoom: Number(h.get('zoom')) };
  };
  /** level-0 px -> page px, from the view the page states (centre and zoom) */
  async function toPage(x: number, y: number) {
    const b = await paneBox();
    const v = hashView();
    return { x: b.x + b.width / 2 + (x - v.x) * v.zoom, y: b.y + b.height / 2 + (y - v.y) * v.zoom };
  }
  const stat = async (k: string) => Number(await page.locator(`#stats-table [data-stat="${k}"]`).getAttribute('data-value'));

  it('draws the regions of sds regions over the slide, lists them with µm² and max, g hides them, a click jumps to one', async () => {
    await open(`slide=tools&analysis=${ANALYSIS_ID}&overlay=${KEY}&opacity=0.4&x=800&y=600&zoom=0.5`);
    await page.waitForSelector('#regions[data-count="2"][data-source="file"]');
    const items = page.locator('#regions-list button');
    expect(await items.count()).toBe(2);
    // strongest first: the block of value 5, 20 x 16 map px of 8 x 8 level-0 px at 0.25 µm² each
    const um2 = (b: (typeof BLOCKS)[number]) => (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]) * MAP.downsample ** 2 * SLIDE.mpp ** 2;
    expect(um2(BLOCKS[0]!)).toBe(5120);
    expect(await items.nth(0).textContent()).toBe('#1 · 5120 µm² · max 5.06');
    expect(um2(BLOCKS[1]!)).toBe(4608);
    expect(await items.nth(1).textContent()).toBe('#2 · 4608 µm² · max 3.06');
    const paths = page.locator('.tools-layer path.region');
    expect(await paths.count()).toBe(2);
    // the outline of block 1 lies where the slide shows it: its path's screen box is the block's box
    const want = { a: await toPage(BLOCKS[0]!.box[0] * 8, BLOCKS[0]!.box[1] * 8), b: await toPage(BLOCKS[0]!.box[2] * 8, BLOCKS[0]!.box[3] * 8) };
    const got = (await paths.nth(0).boundingBox())!;
    // (the box of a path includes its stroke: 1.5 screen px, so compare centres and sizes)
    expect(Math.abs(got.x + got.width / 2 - (want.a.x + want.b.x) / 2)).toBeLessThan(1);
    expect(Math.abs(got.y + got.height / 2 - (want.a.y + want.b.y) / 2)).toBeLessThan(1);
    expect(got.width - (want.b.x - want.a.x)).toBeGreaterThanOrEqual(0);
    expect(got.width - (want.b.x - want.a.x)).toBeLessThan(8);
    expect(got.height - (want.b.y - want.a.y)).toBeGreaterThanOrEqual(0);
    expect(got.height - (want.b.y - want.a.y)).toBeLessThan(8);
    await page.screenshot({ path: join(OUT, 'tools-regions.png') });

    await page.keyboard.press('g');
    await page.waitForSelector('#regions[data-visible="false"]');
    expect(await paths.nth(0).isVisible()).toBe(false);
    await page.keyboard.press('g');
    await page.waitForSelector('#regions[data-visible="true"]');

    // the second region: the view fits it, so its centre moves into the region's box
    await items.nth(1).click();
    const [x0, y0, x1, y1] = BLOCKS[1]!.box.map((v) => v * MAP.downsample) as [number, number, number, number];
    await page.waitForFunction(
      ([x0, y0, x1, y1]) => {
        const h = new URLSearchParams((globalThis as unknown as PageGlobals).location.hash.slice(1));
        const [x, y] = [Number(h.get('x')), Number(h.get('y'))];
        return x >= x0 && x <= x1 && y >= y0 && y <= y1;
      },
      [x0, y0, x1, y1] as const,
      { timeout: 10_000 },
    );
    expect(hashView().zoom).toBeGreaterThan(0.5);
    await page.screenshot({ path: join(OUT, 'tools-region-jump.png') });

    // Find traces them on demand (the 99th percentile of |value| lies in the blocks)
    await page.locator('#regions-find').click();
    await page.waitForSelector('#regions[data-source="computed"]');
    expect(Number(await page.locator('#regions').getAttribute('data-count'))).toBeGreaterThanOrEqual(1);
  });

  async function checkPanel(threshold?: number) {
    await page.waitForSelector('#stats[data-state="done"]');
    const ring = JSON.parse((await page.locator('#stats').getAttribute('data-ring'))!) as number[][];
    const t = threshold ?? Number(await page.locator('#stats-table').getAttribute('data-threshold'));
    const want = expectedStats(fx.values, [ring], t);
    expect(want.pixels).toBeGreaterThan(100);
    expect(await stat('pixels')).toBe(want.pixels);
    expect(await stat('noTissue')).toBe(want.noTissue);
    for (const k of ['mean', 'min', 'max', 'aboveShare'] as const) expect(Math.abs((await stat(k)) - want[k]!), k).toBeLessThan(1e-6);
    expect(Math.abs((await stat('area')) - want.areaUm2)).toBeLessThan(1e-6);
    return { ring, want };
  }

  it('rectangle: drag over the slide, the panel shows the statistics of the map pixels inside; Save GeoJSON', async () => {
    await open(`slide=tools&analysis=${ANALYSIS_ID}&overlay=${KEY}&opacity=0.4&x=800&y=600&zoom=0.5`);
    expect(hashView()).toEqual({ x: 800, y: 600, zoom: 0.5 });
    await page.keyboard.press('r');
    expect(await page.locator('.tools-bar button[data-tool="rect"]').getAttribute('aria-pressed')).toBe('true');
    // over block 1, the background and the band without tissue
    const a = await toPage(250.3, 180.6), b = await toPage(700.9, 1150.2);
    await page.mouse.move(Math.round(a.x), Math.round(a.y));
    await page.mouse.down();
    await page.mouse.move(Math.round(b.x), Math.round(b.y), { steps: 6 });
    await page.mouse.up();
    const { ring, want } = await checkPanel();
    // the rectangle's corners are where the mouse was (the page's conversion against the URL's view)
    expect(ring).toHaveLength(4);
    expect(Math.abs(ring[0]![0]! - 250.3)).toBeLessThan(2.5);
    expect(Math.abs(ring[2]![1]! - 1150.2)).toBeLessThan(2.5);
    expect(want.noTissue).toBeGreaterThan(0);
    // the default threshold: the legend's upper value (the overlay's range, 2.5)
    expect(Number(await page.locator('#stats-table').getAttribute('data-threshold'))).toBe(2.5);
    expect(await page.locator('#stats-table [data-stat="area"]').textContent()).toBe(`${Number((want.areaUm2 / 1e6).toPrecision(4))} mm²`);
    await page.locator('#stats').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT, 'tools-rectangle.png') });

    // a threshold typed in the panel: the share follows
    await page.locator('#stats-threshold').fill('0.5');
    await page.locator('#stats-threshold').press('Enter');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#stats-table')?.dataset.threshold === '0.5');
    await checkPanel(0.5);

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#stats-save').click()]);
    const feature = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { type: string; geometry: { type: string; coordinates: number[][][] }; properties: { objectType: string; name: string; measurements: Record<string, number> } };
    expect(feature.type).toBe('Feature');
    expect(feature.geometry.type).toBe('Polygon');
    expect(feature.geometry.coordinates[0]).toHaveLength(5);
    expect(feature.geometry.coordinates[0]![0]).toEqual(feature.geometry.coordinates[0]![4]);
    expect(feature.properties.objectType).toBe('annotation');
    expect(feature.properties.name).toBe(`Rectangle on ${KEY}`);
    expect(feature.properties.measurements.pixels).toBe(await stat('pixels'));
    expect(feature.properties.measurements.mean).toBe(await stat('mean'));
    expect(feature.properties.measurements.threshold).toBe(0.5);
  });

  it('polygon: clicks and a double-click close it; the statistics of a concave shape', async () => {
    await page.locator('#stats-threshold').fill('');
    await page.locator('#stats-threshold').press('Enter');
    await page.locator('#stats-threshold').blur();
    await page.keyboard.press('p');
    const corners = [[300.7, 200.2], [1150.3, 260.9], [1100.6, 1000.4], [760.2, 520.7], [330.1, 1100.5]];
    for (const [i, [x, y]] of corners.entries()) {
      const p = await toPage(x!, y!);
      if (i < corners.length - 1) await page.mouse.click(Math.round(p.x), Math.round(p.y));
      else await page.mouse.dblclick(Math.round(p.x), Math.round(p.y));
    }
    await page.waitForFunction(() => JSON.parse((globalThis as unknown as PageGlobals).document.querySelector('#stats')?.dataset.ring ?? '[]').length === 5);
    const { ring } = await checkPanel();
    ring.forEach(([x, y], i) => expect(Math.hypot(x! - corners[i]![0]!, y! - corners[i]![1]!)).toBeLessThan(3));
    await page.locator('#stats').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT, 'tools-polygon.png') });
    // the statistics follow the overlay on screen: the other variant holds the negated map
    await page.locator('#variant').selectOption('original');
    await page.waitForFunction((key) => (globalThis as unknown as PageGlobals).document.querySelector('#stats-table [data-stat="key"]')?.dataset.value === key, OTHER_KEY);
    await page.waitForSelector('#stats[data-state="done"]');
    const neg = expectedStats(fx.values, [ring], 2.5, -1);
    expect(await stat('pixels')).toBe(neg.pixels);
    expect(Math.abs((await stat('mean')) - neg.mean!)).toBeLessThan(1e-6);
    expect(Math.abs((await stat('min')) - neg.min!)).toBeLessThan(1e-6);
    expect(await stat('min')).toBeCloseTo(-5.06, 6);
    await page.keyboard.press('Escape');
    expect(await page.locator('#pane-a').getAttribute('data-tool')).toBe('');
  });

  it('ruler: the length in µm is the drag\'s level-0 length times the MPP; Esc clears; px on a slide without MPP', async () => {
    await open(`slide=tools&analysis=${ANALYSIS_ID}&overlay=${KEY}&opacity=0.4&x=800&y=600&zoom=0.5`);
    await page.keyboard.press('m');
    const from = { x: 500, y: 300 }, to = { x: 800, y: 700 };
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 5 });
    await page.mouse.up();
    const zoom = hashView().zoom;
    const um = (Math.hypot(to.x - from.x, to.y - from.y) / zoom) * SLIDE.mpp; // 500 px / 0.5 -> 1000 level-0 px -> 500 µm
    const readout = page.locator('#ruler-readout');
    expect(Math.abs(Number(await readout.getAttribute('data-um')) - um) / um).toBeLessThan(1e-4);
    expect(await readout.textContent()).toBe('ruler: 500 µm');
    expect(await page.locator('.tools-layer .ruler-text').textContent()).toBe('500 µm');
    await page.screenshot({ path: join(OUT, 'tools-ruler.png') });
    await page.keyboard.press('Escape');
    expect(await readout.isHidden()).toBe(true);
    expect(await page.locator('.tools-layer .ruler-line').isVisible()).toBe(false);

    await open('slide=plain&x=400&y=300&zoom=1');
    await page.keyboard.press('m');
    await page.mouse.move(500, 300);
    await page.mouse.down();
    await page.mouse.move(800, 700, { steps: 5 });
    await page.mouse.up();
    expect(await readout.textContent()).toBe('ruler: 500 px (the slide has no MPP)');
    expect(await readout.getAttribute('data-um')).toBe('');
    // no analysis on this slide: no regions or statistics panels
    expect(await page.locator('#regions').isHidden()).toBe(true);
    expect(await page.locator('#stats').isHidden()).toBe(true);
    await page.screenshot({ path: join(OUT, 'tools-ruler-no-mpp.png') });
    expect(pageErrors).toEqual([]);
  });
});
