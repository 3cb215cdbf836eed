/** `sds serve` as a user runs it: repeatable --slides, the printed URL answers, Ctrl-C stops it cleanly. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from '../../cli/args.js';
import { serveCommand } from '../../cli/commands/serve.js';
import type { SlideSummary } from '../../server/index.js';
import { testPattern, writeTiff } from '../support/server-helpers.js';

const SDS = new URL('../../bin/sds.js', import.meta.url).pathname;

describe('sds serve', () => {
  it('parses repeated --slides into a list, and defaults', () => {
    const { options } = parseCommandArgs(serveCommand, ['--slides', 'a', '--slides', 'b', '--port', '0']);
    expect(options).toMatchObject({ slides: ['a', 'b'], port: 0, host: '127.0.0.1', results: 'sds-results' });
    expect(parseCommandArgs(serveCommand, []).options).toMatchObject({ slides: [], port: 3000 });
    expect(() => parseCommandArgs(serveCommand, ['--port', 'http'])).toThrow(/--port/);
  });

  it('prints its URL, serves the slides of every folder, and exits 0 on one Ctrl-C (SIGINT to its process group)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sds-serve-cli-'));
    for (const d of ['a', 'b']) {
      mkdirSync(join(root, d));
      await writeTiff(join(root, d, `${d}-slide.tif`), testPattern(64, 48), 64, 48);
    }
    // its own process group: Ctrl-C in a terminal reaches the launcher and the server both
    const child = spawn(process.execPath, [SDS, 'serve', '--slides', join(root, 'a'), '--slides', join(root, 'b'), '--results', join(root, 'results'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          const m = /sds viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`sds serve exited (${code}): ${stderr}`)));
      });
      const slides = (await (await fetch(`${url}api/slides`)).json()) as SlideSummary[];
      expect(slides.map((s) => s.id)).toEqual(['a-slide', 'b-slide']);
      expect(stderr).toMatch(/2 slide\(s\) in 2 folder\(s\)/);
    } finally {
      process.kill(-child.pid!, 'SIGINT');
    }
    // one Ctrl-C is one interruption: a clean stop, not the "again: exiting now" of a second one
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGINT: stopping the server/);
    expect(stderr).not.toMatch(/again: exiting now/);
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses a slide folder that does not exist, naming it', async () => {
    const child = spawn(process.execPath, [SDS, 'serve', '--slides', '/no/such/folder', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/--slides \/no\/such\/folder: no such folder/);
  });
});
