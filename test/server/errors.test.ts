/**
 * Error statuses as server/API.md states them: models whose weights cannot be loaded are left out
 * of GET /api/models and refused (400) by POST /api/analyses; a patch no engine can hold is refused
 * naming the largest that fits; files that vanish or rot after they were listed give 404 / 500 JSON
 * errors that name no server path and carry no stack.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type ModelInfo, type SdsServer } from '../../server/index.js';
import { validateJob } from '../../server/run-job.js';
import { FloatStore } from '../../maps/index.js';
import { testPattern, tissuePattern, writeTiff } from '../support/server-helpers.js';
import { rawRequest } from '../support/raw-http.js';
import { syntheticManifest } from '../support/manifest.js';

const DEMO_WEIGHTS = new URL('../../models-demo/tumour-resnet18.safetensors', import.meta.url).pathname;
const root = realpathSync(mkdtempSync(join(tmpdir(), 'sds-server-errors-')));
const slides = join(root, 'slides');
const results = join(root, 'results');
const models = join(root, 'models');
const logged: string[] = [];
let server: SdsServer;
let port: number;

const get = (path: string) => rawRequest(port, { path });
const post = (body: unknown) => rawRequest(port, { method: 'POST', path: '/api/analyses', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const job = { slide: 'tissue', model: 'random-resnet18', layers: ['1_1', '2_1'], methods: ['grad'], variants: ['original', 'backward-hook'] };

/** A JSON error with this status, naming no server path, no stack. */
function errorOf(r: { status: number; type: string; body: Buffer }, status: number, what: string): { code: string; message: string; suggestion?: string } {
  expect(r.status, `${what}: ${r.body.toString().slice(0, 300)}`).toBe(status);
  expect(r.type, what).toMatch(/^application\/json/);
  const text = r.body.toString();
  expect(text, what).not.toContain(root);
  expect(text, what).not.toMatch(/\bat .*\.(ts|js):\d+/);
  return (JSON.parse(text) as { error: { code: string; message: string; suggestion?: string } }).error;
}

