/**
 * The HTTP server against hostile input: traversal and malformed values in every URL parameter
 * (each route's every path segment), every query field, bad JSON bodies and content types,
 * oversized and malformed requests. Every answer must be a 4xx JSON error without a stack (never
 * 200, never 500), and nothing outside the configured folders may be opened: the likely targets
 * are FIFOs, whose opening is visible, and regular files whose contents must never come back.
 * test/server/app.test.ts holds the hand-picked traversal cases; these are generated per position.
 */
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type SdsServer } from '../../server/index.js';
import { FloatStore } from '../../maps/index.js';
import { hasReader, makeFifo, testPattern, writeTiff } from '../support/server-helpers.js';
import { rawRequest, rawSocket, type RawReply } from '../support/raw-http.js';
import { syntheticManifest } from '../support/manifest.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'sds-hostile-')));
const slides = join(root, 'slides');
const results = join(root, 'results');
const models = join(root, 'models');
const outside = join(root, 'outside');
const SECRET = 'SDS-SECRET-MARKER-7f3a';
let server: SdsServer;
let port: number;
const fifos: string[] = [];

/** Counts per category, printed at the end (the README's reliability table). */
const counted = new Map<string, number>();
const count = (category: string, n = 1) => counted.set(category, (counted.get(category) ?? 0) + n);

beforeAll(async () => {
  for (const d of [slides, results, models, outside, join(results, 'tiny')]) mkdirSync(d, { recursive: true });
  await writeTiff(join(slides, 'tiny.tif'), testPattern(300, 200), 300, 200);
  // likely traversal targets outside every configured folder, and beside them: FIFOs and marked files
  for (const dir of [root, outside]) {
    for (const name of ['secret.json', 'secret.svs', 'secret.tif', 'secret.png', 'secret.dzi', 'secret.safetensors', 'passwd']) {
      makeFifo(join(dir, `fifo-${name}`));
      fifos.push(join(dir, `fifo-${name}`));
      writeFileSync(join(dir, name), `{"marker": "${SECRET}"}`);
    }
  }
  symlinkSync(join(outside, 'secret.json'), join(results, 'tiny', 'link.json'));
  symlinkSync(join(outside, 'fifo-secret.tif'), join(slides, 'fifo-link.tif'));
  const store = await FloatStore.create(join(results, 'tiny', 'overlays/original/grad/1_1.zarr'), { width: 75, height: 50, chunk: 64 });
  await store.writeRegion(0, 0, 75, 50, Float32Array.from({ length: 75 * 50 }, (_, i) => Math.sin(i)));
  await store.finalize();
  writeFileSync(
    join(results, 'tiny', 'manifest.json'),
    JSON.stringify(
      syntheticManifest({
        slide: { path: join(slides, 'tiny.tif'), name: 'tiny.tif', width: 300, height: 200 },
        patches: { size: 64, level: 0, overlap: 0, count: 4 },
        overlays: [{ variant: 'original', method: 'grad', layer: '1_1', downsample: 4, width: 75, height: 50, range: [-1, 1], store: 'overlays/original/grad/1_1.zarr', dzi: 'overlays/original/grad/1_1.dzi' }],
        seconds: 1,
        created: '2024-05-01T10:00:00.000Z',
      }),
    ),
  );
  server = createServer({ slides: [slides], results, models, port: 0, rescanMs: 60_000, viewerDir: join(root, 'viewer-missing') }, () => undefined);
  port = (await server.listen()).port;
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
  // eslint-disable-next-line no-console
  console.log(`hostile requests per category: ${JSON.stringify(Object.fromEntries(counted))}`);
});

/** The reply is a JSON error with one of `statuses`, a code and a message, no stack, no secret. */
function expectJsonError(r: RawReply, what: string, statuses: number[] = [400, 404]): { code: string; message: string } {
  expect(statuses, `${what}: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`).toContain(r.status);
  expect(r.type, what).toMatch(/^application\/json/);
  const text = r.body.toString();
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(typeof body.error.code, what).toBe('string');
  expect(body.error.message, what).toBeTruthy();
  expect(text, what).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack frames
  expect(text, what).not.toContain(SECRET);
  expect(text, what).not.toContain('root:x:0:0');
  // the server's own folders are never named back (unless the client sent the path itself)
  let sent = what;
  try {
    sent = decodeURIComponent(what);
  } catch {
    // a malformed escape: compare with what was sent
  }
  if (!sent.includes(root)) expect(text, what).not.toContain(root);
  return body.error;
}

