/**
 * The HTTP server against independent truths: tiles against the generated pixels (and OpenSlide-exact
 * slide reads), live overlay tiles against `colorize` of the float store, and path traversal
 * attempts against FIFOs whose opening would be visible.
 */
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AnalysisSummary, type SdsServer, type SlideDetail, type SlideSummary } from '../../server/index.js';
import { colorize, FloatStore, writeDzi } from '../../maps/index.js';
import { openSlide, type Slide } from '../../slide/index.js';
import { Lru } from '../../server/lru.js';
import { SlidePool } from '../../server/slide-pool.js';
import { crop, decode, diff, hasReader, makeFifo, rawGet, testPattern, writeTiff } from '../support/server-helpers.js';
import { SHARED } from '../support/shared.js';

const W = 700, H = 500;
const root = mkdtempSync(join(tmpdir(), 'sds-server-'));
const slidesA = join(root, 'slides-a');
const slidesB = join(root, 'slides-b');
const results = join(root, 'results');
const outside = join(root, 'outside');
const analysis = join(results, 'tiny');
const pixels = testPattern(W, H);
const OV = { width: 300, height: 200, chunk: 64 };
let server: SdsServer;
let base: string;
let port: number;
let storeValues: Float32Array;

const get = (path: string) => fetch(base + path.replace(/^\//, ''));
const json = async <T>(path: string): Promise<T> => {
  const r = await get(path);
  expect(r.status, `${path}: ${r.status}`).toBe(200);
  return (await r.json()) as T;
};
const errorOf = async (path: string) => {
  const r = await rawGet(port, path);
  return { status: r.status, type: r.type, error: (JSON.parse(r.body.toString()) as { error: { code: string; message: string } }).error };
};

beforeAll(async () => {
  for (const d of [slidesA, join(slidesA, 'sub'), slidesB, analysis, outside, join(root, 'viewer')]) mkdirSync(d, { recursive: true });
  await writeTiff(join(slidesA, 'tiny.tif'), pixels, W, H);
  await writeTiff(join(slidesA, 'sub', 'nested.tiff'), testPattern(300, 200), 300, 200);
  await writeTiff(join(slidesB, 'tiny.tif'), testPattern(400, 300), 400, 300);
  await writeTiff(join(outside, 'real.tif'), testPattern(200, 200), 200, 200);
  symlinkSync(join(slidesA, 'tiny.tif'), join(slidesA, 'inside-link.tif'));
  symlinkSync(join(outside, 'real.tif'), join(slidesA, 'outside-real.tif'));
  // FIFOs: opening one for reading is visible to hasReader(), so "never opened" is testable.
  makeFifo(join(outside, 'secret.svs'));
  symlinkSync(join(outside, 'secret.svs'), join(slidesA, 'outside-link.svs'));
  makeFifo(join(slidesA, 'pipe.svs'));
  makeFifo(join(results, 'secret.json'));
  makeFifo(join(outside, 'escape.json'));
  symlinkSync(join(results, 'secret.json'), join(analysis, 'leak.json'));
  symlinkSync(join(outside, 'escape.json'), join(analysis, 'escape.json'));
  makeFifo(join(analysis, 'pipe.json'));
  // regular files too: FIFOs show an open, these show a read that was served
  writeFileSync(join(outside, 'plain.json'), '{"secret": true}');
  writeFileSync(join(results, 'plain.json'), '{"secret": true}');
  symlinkSync(join(outside, 'plain.json'), join(analysis, 'escape-plain.json'));
  symlinkSync(join(results, 'plain.json'), join(analysis, 'leak-plain.json'));
  symlinkSync(join(outside, 'plain.json'), join(slidesA, 'plain.tif'));
  writeFileSync(join(analysis, 'notes.txt'), 'not served');
  writeFileSync(join(root, 'viewer', 'index.html'), '<!doctype html><title>sds viewer</title>');

  // an analysis: one saliency overlay (a float store bigger than a chunk: 4 store levels) and one output
  const store = await FloatStore.create(join(analysis, 'overlays/original/grad/1_1.zarr'), OV);
  storeValues = new Float32Array(OV.width * OV.height);
  for (let y = 0; y < OV.height; y++)
    for (let x = 0; x < OV.width; x++) storeValues[y * OV.width + x] = x < 40 ? NaN : 3 * Math.sin(x / 11) * Math.cos(y / 7);
  await store.writeRegion(0, 0, OV.width, OV.height, storeValues);
  await store.finalize();
  await writeDzi(store, join(analysis, 'overlays/original/grad/1_1'), { range: [-2, 2] });
  const out = await FloatStore.create(join(analysis, 'outputs/probability.zarr'), { width: 11, height: 8, chunk: 64 });
  await out.writeRegion(0, 0, 11, 8, Float32Array.from({ length: 88 }, (_, i) => i / 87));
  await out.finalize();
  const entry = (variant: string, method: string, layer: string, downsample: number, w: number, h: number, range: number[], store: string) => ({ variant, method, layer, downsample, width: w, height: h, range, store: `${store}.zarr`, dzi: `${store}.dzi` });
  writeFileSync(
    join(analysis, 'manifest.json'),
    JSON.stringify({
      version: 1,
      slide: { path: join(slidesA, 'tiny.tif'), name: 'tiny.tif', width: W, height: H },
      model: { weights: '/models/secret/place/tumour.safetensors', arch: 'resnet18' },
      patches: { size: 64, level: 0, overlap: 0, count: 12 },
      tissueMask: 'tissue-mask.png',
      overlays: [entry('original', 'grad', '1_1', 2, OV.width, OV.height, [-2, 2], 'overlays/original/grad/1_1')],
      outputs: [entry('model', 'output', 'probability', 64, 11, 8, [0, 1], 'outputs/probability')],
      seconds: 1.5,
      created: '2024-05-01T10:00:00.000Z',
    }),
  );
  server = createServer({ slides: [slidesA, slidesB], results, port: 0, rescanMs: 0, viewerDir: join(root, 'viewer') }, () => undefined);
  const l = await server.listen();
  base = l.url;
  port = l.port;
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('sds server: slides', () => {
  it('lists the slides with API ids; links out of the folder and non-files are left out and never opened', async () => {
    const slides = await json<SlideSummary[]>('/api/slides');
    expect(slides.map((s) => s.id)).toEqual(['inside-link', 'sub__nested', 'tiny', 'tiny-2']);
    const tiny = slides.find((s) => s.id === 'tiny')!;
    expect(tiny).toMatchObject({ name: 'tiny.tif', width: W, height: H, vendor: 'generic-tiff', mpp: null, magnification: null, dzi: '/slides/tiny.dzi', thumbnail: '/slides/tiny/thumbnail.jpg' });
    expect(slides.find((s) => s.id === 'tiny-2')).toMatchObject({ width: 400, height: 300 });
    // the analysis belongs to slides-a/tiny.tif (by its path), not to slides-b/tiny.tif (same name)
    expect(tiny.analyses.map((a) => a.id)).toEqual(['tiny']);
    expect(slides.find((s) => s.id === 'tiny-2')!.analyses).toEqual([]);
    for (const fifo of [join(outside, 'secret.svs'), join(slidesA, 'pipe.svs')]) expect(hasReader(fifo), fifo).toBe(false);
    expect((await get('/slides/outside-real.dzi')).status).toBe(404);
    expect((await get('/slides/outside-link.dzi')).status).toBe(404);
  });

  it('serves the Deep Zoom descriptor of level 0', async () => {
    const r = await get('/slides/tiny.dzi');
    expect(r.headers.get('content-type')).toMatch(/xml/);
    const xml = await r.text();
    expect(xml).toMatch(/TileSize="254" Overlap="1" Format="jpeg"/);
    expect(xml).toMatch(new RegExp(`<Size Width="${W}" Height="${H}"/>`));
  });

  it('tiles hold the slide pixels at full resolution and 2x2 means of them one level down', async () => {
    // max level = ceil(log2 700) = 10; tile (1, 1) spans 253..509 with the 1-pixel overlap on each side
    const full = await decode(Buffer.from(await (await get('/slides/tiny_files/10/1_1.jpeg')).arrayBuffer()), 3);
    expect([full.width, full.height]).toEqual([256, 247]); // 500 - 253 rows left
    const exact = crop(pixels, W, 253, 253, 256, 247);
    const e = diff(full.data, exact);
    expect(e.mean).toBeLessThan(2); // JPEG
    // the same area a few pixels off is clearly worse: the comparison can tell tiles apart
    expect(diff(full.data, crop(pixels, W, 257, 253, 256, 247)).mean).toBeGreaterThan(3 * e.mean);

    // level 9: half resolution (350 x 250), tile (0, 0) is 255 x 250
    const half = await decode(Buffer.from(await (await get('/slides/tiny_files/9/0_0.jpeg')).arrayBuffer()), 3);
    expect([half.width, half.height]).toEqual([255, 250]);
    const mean2 = new Uint8Array(255 * 250 * 3);
    for (let y = 0; y < 250; y++)
      for (let x = 0; x < 255; x++)
        for (let c = 0; c < 3; c++) {
          const p = (yy: number, xx: number) => pixels[(yy * W + xx) * 3 + c]!;
          mean2[(y * 255 + x) * 3 + c] = Math.round((p(2 * y, 2 * x) + p(2 * y, 2 * x + 1) + p(2 * y + 1, 2 * x) + p(2 * y + 1, 2 * x + 1)) / 4);
        }
    expect(diff(half.data, mean2).mean).toBeLessThan(2);
  });

  it('serves a thumbnail of at most 512 px', async () => {
    const r = await get('/slides/tiny/thumbnail.jpg');
    expect(r.headers.get('content-type')).toBe('image/jpeg');
    const t = await decode(Buffer.from(await r.arrayBuffer()), 3);
    expect(Math.max(t.width, t.height)).toBeLessThanOrEqual(512);
    expect(t.width / t.height).toBeCloseTo(W / H, 1);
  });

  const CMU = `${SHARED}slides/CMU-1-Small-Region.svs`;
  describe.skipIf(!existsSync(CMU))('on CMU-1-Small-Region.svs (../shared)', () => {
    it('tiles equal Slide.readRegion of the same area (JPEG-exact to a few levels)', async () => {
      // (a link to it from a temporary folder would be refused: it leads out of that folder)
      const s = createServer({ slides: [`${SHARED}slides`], port: 0, viewerDir: join(root, 'viewer') }, () => undefined);
      const { url } = await s.listen();
      const slide = await openSlide(CMU);
      try {
        const info = await (await fetch(`${url}api/slides/CMU-1-Small-Region`)).json() as SlideDetail;
        expect(info).toMatchObject({ width: 2220, height: 2967, levels: slide.levels.length, mpp: { x: 0.499, y: 0.499 }, magnification: 20, vendor: 'aperio' });
        expect(info.associated.map((a) => a.name).sort()).toEqual(slide.associated.map((a) => a.name).sort());
        // DZ level 12 is full resolution (2^12 >= 2967); level 10 is 4x down: the slide's 4x level
        for (const [level, col, row, f] of [[12, 3, 4, 1], [10, 1, 2, 4]] as const) {
          const slideLevel = slide.levels.findIndex((l) => l.downsample === f);
          const tile = await decode(Buffer.from(await (await fetch(`${url}slides/CMU-1-Small-Region_files/${level}/${col}_${row}.jpeg`)).arrayBuffer()), 3);
          const x = col * 254 - 1, y = row * 254 - 1;
          const want = await slide.readRegion(slideLevel, x * f, y * f, tile.width, tile.height);
          const e = diff(tile.data, want);
          // JPEG re-encoding of tissue (quality 85, 4:2:0 chroma) costs ~5.6 on average
          expect(e.mean, `level ${level}`).toBeLessThan(7);
          const off = await slide.readRegion(slideLevel, (x + 2) * f, y * f, tile.width, tile.height);
          expect(diff(tile.data, off).mean, `level ${level} shifted by 2 px`).toBeGreaterThan(3 * e.mean);
        }
        const label = await fetch(`${url}slides/CMU-1-Small-Region/associated/label.jpg`);
        const got = await decode(Buffer.from(await label.arrayBuffer()), 3);
        const ref = await slide.readAssociated('label');
        expect([got.width, got.height]).toEqual([ref.width, ref.height]);
        expect(diff(got.data, ref.data).mean).toBeLessThan(6); // JPEG of a barcode label
      } finally {
        await slide.close();
        await s.close();
      }
    });
  });
});

describe('sds server: refusals', () => {
  it('refuses path traversal in every spelling, without opening anything outside the analysis folder', async () => {
    const fifos = [join(results, 'secret.json'), join(outside, 'escape.json'), join(analysis, 'pipe.json')];
    const attempts: [string, number][] = [
      ['/results/tiny/../secret.json', 400],
      ['/results/tiny/%2e%2e/secret.json', 400],
      ['/results/tiny/%2E%2E/secret.json', 400],
      ['/results/tiny/..%2Fsecret.json', 400],
      ['/results/tiny/%2e%2e%2fsecret.json', 400],
      ['/results/tiny/%252e%252e/secret.json', 400],
      ['/results/tiny/%252e%252e%252fsecret.json', 400],
      [`/results/tiny/${encodeURIComponent(join(results, 'secret.json'))}`, 400],
      [`/results/tiny/${join(results, 'secret.json')}`, 400],
      ['/results/tiny//secret.json', 400],
      ['/results/tiny/.%5Csecret.json', 400],
      ['/results/%2e%2e/secret.json', 400],
      ['/results/..%2Fresults/secret.json', 400],
      ['/results/tiny/leak.json', 404], // a link inside the folder to the results folder's FIFO
      ['/results/tiny/escape.json', 404], // a link out of everything
      ['/results/tiny/pipe.json', 404], // not a regular file
      ['/results/tiny/escape-plain.json', 404],
      ['/results/tiny/leak-plain.json', 404],
      ['/results/tiny/../plain.json', 400],
      ['/results/tiny/notes.txt', 400], // not a whitelisted type
      ['/slides/..%2F..%2Foutside%2Freal.dzi', 400],
      ['/slides/%2e%2e.dzi', 400],
      ['/api/slides/%2e%2e', 400],
      ['/api/analyses/..', 400],
      ['/slides/outside-real_files/0/0_0.jpeg', 404],
    ];
    for (const [path, status] of attempts) {
      const r = await errorOf(path);
      expect(r.status, path).toBe(status);
      expect(r.type, path).toMatch(/application\/json/);
      expect(r.error.message, path).toBeTruthy();
      expect(r.error.message, path).not.toMatch(/\n\s+at /); // no stack
    }
    for (const f of fifos) expect(hasReader(f), f).toBe(false);
    // and the probe does see a reader when there is one
    const fd = openSync(fifos[0]!, constants.O_RDONLY | constants.O_NONBLOCK);
    expect(hasReader(fifos[0]!)).toBe(true);
    closeSync(fd);
    // the route itself works: a whitelisted file inside is served
    const m = await rawGet(port, '/results/tiny/manifest.json');
    expect(m.status).toBe(200);
    expect(JSON.parse(m.body.toString())).toMatchObject({ version: 1 });
  });

  it('answers bad parameters with 400 naming the problem, and unknown things with 404', async () => {
    const cases: [string, number, RegExp][] = [
      ['/slides/tiny_files/x/0_0.jpeg', 400, /tile level: must be a whole number/],
      ['/slides/tiny_files/-1/0_0.jpeg', 400, /tile level/],
      ['/slides/tiny_files/1.5/0_0.jpeg', 400, /tile level/],
      ['/slides/tiny_files/10/0-0.jpeg', 400, /tile name: must be <col>_<row>\.jpeg/],
      ['/slides/tiny_files/10/0_0.png', 400, /tile name/],
      ['/slides/tiny_files/10/99999999999_0.jpeg', 400, /tile name/],
      ['/slides/tiny_files/11/0_0.jpeg', 404, /no tile 11\/0_0/],
      ['/slides/tiny_files/10/3_0.jpeg', 404, /no tile/],
      ['/slides/tiny.xml', 400, /not <slide id>\.dzi/],
      ['/slides/tiny/associated/label.jpg', 404, /no label image/],
      ['/slides/tiny/associated/passwd.jpg', 400, /associated image/],
      ['/slides/nope.dzi', 404, /no slide "nope"/],
      ['/api/slides/nope', 404, /no slide "nope"/],
      ['/slides/nope_files/0/0_0.jpeg', 404, /no slide/],
      ['/api/analyses/nope', 404, /no analysis "nope"/],
      ['/api/analyses/tiny/overlays/original/grad/4_1.dzi', 404, /no overlay original\/grad\/4_1/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/9/0_0.png?colormap=rainbow', 400, /colormap/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/9/0_0.png?min=abc', 400, /min: must be a number/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/9/0_0.png?max=1e999', 400, /max: must be finite/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/9/0_0.png?min=Infinity', 400, /min/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/9/0_0.png?min=2&max=1', 400, /min 2 is above max 1/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/9/0_0.png?colormap=gray&colormap=magma', 400, /colormap/],
      ['/api/analyses/tiny/overlays/original/grad/1_1_files/10/0_0.png', 404, /no tile 10\/0_0/],
      ['/api/jobs/nope', 404, /no job "nope"/],
      ['/api/jobs/%2e%2e', 400, /bad job id/],
      ['/slides/%E0%A4%A.dzi', 400, /malformed/],
      ['/no/such/route', 404, /no such resource/],
    ];
    for (const [path, status, message] of cases) {
      const r = await errorOf(path);
      expect(r.status, path).toBe(status);
      expect(r.error.code, path).toBe(status === 400 ? 'BAD_ARGUMENT' : 'NOT_FOUND');
      expect(r.error.message, path).toMatch(message);
    }
  });

  it('answers only requests addressed to a loopback name (DNS rebinding)', async () => {
    const r = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/slides', headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(r).toBe(403);
  });
});

describe('sds server: analyses and live overlays', () => {
  it('describes the analysis with overlay and output URLs, weights named by file name only', async () => {
    const a = await json<AnalysisSummary>('/api/analyses/tiny');
    expect(a).toMatchObject({ id: 'tiny', slide: 'tiny', seconds: 1.5, model: { weights: 'tumour.safetensors', arch: 'resnet18' }, patches: { size: 64, level: 0, overlap: 0, count: 12 }, tissueMask: '/results/tiny/tissue-mask.png' });
    expect(a.overlays).toEqual([
      { key: 'original/grad/1_1', variant: 'original', method: 'grad', layer: '1_1', width: 300, height: 200, downsample: 2, range: [-2, 2], dzi: '/results/tiny/overlays/original/grad/1_1.dzi', live: '/api/analyses/tiny/overlays/original/grad/1_1.dzi' },
    ]);
    expect(a.outputs.map((o) => [o.key, o.method, o.live])).toEqual([['model/output/probability', 'output', '/api/analyses/tiny/overlays/model/output/probability.dzi']]);
    // the pre-rendered pyramid is reachable through the dzi URL
    expect(await (await get(a.overlays[0]!.dzi)).text()).toMatch(/Width="300" Height="200"/);
    expect((await get('/results/tiny/overlays/original/grad/1_1_files/9/0_0.png')).headers.get('content-type')).toBe('image/png');
  });

  it('live overlay DZI and tiles: pixels are colorize() of the float store, NaN transparent', async () => {
    const xml = await (await get('/api/analyses/tiny/overlays/original/grad/1_1.dzi')).text();
    expect(xml).toMatch(/TileSize="256" Overlap="0" Format="png"/);
    expect(xml).toMatch(/<Size Width="300" Height="200"\/>/);
    const store = await FloatStore.open(join(analysis, 'overlays/original/grad/1_1.zarr'));
    expect(store.levels.length).toBe(4); // 300, 150, 75, 38 wide
    const tile = async (path: string) => decode(Buffer.from(await (await get(path)).arrayBuffer()), 4);

    // level 9 = full resolution: tile (1, 0) is x 256..300
    const t = await tile('/api/analyses/tiny/overlays/original/grad/1_1_files/9/1_0.png');
    expect([t.width, t.height]).toEqual([44, 200]);
    const values = await store.readRegion(0, 256, 0, 44, 200);
    expect(values).toEqual(Float32Array.from({ length: 44 * 200 }, (_, i) => storeValues[Math.floor(i / 44) * 300 + 256 + (i % 44)]!));
    expect(Buffer.from(t.data).equals(Buffer.from(colorize(values, [-2, 2], 'diverging')))).toBe(true);

    // level 8 = store level 1, magma over a chosen range
    const t8 = await tile('/api/analyses/tiny/overlays/original/grad/1_1_files/8/0_0.png?colormap=magma&min=-1&max=2.5');
    expect([t8.width, t8.height]).toEqual([150, 100]);
    const v8 = await store.readRegion(1, 0, 0, 150, 100);
    expect(Buffer.from(t8.data).equals(Buffer.from(colorize(v8, [-1, 2.5], 'magma')))).toBe(true);
    // NaN (x < 40 at level 0, x < 20 here) is fully transparent, values opaque
    expect(t8.data[(50 * 150 + 5) * 4 + 3]).toBe(0);
    expect(t8.data[(50 * 150 + 100) * 4 + 3]).toBe(255);

    // level 5 (16x) is below the store's last level (8x): NaN-aware 2x2 means of store level 3
    const t5 = await tile('/api/analyses/tiny/overlays/original/grad/1_1_files/5/0_0.png?colormap=gray');
    expect([t5.width, t5.height]).toEqual([19, 13]);
    const l3 = await store.readRegion(3, 0, 0, 38, 26);
    const want = new Float32Array(19 * 13);
    for (let y = 0; y < 13; y++)
      for (let x = 0; x < 19; x++) {
        const vs = [l3[2 * y * 38 + 2 * x]!, l3[2 * y * 38 + 2 * x + 1]!, l3[(2 * y + 1) * 38 + 2 * x]!, l3[(2 * y + 1) * 38 + 2 * x + 1]!].filter((v) => !Number.isNaN(v));
        want[y * 19 + x] = vs.length ? vs.reduce((s, v) => s + v, 0) / vs.length : NaN;
      }
    expect(Buffer.from(t5.data).equals(Buffer.from(colorize(want, [-2, 2], 'gray')))).toBe(true);

    // the model-output overlay renders too
    const o = await tile('/api/analyses/tiny/overlays/model/output/probability_files/4/0_0.png');
    expect([o.width, o.height]).toEqual([11, 8]);
    expect(o.data[3]).toBe(255);
  });

  it('colormaps: magma and gray end at their anchors, NaN is transparent', () => {
    const v = Float32Array.from([0, 1, 0.5, NaN]);
    const m = colorize(v, [0, 1], 'magma');
    expect([...m.subarray(0, 4)]).toEqual([0, 0, 4, 255]);
    expect([...m.subarray(4, 8)]).toEqual([252, 253, 191, 255]);
    expect([...m.subarray(12, 16)]).toEqual([0, 0, 0, 0]);
    const g = colorize(v, [0, 1], 'gray');
    expect([...g.subarray(0, 12)]).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255]);
  });
});

describe('sds server: viewer', () => {
  it('serves the viewer page at / and OpenSeadragon from node_modules', async () => {
    expect(await (await get('/')).text()).toMatch(/sds viewer/);
    const osd = await get('/vendor/openseadragon/openseadragon.min.js');
    expect(osd.status).toBe(200);
    expect(osd.headers.get('content-type')).toMatch(/javascript/);
  });
});

describe('sds server: catalogs and caches', () => {
  it('notices a new slide at the next request (folder mtimes)', async () => {
    const before = (await json<SlideSummary[]>('/api/slides')).map((s) => s.id);
    await writeTiff(join(slidesB, 'late.tif'), testPattern(90, 70), 90, 70);
    const after = await json<SlideSummary[]>('/api/slides');
    expect(after.map((s) => s.id).sort()).toEqual([...before, 'late'].sort());
    expect(after.find((s) => s.id === 'late')).toMatchObject({ width: 90, height: 70 });
    expect(after.find((s) => s.id === 'tiny-2')).toMatchObject({ width: 400, height: 300 }); // ids stay put
  });

  it('the tile LRU holds at most its byte budget, evicting the least recently used', () => {
    const evicted: string[] = [];
    const lru = new Lru<Buffer>({ capacity: 100, cost: (b) => b.byteLength, onEvict: (k) => evicted.push(k) });
    lru.set('a', Buffer.alloc(40));
    lru.set('b', Buffer.alloc(40));
    lru.get('a'); // a is now the most recent
    lru.set('c', Buffer.alloc(40));
    expect(evicted).toEqual(['b']);
    expect(lru.used).toBe(80);
    lru.set('huge', Buffer.alloc(101)); // larger than the whole budget: not kept
    expect(lru.get('huge')).toBeUndefined();
    expect(lru.used).toBe(80);
  });

  it('the slide pool closes an evicted slide once its last reader is done', async () => {
    const pool = new SlidePool({ maxOpen: 1 });
    const a = join(slidesA, 'tiny.tif');
    const b = join(slidesA, 'sub', 'nested.tiff');
    let first: Slide | undefined;
    await pool.use(a, 'v1', async (slide) => {
      first = slide;
      // another slide is opened meanwhile and evicts this one, which must stay readable until we return
      await pool.use(b, 'v1', async (other) => other.readRegion(0, 0, 0, 4, 4));
      expect((await slide.readRegion(0, 0, 0, 4, 4)).length).toBe(48);
    });
    await new Promise((r) => setTimeout(r, 10));
    await expect(first!.readRegion(0, 0, 0, 4, 4)).rejects.toThrow(/was closed/);
    await pool.close();
  });
});
