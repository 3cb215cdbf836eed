import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SDS = fileURLToPath(new URL('../../bin/sds.js', import.meta.url));
const MODELS = fileURLToPath(new URL('../../models-demo/', import.meta.url));
const hasModels = existsSync(join(MODELS, 'tumour-resnet18.safetensors'));

describe.skipIf(!hasModels)('npm start (sds start --quick): sample, demo analysis, served viewer', () => {
  it('makes the sample, analyses it with the demo classifier, serves the viewer with the overlays; a second start reuses the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sds-start-'));
    const args = [SDS, 'start', '--quick', '--port', '0', '--sample', join(dir, 'sample.svs'), '--size', '2048', '--results', join(dir, 'results'), '--workers', '2'];
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
      expect(first.stderr()).toMatch(/sample slide .*sample\.svs \(made now\)/);
      const slides = (await (await fetch(`${url}api/slides`)).json()) as { id: string; name: string; mpp: { x: number } | null; analyses: { id: string; overlays: { key: string; live: string }[]; outputs: { key: string }[] }[] }[];
      const s = slides.find((x) => x.name === 'sample.svs')!;
      expect(s.mpp?.x).toBeCloseTo(0.5, 6);
      expect(s.analyses).toHaveLength(1);
      const a = s.analyses[0]!;
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
      await second.url;
      expect(second.stderr()).toMatch(/cached analysis/);
      expect(second.stderr()).not.toMatch(/made now/);
    } finally {
      second.child.kill('SIGINT');
      await new Promise((ok) => second.child.once('exit', ok));
    }
  }, 240_000);
});