/** Values that must never be accepted as a path segment (already %-encoded where a URL needs it). */
const SEGMENTS = [
  '..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%252e%252e', '...', '..%2f..%2f..%2fetc%2fpasswd', '..%2F..%2Foutside%2Fsecret.json', '..%5c..%5coutside%5csecret.json', '..\\..\\outside',
  '%2fetc%2fpasswd', encodeURIComponent(join(outside, 'secret.json')), encodeURIComponent(join(outside, 'fifo-secret.json')), encodeURIComponent(join(root, 'passwd')), '%2F%2F..%2F..',
  '%00', 'tiny%00', '%00..', 'tiny%00.dzi', '%2500', 'tiny%0a', '%0d%0aX-Injected:%201',
  'a'.repeat(600), 'b'.repeat(4000), '%', '%zz', '%E0%A4%A', '%c0%ae%c0%ae', '%ef%bc%8e%ef%bc%8e', '%e2%80%a8',
  '~', '~root', '%7e', '$(id)', '`id`', '%3Cscript%3E', "'", '%22', '*', '..;', 'tiny;.dzi', '%3f', '%23', 'CON', 'tiny%20', '%20',
  '-1', '-0', '4294967296', '99999999999999999999', '1e3', '0x10', 'NaN', 'Infinity', '-Infinity', '+1', '1.0', '%EF%BC%91', '%D9%A3', '1_', '_1', '1_1_1', '0_-1',
];

/** Every route with a parameter, the parameter written as {v}. */
const TEMPLATES = [
  '/api/slides/{v}',
  '/slides/{v}.dzi',
  '/slides/{v}',
  '/slides/{v}/thumbnail.jpg',
  '/slides/{v}/associated/label.jpg',
  '/slides/tiny/associated/{v}',
  '/slides/tiny/associated/{v}.jpg',
  '/slides/{v}_files/9/0_0.jpeg',
  '/slides/tiny_files/{v}/0_0.jpeg',
  '/slides/tiny_files/9/{v}',
  '/slides/tiny_files/9/{v}_0.jpeg',
  '/slides/tiny_files/9/0_{v}.jpeg',
  '/slides/tiny_files/9/0_0.{v}',
  '/api/analyses/{v}',
  '/api/analyses/{v}/overlays/original/grad/1_1.dzi',
  '/api/analyses/tiny/overlays/{v}/grad/1_1.dzi',
  '/api/analyses/tiny/overlays/original/{v}/1_1.dzi',
  '/api/analyses/tiny/overlays/original/grad/{v}.dzi',
  '/api/analyses/tiny/overlays/original/grad/{v}',
  '/api/analyses/{v}/overlays/original/grad/1_1_files/7/0_0.png',
  '/api/analyses/tiny/overlays/{v}/grad/1_1_files/7/0_0.png',
  '/api/analyses/tiny/overlays/original/{v}/1_1_files/7/0_0.png',
  '/api/analyses/tiny/overlays/original/grad/{v}_files/7/0_0.png',
  '/api/analyses/tiny/overlays/original/grad/1_1_files/{v}/0_0.png',
  '/api/analyses/tiny/overlays/original/grad/1_1_files/7/{v}',
  '/api/analyses/tiny/overlays/original/grad/1_1_files/7/{v}_0.png',
  '/api/analyses/tiny/overlays/original/grad/1_1_files/7/0_{v}.png',
  '/results/{v}/manifest.json',
  '/results/tiny/{v}',
  '/results/tiny/{v}.json',
  '/results/tiny/{v}/manifest.json',
  '/results/tiny/overlays/{v}/grad/1_1.dzi',
  '/api/jobs/{v}',
  '/api/jobs/{v}/events',
  '/api/models/{v}',
  '/viewer/{v}',
  '/viewer/{v}/index.html',
  '/vendor/openseadragon/{v}',
  '/vendor/openseadragon/{v}/package.json',
  '/{v}',
];