beforeAll(async () => {
  for (const d of [slides, results, models, join(results, 'rotten')]) mkdirSync(d, { recursive: true });
  await writeTiff(join(slides, 'tissue.tif'), tissuePattern(256, 256), 256, 256);
  await writeTiff(join(slides, 'vanishing.tif'), testPattern(300, 200), 300, 200);
  await writeTiff(join(slides, 'rotting.tif'), testPattern(300, 200), 300, 200);
  copyFileSync(DEMO_WEIGHTS, join(models, 'good.safetensors'));
  writeFileSync(join(models, 'garbage.safetensors'), 'this is not a safetensors file at all');
  writeFileSync(join(models, 'truncated.safetensors'), readFileSync(DEMO_WEIGHTS).subarray(0, 4000));
  writeFileSync(join(models, 'garbage.pt'), Buffer.from('PK\x03\x04 definitely not a torch zip'));
  writeFileSync(join(models, 'empty.pth'), '');
  // a header that claims more data than the file has
  const header = Buffer.from(JSON.stringify({ 'conv1.weight': { dtype: 'F32', shape: [64, 3, 7, 7], data_offsets: [0, 37632] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(models, 'lying.safetensors'), Buffer.concat([len, header, Buffer.alloc(16)]));
  // an analysis whose float store rots: a chunk of the wrong size
  const store = await FloatStore.create(join(results, 'rotten', 'overlays/original/grad/1_1.zarr'), { width: 100, height: 80, chunk: 64 });
  await store.writeRegion(0, 0, 100, 80, new Float32Array(8000).fill(0.5));
  await store.finalize();
  writeFileSync(join(results, 'rotten', 'overlays/original/grad/1_1.zarr', '0', '0', '1'), 'short');
  const entry = (layer: string, store: string) => ({ variant: 'original', method: 'grad', layer, downsample: 4, width: 100, height: 80, range: [0, 1] as [number, number], store, dzi: `${store}.dzi` });
  writeFileSync(
    join(results, 'rotten', 'manifest.json'),
    JSON.stringify(
      syntheticManifest({
        slide: { path: join(slides, 'rotting.tif'), name: 'rotting.tif', width: 400, height: 320 },
        patches: { size: 64, level: 0, overlap: 0, count: 1 },
        overlays: [entry('1_1', 'overlays/original/grad/1_1.zarr'), entry('2_1', 'overlays/original/grad/2_1.zarr')],
        seconds: 1,
        created: '2024-05-01T10:00:00.000Z',
      }),
    ),
  );
  server = createServer({ slides: [slides], results, models, port: 0, rescanMs: 60_000, workers: 1 }, (line) => logged.push(line));
  port = (await server.listen()).port;
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('models that cannot be loaded', () => {
  it('GET /api/models lists the loadable ones and skips (and logs) the broken ones', async () => {
    const r = await get('/api/models');
    expect(r.status).toBe(200);
    const list = JSON.parse(r.body.toString()) as ModelInfo[];
    expect(list.map((m) => m.id).sort()).toEqual(['good', 'random-resnet18']);
    expect(list.find((m) => m.id === 'good')).toMatchObject({ name: 'good.safetensors', arch: 'resnet18', surrogate: false });
    for (const name of ['garbage.safetensors', 'truncated.safetensors', 'garbage.pt', 'empty.pth', 'lying.safetensors']) {
      expect(logged.some((l) => l.includes(`model ${name} cannot be loaded`)), name).toBe(true);
    }
  });

  it('POST /api/analyses with one of them is a 400 naming the model (and no server path)', async () => {
    for (const id of ['garbage', 'truncated', 'garbage-2', 'empty', 'lying']) {
      const e = errorOf(await post({ ...job, model: id }), 400, id);
      expect(e.code).toBe('BAD_ARGUMENT');
      expect(e.message, id).toMatch(/^model: \S+ cannot be loaded/);
      expect(e.suggestion).toMatch(/GET \/api\/models/);
    }
    expect(server.context.jobs.busy).toBe(false);
  });

  it('the loadable file model is accepted', async () => {
    const j = await validateJob(server.context, { ...job, model: 'good', patch: 256 });
    expect(j.model.id).toBe('good');
    expect(j.task.options).toMatchObject({ patch: 256, batch: 8 });
  });
});

describe('patches the engine cannot hold', () => {
  it('patch 4096 is a 400 naming the field and the largest patch that fits; no job starts', async () => {
    const e = errorOf(await post({ ...job, patch: 4096 }), 400, 'patch 4096');
    expect(e.message).toMatch(/^patch: 4096 px needs about \d+(\.\d)? GiB of engine memory .* the largest patch that fits is 2528$/);
    expect(e.suggestion).toBe('use patch 2528 or smaller');
    // the same with the file model (same architecture), and per method / layer
    expect(errorOf(await post({ ...job, model: 'good', patch: 4096 }), 400, 'good 4096').message).toMatch(/largest patch that fits is 2528/);
    expect(errorOf(await post({ ...job, layers: ['input'], patch: 2048 }), 400, 'input 2048').message).toMatch(/largest patch that fits is 896$/);
    expect(errorOf(await post({ ...job, methods: ['ig'], patch: 1024 }), 400, 'ig 1024').message).toMatch(/largest patch that fits is 608$/);
    expect(server.context.jobs.busy).toBe(false);
  });

  it('the largest patch is accepted, with fewer patches per task', async () => {
    const j = await validateJob(server.context, { ...job, patch: 2528 });
    expect(j.task.options).toMatchObject({ patch: 2528, batch: 1 });
    const k = await validateJob(server.context, { ...job, patch: 1024 });
    expect(k.task.options).toMatchObject({ patch: 1024, batch: 6 });
  });
});

describe('files that vanish or rot after they were listed', () => {
  it('a slide deleted after listing: its tiles are 404 without its path', async () => {
    expect((await get('/api/slides/vanishing')).status).toBe(200);
    rmSync(join(slides, 'vanishing.tif'));
    for (const path of ['/slides/vanishing_files/9/0_0.jpeg', '/slides/vanishing/thumbnail.jpg']) {
      const e = errorOf(await get(path), 404, path);
      expect(e.code).toBe('NOT_FOUND');
    }
  });

  it('a slide rotten after listing: 500 INTERNAL without its path, the cause in the log', async () => {
    writeFileSync(join(slides, 'rotting.tif'), 'II*\0 not a tiff any more');
    const before = logged.length;
    const e = errorOf(await get('/slides/rotting_files/9/0_0.jpeg'), 500, 'rotten slide');
    expect(e).toEqual({ code: 'INTERNAL', message: 'internal server error', suggestion: 'see the server log' });
    expect(logged.slice(before).join('\n')).toMatch(/rotting/);
  });

  it('a rotten float store chunk is a 500; a missing store a 404', async () => {
    const rot = errorOf(await get('/api/analyses/rotten/overlays/original/grad/1_1_files/7/0_0.png'), 500, 'rotten chunk');
    expect(rot.code).toBe('INTERNAL');
    const gone = errorOf(await get('/api/analyses/rotten/overlays/original/grad/2_1_files/7/0_0.png'), 404, 'missing store');
    expect(gone.message).toMatch(/float store of overlay original\/grad\/2_1 is missing/);
  });
});
