import { spawn } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SDS = fileURLToPath(new URL('../../bin/sds.js', import.meta.url));
const MODELS = fileURLToPath(new URL('../../models-demo/', import.meta.url));
const hasModels = existsSync(join(MODELS, 'tumour-resnet18.safetensors'));

describe.skipIf(!hasModels)('npm start (sds start --quick): sample, demo analysis, served viewer', () => {
  // samples of 1536 and 768 px: at the default overlap (64 at 256 px patches, stride 192) as many grid patches as 2048 and 1024 px had side by side
  it('makes the sample, analyses it with the demo classifier, serves the viewer with the overlays; a second start reuses the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sds-start-'));
    const args = [SDS, 'start', '--quick', '--port', '0', '--sample', join(dir, 'sample.svs'), '--size', '1536', '--results', join(dir, 'results'), '--workers', '2'];
    const start = () => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const url = new Promise<string>((ok, fail) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /sds viewer: (http:\/\/\S+)/.exec(out);
          if (m) ok(m[1]!);
        });
        child.on('exit', (code) => fail(new Error(`sds start exited ${code}: ${err}`)));
      });
      return { child, url, stderr: () => err };
    };
    const first = start();
    try {
      const url = await first.url;
      // the viewer serves first; the sample and the analysis follow behind it
      const jobs = async () => (await (await fetch(`${url}api/jobs`)).json()) as { state: string; analysis?: string }[];
      for (let t = 0; !/demo analyses ready/.test(first.stderr()); t++) {
        if (t > 1800) throw new Error(`no "demo analyses ready" in:\n${first.stderr()}`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
      expect(first.stderr()).toMatch(/sample slide .*sample\.svs \(made now\)/);
      // the analysis ran as one of the server's jobs
      const done = await jobs();
      expect(done.map((j) => j.state)).toEqual(['done']);
      const slides = (await (await fetch(`${url}api/slides`)).json()) as { id: string; name: string; mpp: { x: number } | null; analyses: { id: string; overlays: { key: string; live: string }[]; outputs: { key: string }[] }[] }[];
      const s = slides.find((x) => x.name === 'sample.svs')!;
      expect(s.mpp?.x).toBeCloseTo(0.5, 6);
      expect(s.analyses).toHaveLength(1);
      const a = s.analyses[0]!;
      expect(a.id).toBe(done[0]!.analysis);
      expect(a.overlays.map((o) => o.key)).toEqual(['original/grad/1_0', 'original/grad/1_1', 'backward-hook/grad/1_0', 'backward-hook/grad/1_1']);
      expect(a.outputs.map((o) => o.key)).toEqual(['model/output/tumour']); // named from the weights' metadata
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/openseadragon/i);
      // a live overlay tile at the top of the pyramid (the whole overlay in one tile)
      const dzi = await (await fetch(new URL(a.overlays[2]!.live, url))).text();
      const max = Math.ceil(Math.log2(Math.max(Number(/Width="(\d+)"/.exec(dzi)![1]), Number(/Height="(\d+)"/.exec(dzi)![1]))));
      const tile = await fetch(new URL(a.overlays[2]!.live.replace(/\.dzi$/, `_files/${max - 2}/0_0.png`), url));
      expect(tile.status).toBe(200);
      expect(tile.headers.get('content-type')).toBe('image/png');
    } finally {
      first.child.kill('SIGINT');
      await new Promise((ok) => first.child.once('exit', ok));
    }
    const second = start();
    try {
      const url = await second.url;
      for (let t = 0; !/demo analyses ready/.test(second.stderr()); t++) {
        if (t > 600) throw new Error(`no "demo analyses ready" in:\n${second.stderr()}`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
      expect(second.stderr()).toMatch(/cached analysis/);
      // nothing to run: no job, and the cached analysis is served
      expect(await (await fetch(`${url}api/jobs`)).json()).toEqual([]);
      expect(second.stderr()).not.toMatch(/made now/);
    } finally {
      second.child.kill('SIGINT');
      await new Promise((ok) => second.child.once('exit', ok));
    }
  }, 240_000);

  it('refuses a folder without demo models and a port in use, before making anything; --no-serve analyses and exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sds-start-err-'));
    const run = (extra: string[]) =>
      new Promise<{ code: number | null; err: string; out: string }>((ok) => {
        const child = spawn(process.execPath, [SDS, 'start', '--quick', '--sample', join(dir, 'sample.svs'), '--size', '768', '--results', join(dir, 'results'), '--workers', '2', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '', out = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => ok({ code, err, out }));
      });
    const empty = mkdtempSync(join(tmpdir(), 'sds-start-nomodels-'));
    const noModels = await run(['--models', empty, '--port', '0']);
    expect(noModels.code).not.toBe(0);
    expect(noModels.err).toMatch(/no demo models in .*sds-start-nomodels-/);
    expect(noModels.err).toMatch(/npm run train:demo/);
    expect(noModels.out).not.toMatch(/sds viewer:/);
    // a port taken by another server: named, with the remedy, and no sample made
    const taken = createNetServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    const port = (taken.address() as { port: number }).port;
    try {
      const busy = await run(['--port', String(port)]);
      expect(busy.code).not.toBe(0);
      expect(busy.err).toMatch(new RegExp(`port ${port} is already in use`));
      expect(busy.err).toMatch(/--port 0/);
      expect(existsSync(join(dir, 'sample.svs'))).toBe(false);
    } finally {
      await new Promise((ok) => taken.close(ok));
    }
    // --no-serve: the sample, the quick analysis, then exit 0 without a URL
    const analyse = await run(['--no-serve']);
    expect(analyse.err).toMatch(/demo analyses ready/);
    expect(analyse.code).toBe(0);
    expect(analyse.out).not.toMatch(/sds viewer:/);
    expect(existsSync(join(dir, 'results', 'tumour-resnet18-quick', 'sample', 'manifest.json'))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }, 120_000);
});