describe('hostile URLs: every path parameter', () => {
  it(`${TEMPLATES.length} routes x ${SEGMENTS.length} values: 400/404 JSON errors, nothing outside opened`, async () => {
    let n = 0;
    for (const t of TEMPLATES) {
      for (const v of SEGMENTS) {
        const path = t.replace('{v}', v);
        const r = await rawRequest(port, { path });
        expectJsonError(r, path);
        n++;
      }
    }
    count('path parameters', n);
    for (const f of fifos) expect(hasReader(f), f).toBe(false);
  });

  it('the well-formed URLs of the same routes answer (the refusals above are about the values)', async () => {
    for (const path of ['/api/slides/tiny', '/slides/tiny.dzi', '/slides/tiny/thumbnail.jpg', '/slides/tiny_files/9/0_0.jpeg', '/api/analyses/tiny', '/api/analyses/tiny/overlays/original/grad/1_1.dzi', '/api/analyses/tiny/overlays/original/grad/1_1_files/7/0_0.png', '/results/tiny/manifest.json']) {
      expect((await rawRequest(port, { path })).status, path).toBe(200);
    }
  });

  it('tile indices: negative, huge, non-decimal, out of the pyramid', async () => {
    const tile = (level: string, col: string, row: string) => [`/slides/tiny_files/${level}/${col}_${row}.jpeg`, `/api/analyses/tiny/overlays/original/grad/1_1_files/${level}/${col}_${row}.png`];
    const values = ['-1', '-0', '2147483647', '2147483648', '4294967296', '9007199254740993', '1e2', '0x1', '0b1', '1.5', '+1', '%2B1', '%201', '1%20', 'NaN', 'Infinity', '%EF%BC%91', '%D9%A3', '0000000000001', '00000000001'];
    let n = 0;
    for (const v of values) {
      for (const path of [...tile(v, '0', '0'), ...tile('9', v, '0'), ...tile('9', '0', v)]) {
        const e = expectJsonError(await rawRequest(port, { path }), path);
        expect(e.code, path).toMatch(/^(BAD_ARGUMENT|NOT_FOUND)$/);
        n++;
      }
    }
    // in range of the schema, outside the pyramid: 404
    for (const path of [...tile('99', '0', '0'), ...tile('9', '2147483647', '0'), ...tile('9', '0', '2147483647'), ...tile('0', '1', '0')]) {
      expect(expectJsonError(await rawRequest(port, { path }), path, [404]).code).toBe('NOT_FOUND');
      n++;
    }
    count('tile indices', n);
  });
});

describe('hostile query strings (live overlay tiles)', () => {
  const tile = '/api/analyses/tiny/overlays/original/grad/1_1_files/7/0_0.png';
  it('bad colormap, min and max: 400 naming the field', async () => {
    const colormaps = ['rainbow', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'DIVERGING', 'gray%00', 'viridis%20', 'gray,magma', '..%2f..%2fsecret', 'a'.repeat(3000), '%', '%zz'];
    const numbers = ['NaN', 'Infinity', '-Infinity', '%2BInfinity', '1e999', '-1e999', '', '%20', '0x10', '0b1', '1,5', '1e', '--1', '1..2', '%00', '1%00', 'abc', '1/0', '%EF%BC%91', 'null', 'undefined', '[]', '{}', '1%202', '9'.repeat(400)];
    let n = 0;
    const check = async (query: string, field: RegExp) => {
      const e = expectJsonError(await rawRequest(port, { path: `${tile}?${query}` }), query, [400]);
      expect(e.message, query).toMatch(field);
      n++;
    };
    for (const c of colormaps) await check(`colormap=${c}`, /colormap/);
    for (const v of numbers) {
      await check(`min=${v}`, /min/);
      await check(`max=${v}`, /max/);
    }
    for (const q of ['colormap=gray&colormap=magma', 'min=1&min=2', 'max=1&max=2', 'min=2&max=1', 'min=1e308&max=-1e308']) await check(q, /colormap|min|max/);
    count('query fields', n);
  });

  it('unknown query fields are ignored (the tile is served)', async () => {
    for (const q of ['x=1', '__proto__[min]=5', 'colormap[]=gray', 'constructor=1', 'min[]=1']) {
      expect((await rawRequest(port, { path: `${tile}?${q}` })).status, q).toBe(200);
    }
  });
});

describe('hostile requests to POST /api/analyses', () => {
  const good = { slide: 'tiny', model: 'random-resnet18', layers: ['1_1'], methods: ['grad'], variants: ['original'], patch: 64 };
  const post = (body: string | Buffer, type?: string, headers: Record<string, string> = {}) => rawRequest(port, { method: 'POST', path: '/api/analyses', headers: { ...(type ? { 'content-type': type } : {}), ...headers }, body });

  it('bad JSON, wrong JSON types and wrong content types: 400, no job', async () => {
    let n = 0;
    const bodies = ['', '{', '{"slide": ', 'null', '1', '"tiny"', 'true', '[]', '{}', 'NaN', "{'slide': 'tiny'}", '{"slide": "tiny",}', '\u0000', '\ufeff{"slide": 1}', '[{"slide": "tiny"}]', '['.repeat(5000) + ']'.repeat(5000), '{"a":'.repeat(3000) + '1' + '}'.repeat(3000), JSON.stringify({ ...good, pad: 'x'.repeat(70_000) })];
    for (const b of bodies) {
      expectJsonError(await post(b, 'application/json'), `body ${b.slice(0, 40)}`, [400]);
      n++;
    }
    const json = JSON.stringify(good);
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'text/json', 'application/json-patch+json', 'application/json; charset=latin1', 'application/json; charset=utf-16', '*/*', 'application/*']) {
      expectJsonError(await post(json, type), `content-type ${type}`, [400]);
      n++;
    }
    expectJsonError(await post(json, 'application/json', { 'content-encoding': 'gzip' }), 'gzip header, plain body', [400]);
    expectJsonError(await post(Buffer.from([0x1f, 0x8b, 0, 0]), 'application/json', { 'content-encoding': 'gzip' }), 'broken gzip', [400]);
    expectJsonError(await post(json, 'application/json', { 'content-encoding': 'br-evil' }), 'unknown encoding', [400]);
    n += 3;
    count('request bodies', n);
    expect(server.context.jobs.busy).toBe(false);
  });

  it('hostile field values: 400 naming the field, no job, nothing outside opened', async () => {
    const long = 'a'.repeat(600);
    const cases: [Record<string, unknown>, RegExp][] = [];
    for (const v of ['..', '.', '../tiny', '..%2ftiny', '/etc/passwd', join(outside, 'fifo-secret.svs'), 'tiny\u0000', 'tiny/..', '', long, 1, null, ['tiny'], { id: 'tiny' }, true]) {
      cases.push([{ ...good, slide: v }, /slide/]);
      cases.push([{ ...good, model: v }, /model/]);
    }
    for (const v of [['../../etc'], ['1_1', '/abs'], ['a'.repeat(100)], [''], [1], 'x', null, [null], new Array(65).fill('1_1'), ['__proto__']]) cases.push([{ ...good, layers: v }, /layers/]);
    for (const v of [['__proto__'], ['constructor'], [''], 'grad', [1], []]) cases.push([{ ...good, methods: v }, /methods/]);
    for (const v of [['__proto__'], [{}], 'original', []]) cases.push([{ ...good, variants: v }, /variants/]);
    for (const v of [-1, 0, 31, 1e308, -1e308, 64.5, '256', null, [256], {}, true, 2 ** 53]) cases.push([{ ...good, patch: v }, /patch/]);
    for (const v of [-1, 1e9, 0.5, '0', null, [0]]) cases.push([{ ...good, overlap: v }, /overlap/]);
    cases.push([{ ...good, __proto__: { slide: 'tiny' }, extra: 1 }, /extra|Unrecognized/i]);
    cases.push([JSON.parse('{"__proto__": {"polluted": true}, "slide": "tiny"}') as Record<string, unknown>, /model|layers|__proto__|Unrecognized/i]);
    for (const [body, field] of cases) {
      const text = JSON.stringify(body);
      const e = expectJsonError(await post(text, 'application/json'), text.slice(0, 120), [400]);
      expect(e.code).toBe('BAD_ARGUMENT');
      expect(e.message, text.slice(0, 120)).toMatch(field);
    }
    count('request fields', cases.length);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(server.context.jobs.busy).toBe(false);
    expect(readdirSync(results)).toEqual(['tiny']); // no analysis folder was made
    for (const f of fifos) expect(hasReader(f), f).toBe(false);
  });
});

describe('hostile HTTP', () => {
  it('other methods, oversized and malformed requests: JSON errors', async () => {
    let n = 0;
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/api/slides', '/api/slides/tiny', '/slides/tiny_files/9/0_0.jpeg', '/results/tiny/manifest.json', '/api/jobs/x']) {
        // framed with a length: Node sends a DELETE body without one, which is a malformed request of its own (a 400)
        expectJsonError(await rawRequest(port, { method, path, headers: { 'content-type': 'application/json', 'content-length': '2' }, body: '{}' }), `${method} ${path}`, [404]);
        n++;
      }
    }
    // a request line over Node's 16 KiB header limit: answered by the HTTP layer, still JSON
    const huge = await rawRequest(port, { path: `/api/slides/${'a'.repeat(20_000)}` });
    expectJsonError(huge, 'a 20 KB URL', [431]);
    const headers = await rawRequest(port, { path: '/api/slides', headers: { 'x-pad': 'p'.repeat(20_000) } });
    expectJsonError(headers, '20 KB of headers', [431]);
    n += 2;
    for (const bytes of ['GARBAGE\r\n\r\n', 'GET /api/slides HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n', 'GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n']) {
      const reply = await rawSocket(port, bytes);
      expect(reply, JSON.stringify(bytes)).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(reply, JSON.stringify(bytes)).toMatch(/Content-Type: application\/json/i);
      expect(reply, JSON.stringify(bytes)).toMatch(/\{"error":\{"code":"BAD_ARGUMENT"/);
      n++;
    }
    count('HTTP layer', n);
    // the server still answers
    expect((await rawRequest(port, { path: '/api/slides' })).status).toBe(200);
    for (const f of fifos) expect(hasReader(f), f).toBe(false);
  });
});
