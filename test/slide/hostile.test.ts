/**
 * Hostile and broken slide files (issue #14). Every file is built byte by byte (test/support/hostile-tiff.ts);
 * none needs ../shared. Each case must end within 5 s and without the process's peak memory growing by more
 * than 200 MiB (test/support/resource-bound.ts), and when it fails, fail with an SdsError that has a code, a
 * message naming the file and the problem, and a suggestion: never a RangeError/TypeError, never a hang.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ZodType } from 'zod';
import { parseCommandArgs, type CommandSpec } from '../../cli/args.js';
import { infoCommand } from '../../cli/commands/info.js';
import { regionCommand } from '../../cli/commands/region.js';
import { SdsError, type SdsErrorCode } from '../../core/errors.js';
import { openSlide, type Slide } from '../../slide/index.js';
import { MAX_ASSOCIATED_PIXELS, MAX_BLOCK_PIXELS } from '../../slide/limits.js';
import { renderAssociated, renderThumbnail } from '../../server/slide-tiles.js';
import { createServer, type SdsServer } from '../../server/index.js';
import {
  APERIO,
  aperioHugeAssociated,
  buildTiff,
  deflateBomb,
  directoryOffsets,
  hugeEmptyTile,
  j2kClaiming,
  jpegClaiming,
  lzwBomb,
  lzwCodes,
  oneTile,
  smallLevel,
  solid,
  T,
  type IfdSpec,
  type TiffSpec,
} from '../support/hostile-tiff.js';
import { measure, type Bounded } from '../support/resource-bound.js';
import { hasReader, makeFifo } from '../support/server-helpers.js';

const LIMIT_MS = 5000;
const LIMIT_MB = 200;
const GiB = 2 ** 30;

const tmp = mkdtempSync(join(tmpdir(), 'sds-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let fileNo = 0;
function file(name: string, bytes: Uint8Array): string {
  const path = join(tmp, `${String(++fileNo).padStart(3, '0')}-${name}`);
  writeFileSync(path, bytes);
  return path;
}

/** Within the time and memory bounds, whatever the outcome. */
function expectBounded(r: Bounded<unknown>, label: string): void {
  expect(r.ms, `${label}: ${Math.round(r.ms)} ms`).toBeLessThan(LIMIT_MS);
  expect(r.peakGrowthMB, `${label}: peak RSS +${Math.round(r.peakGrowthMB)} MiB (${r.method})`).toBeLessThan(LIMIT_MB);
}

/** A clean refusal: bounded, an SdsError with this code, the file's name and `problem` in its message, a suggestion. */
async function expectRefusal(op: () => Promise<unknown>, path: string, code: SdsErrorCode, problem: RegExp, label = path): Promise<SdsError> {
  const r = await measure(op, LIMIT_MS);
  expectBounded(r, label);
  expect(r.ok, `${label}: expected a refusal, got a result`).toBe(false);
  const err = r.error as SdsError;
  expect(err, `${label}: ${String(err)}`).toBeInstanceOf(SdsError);
  expect(err.code, `${label}: ${err.message}`).toBe(code);
  const name = path.split('/').pop()!;
  expect(err.message, label).toContain(name);
  expect(err.message, label).toMatch(problem);
  expect(err.suggestion, `${label}: suggestion`).toBeTruthy();
  return err;
}

/** openSlide, then (optionally) a read, closing the slide whatever happens. */
function openAnd(path: string, read?: (s: Slide) => Promise<unknown>, probe = true): () => Promise<unknown> {
  return async () => {
    const s = await openSlide(path, { probe });
    try {
      return read ? await read(s) : s.info;
    } finally {
      await s.close();
    }
  };
}

const region256 = (s: Slide) => s.readRegion(0, 0, 0, 256, 256);

// --- a valid slide the structural cases break: Aperio, two tiled levels (16 + 4 tiles) and a thumbnail ---
const thumb: IfdSpec = { width: 32, height: 32, rowsPerStrip: 32, description: 'Aperio Image Library v12.0.15\n256x256 -> 32x32', blocks: [{ data: solid(32, 32) }] };
const validSpec = (layout: TiffSpec['layout'] = 'data-first'): TiffSpec => ({ layout, ifds: [smallLevel(256, 64, APERIO), thumb, smallLevel(128, 64)] });

describe('the generator itself: a valid file reads back exactly', () => {
  it('classic and BigTIFF, data-first and directories-first', async () => {
    for (const bigTiff of [false, true])
      for (const layout of ['data-first', 'ifd-first'] as const) {
        const path = file(`valid-${bigTiff}-${layout}.svs`, buildTiff({ ...validSpec(layout), bigTiff }));
        await openAnd(path, async (s) => {
          expect(s.info.vendor).toBe('aperio');
          expect(s.levels.filter((l) => !l.virtual).map((l) => l.width)).toEqual([256, 128]);
          expect(Array.from((await s.readRegion(0, 255, 255, 1, 1)).subarray(0, 3))).toEqual([200, 100, 50]);
          expect((await s.readAssociated('thumbnail')).data.subarray(0, 3)).toEqual(Uint8Array.of(200, 100, 50));
        })();
      }
  });
});

describe('finding 1: associated images that declare 30000 x 30000 px', () => {
  it('readAssociated refuses before reading (SLIDE_TOO_LARGE naming image, size, budget); the refusal is remembered', async () => {
    const path = file('huge-thumbnail.svs', aperioHugeAssociated(30000, ['thumbnail', 'label', 'macro']));
    const s = await openSlide(path);
    try {
      expect(s.associated.map((a) => [a.name, a.width, a.height])).toEqual([
        ['thumbnail', 30000, 30000],
        ['label', 30000, 30000],
        ['macro', 30000, 30000],
      ]);
      for (const name of ['thumbnail', 'label', 'macro']) {
        const err = await expectRefusal(() => s.readAssociated(name), path, 'SLIDE_TOO_LARGE', new RegExp(`${name} image declares 30000x30000 px \\(900\\.0 Mpx\\), more than the 16\\.8 Mpx`), name);
        expect(err.context).toMatchObject({ image: name, width: 30000, height: 30000, budget: MAX_ASSOCIATED_PIXELS });
        // asked again: the same error object, at once
        const again = await measure(() => s.readAssociated(name));
        expect(again.error).toBe(err);
        expect(again.ms).toBeLessThan(50);
      }
    } finally {
      await s.close();
    }
  });

  it('sds info describes such a slide without decoding anything', async () => {
    const path = file('huge-assoc-info.svs', aperioHugeAssociated(30000, ['thumbnail', 'label', 'macro']));
    const r = await measure(() => runCommand(infoCommand, [path, '--json']));
    expectBounded(r, 'sds info');
    expect(r.value).toBe(0);
  });

  it('the viewer thumbnail falls back to the smallest level (a JPEG <= 512 px); label/macro renders are refused', async () => {
    const path = file('huge-assoc-render.svs', aperioHugeAssociated(30000, ['thumbnail', 'label']));
    const s = await openSlide(path);
    try {
      const r = await measure(() => renderThumbnail(s, 80));
      expectBounded(r, 'renderThumbnail');
      expect(r.ok, String(r.error)).toBe(true);
      const meta = await sharp(r.value as Buffer).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 64, 64]);
      await expectRefusal(() => renderAssociated(s, 'label', 80), path, 'SLIDE_TOO_LARGE', /label image declares 30000x30000 px/);
    } finally {
      await s.close();
    }
  });

  it('an associated image within the budget but stored as one empty strip reads as white without a strip-sized allocation', async () => {
    const path = file('empty-label.svs', aperioHugeAssociated(4000, ['label']));
    await openAnd(path, async (s) => {
      const r = await measure(() => s.readAssociated('label'));
      expectBounded(r, 'empty label');
      // the 48 MB image itself, and not also a 48 MB white strip
      expect(r.peakGrowthMB, `${Math.round(r.peakGrowthMB)} MiB`).toBeLessThan((4000 * 4000 * 3) / 2 ** 20 + 20);
      const img = r.value as { width: number; height: number; data: Uint8Array };
      expect([img.width, img.height]).toEqual([4000, 4000]);
      expect(img.data.every((v) => v === 255)).toBe(true);
    })();
  });

  it('GET /slides/<id>/thumbnail.jpg answers 200 within the bounds and is cached; label.jpg fails at once, logging the refusal', async () => {
    const dir = mkdtempSync(join(tmp, 'server-'));
    writeFileSync(join(dir, 'hostile.svs'), aperioHugeAssociated(30000, ['thumbnail', 'label']));
    mkdirSync(join(dir, 'results'));
    const log: string[] = [];
    let server: SdsServer | undefined;
    try {
      server = createServer({ slides: [dir], results: join(dir, 'results'), port: 0, rescanMs: 0, viewerDir: dir }, (line) => log.push(line));
      const { url } = await server.listen();
      const first = await measure(async () => {
        const res = await fetch(`${url}slides/hostile/thumbnail.jpg`);
        return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
      });
      expectBounded(first, 'GET thumbnail.jpg');
      const { status, body } = first.value as { status: number; body: Buffer };
      expect(status).toBe(200);
      expect((await sharp(body).metadata()).width).toBe(64);
      const second = await measure(() => fetch(`${url}slides/hostile/thumbnail.jpg`).then((r) => r.status));
      expect(second.value).toBe(200);
      expect(second.ms).toBeLessThan(first.ms + 50);
      // The server answers a reader error on its own disk with a generic 500 (server/http-error.ts) and logs it.
      for (let i = 0; i < 2; i++) {
        const label = await measure(() => fetch(`${url}slides/hostile/associated/label.jpg`).then((res) => res.status));
        expectBounded(label, 'GET label.jpg');
        expect(label.value).toBe(500);
      }
      expect(log.filter((l) => /SLIDE_TOO_LARGE|label image declares 30000x30000 px/.test(l))).toHaveLength(2);
    } finally {
      await server?.close();
    }
  });
});

describe('finding 2: decompression bombs are cut at the size the directory declares', () => {
  let deflate1GiB: Uint8Array;
  let lzw1GiB: Uint8Array;
  beforeAll(async () => {
    deflate1GiB = await deflateBomb(GiB); // ~1 MB
    lzw1GiB = lzwBomb(GiB); // ~0.8 MB
  });

  const bombs: [string, () => Promise<Uint8Array> | Uint8Array, number][] = [
    ['Deflate tile inflating to 1 GiB', () => deflate1GiB, 8],
    ['Adobe Deflate (32946) tile inflating to 1 GiB', () => deflate1GiB, 32946],
    ['LZW tile decoding to 1 GiB', () => lzw1GiB, 5],
  ];
  it.each(bombs)('%s: opens and reads one 256 px tile of zeros, bounded', async (label, data, compression) => {
    const path = file('bomb.tif', oneTile(await data(), compression));
    const r = await measure(openAnd(path, region256));
    expectBounded(r, label);
    expect(r.ok, String(r.error)).toBe(true);
    expect((r.value as Uint8Array).every((v) => v === 0)).toBe(true);
  });

  const claims: [string, () => Promise<Uint8Array> | Uint8Array, number, SdsErrorCode, RegExp][] = [
    ['JPEG header claiming 16000 x 16000 in a 256 px tile', () => jpegClaiming(16000), 7, 'SLIDE_UNREADABLE', /JPEG header says 16000x16000 px, larger than the 256x256 block/],
    ['JPEG header claiming 65000 x 65000', () => jpegClaiming(65000), 7, 'SLIDE_UNREADABLE', /JPEG header says 65000x65000 px/],
    ['JPEG 2000 (33005) SIZ claiming 30000 x 30000', () => j2kClaiming(30000, 30000), 33005, 'SLIDE_UNREADABLE', /JPEG 2000 header says 30000x30000 px, larger than the 256x256 block/],
    ['JPEG 2000 (33003) SIZ claiming 2^31 x 2^31', () => j2kClaiming(2 ** 31, 2 ** 31), 33003, 'SLIDE_UNREADABLE', /JPEG 2000 header says 2147483648x2147483648 px/],
    ['JPEG 2000 data with no codestream header', () => new TextEncoder().encode('not a codestream'.repeat(8)), 33005, 'SLIDE_UNREADABLE', /no codestream header/],
    ['Deflate data that is not zlib', () => new TextEncoder().encode('not zlib'.repeat(8)), 8, 'SLIDE_UNREADABLE', /cannot be decoded \(Deflate\)/],
    ['LZW data with an undefined code', () => lzwCodes([256, 65, 400, 257]), 5, 'SLIDE_UNREADABLE', /LZW data is corrupt \(code 400 while the next free code is 258/],
  ];
  it.each(claims)('%s: refused before decoding', async (label, data, compression, code, problem) => {
    const path = file('claim.svs', oneTile(await data(), compression));
    await expectRefusal(openAnd(path), path, code, problem, label);
    await expectRefusal(openAnd(path, region256, false), path, code, problem, `${label} (region read)`);
  });

  it('a JPEG claiming exactly its 4096 px tile (the most one decode may allocate) decodes within the bounds', async () => {
    const path = file('jpeg-4096.svs', oneTile(await jpegClaiming(4096), 7, 4096));
    const r = await measure(openAnd(path, region256, false));
    expectBounded(r, 'JPEG 4096');
    expect(r.ok, String(r.error)).toBe(true);
  });

  it('a Deflate bomb in an associated strip is cut at the strip size too', async () => {
    const spec: TiffSpec = {
      ifds: [smallLevel(64, 32, APERIO), thumb, { width: 500, height: 400, rowsPerStrip: 400, compression: 8, description: 'Aperio Image Library v12.0.15\nlabel 500x400', newSubfileType: 1, blocks: [{ data: deflate1GiB }] }],
    };
    const path = file('bomb-label.svs', buildTiff(spec));
    const r = await measure(openAnd(path, (s) => s.readAssociated('label')));
    expectBounded(r, 'label bomb');
    expect(r.ok, String(r.error)).toBe(true);
  });
});

describe('finding 3: huge declared sizes', () => {
  it('30000 x 30000, one empty tile: a 256 px read anywhere is white, bounded; so are the probe and the viewer thumbnail', async () => {
    const path = file('huge-empty.tif', hugeEmptyTile(30000, 30000));
    for (const [label, op] of [
      ['open with probe', openAnd(path)],
      ['region at 0,0', openAnd(path, region256, false)],
      ['region at the far corner', openAnd(path, (s) => s.readRegion(0, 29_900, 29_900, 256, 256), false)],
      ['smallest level whole', openAnd(path, (s) => s.readRegion(s.levels.length - 1, 0, 0, s.levels.at(-1)!.width, s.levels.at(-1)!.height))],
      ['renderThumbnail', openAnd(path, (s) => renderThumbnail(s, 80))],
    ] as const) {
      const r = await measure(op);
      expectBounded(r, label);
      expect(r.ok, `${label}: ${String(r.error)}`).toBe(true);
      if (r.value instanceof Uint8Array && !Buffer.isBuffer(r.value)) expect(r.value.every((v) => v === 255), label).toBe(true);
    }
  });

  it('2^31 - 1 px a side with 65536 px empty tiles: the virtual levels are blank without visiting billions of tiles', async () => {
    // 32768^2 tiles would be needed; the table lists 1: refused, naming both numbers
    const path = file('max-side.tif', hugeEmptyTile(2 ** 31 - 1, 2 ** 31 - 1, [65536, 65536]));
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', /lists 1 tiles but needs 1073741824/);
    // one tile as large as allowed, over a 65536 px slide: 7 virtual levels, all blank
    const single = file('one-65536-tile.tif', hugeEmptyTile(65536, 65536));
    const r = await measure(openAnd(single, async (s) => [s.levels.length, await s.readRegion(s.levels.length - 1, 0, 0, 256, 256)]));
    expectBounded(r, '65536 px slide');
    expect(r.ok, String(r.error)).toBe(true);
  });

  const sizes: [string, () => Uint8Array, SdsErrorCode, RegExp][] = [
    ['10^9 x 10^9 in one 10^9 px tile', () => hugeEmptyTile(1e9, 1e9), 'SLIDE_TOO_LARGE', /declares 1000000000x1000000000 px tiles, beyond the 65536 px/],
    ['2^31 x 2^31 (classic TIFF LONG)', () => hugeEmptyTile(2 ** 31, 2 ** 31, [256, 256]), 'SLIDE_TOO_LARGE', /declares 2147483648x2147483648 px, beyond the 2147483647 px per side/],
    ['2^32 - 1 x 1', () => hugeEmptyTile(2 ** 32 - 1, 1, [256, 256]), 'SLIDE_TOO_LARGE', /declares 4294967295x1 px/],
    ['BigTIFF 2^40 x 2^40', () => hugeEmptyTile(2n ** 40n, 2n ** 40n, [256, 256]), 'SLIDE_TOO_LARGE', /declares 1099511627776x1099511627776 px/],
    ['BigTIFF 2^60 x 2^60 (beyond 2^53)', () => hugeEmptyTile(2n ** 60n, 2n ** 60n, [256, 256]), 'SLIDE_UNREADABLE', /ImageWidth \(tag 256\) of TIFF directory 0 holds 1152921504606846976, beyond 2\^53/],
  ];
  it.each(sizes)('%s: refused at open', async (label, bytes, code, problem) => {
    const path = file('huge.tif', bytes());
    await expectRefusal(openAnd(path, undefined, false), path, code, problem, label);
  });

  it('a tile with data larger than the decode budget is refused when read, naming the tile and the budget', async () => {
    const path = file('big-tile.tif', buildTiff({ ifds: [{ width: 30000, height: 30000, tile: [30000, 30000], compression: 8, blocks: [{ data: Uint8Array.of(0x78, 0x9c, 3, 0, 0, 0, 0, 1) }] }] }));
    const err = await expectRefusal(openAnd(path, region256, false), path, 'SLIDE_TOO_LARGE', /tile \(0, 0\) of level 0 is 30000x30000 px \(900\.0 Mpx\), more than the 16\.8 Mpx/);
    expect(err.context).toMatchObject({ budget: MAX_BLOCK_PIXELS });
    await expectRefusal(openAnd(path), path, 'SLIDE_TOO_LARGE', /more than the 16\.8 Mpx sds decodes at once/, 'probe');
  });

  it('sds region on the 30000 px slide writes a white 256 px PNG, bounded', async () => {
    const path = file('huge-empty-cli.tif', hugeEmptyTile(30000, 30000));
    const out = join(tmp, 'region.png');
    const r = await measure(() => runCommand(regionCommand, [path, '--x', '15000', '--y', '15000', '--width', '256', '--height', '256', '--out', out]));
    expectBounded(r, 'sds region');
    expect(r.ok, String(r.error)).toBe(true);
    const png = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([png.info.width, png.info.height]).toEqual([256, 256]);
    expect(png.data.every((v) => v === 255)).toBe(true);
  });
});

describe('finding 4: named pipes and other non-files are never opened for reading', () => {
  const fifo = join(tmp, 'x.svs');
  const link = join(tmp, 'link-to-fifo.svs');
  beforeAll(() => {
    makeFifo(fifo);
    symlinkSync(fifo, link);
    symlinkSync('/dev/zero', join(tmp, 'zero.svs'));
  });

  it.each([
    ['a FIFO named x.svs', () => fifo, /is not a regular file but a named pipe \(FIFO\)/],
    ['a symlink to the FIFO', () => link, /is not a regular file but a named pipe \(FIFO\)/],
    ['a symlink to /dev/zero', () => join(tmp, 'zero.svs'), /is not a regular file but a device/],
    ['a folder', () => tmp, /is a folder that holds no slide sds reads/],
  ] as const)('openSlide(%s): SLIDE_UNREADABLE at once', async (_label, path, problem) => {
    await expectRefusal(() => openSlide(path()), path(), 'SLIDE_UNREADABLE', problem);
    expect(hasReader(fifo)).toBe(false);
  });

  it('sds info and sds region on the FIFO fail the same way (analyze and batch open slides through openSlide too)', async () => {
    await expectRefusal(() => runCommand(infoCommand, [fifo]), fifo, 'SLIDE_UNREADABLE', /named pipe/);
    await expectRefusal(() => runCommand(regionCommand, [fifo, '--x', '0', '--y', '0', '--width', '8', '--height', '8', '--out', join(tmp, 'f.png')]), fifo, 'SLIDE_UNREADABLE', /named pipe/);
    expect(hasReader(fifo)).toBe(false);
  });
});

describe('finding 5: structural damage', () => {
  const valid = buildTiff(validSpec());
  const ifds = directoryOffsets(validSpec());
  const ifdFirst = buildTiff(validSpec('ifd-first'));
  const truncations: [string, () => Uint8Array, RegExp][] = [
    ['empty file', () => valid.subarray(0, 0), /not a TIFF file/],
    ['inside the header (3 bytes)', () => valid.subarray(0, 3), /not a TIFF file/],
    ['the header only (8 bytes)', () => valid.subarray(0, 8), /truncated/],
    ['in the tile data, before any directory', () => valid.subarray(0, 100_000), /truncated/],
    ['inside the first directory’s entry count', () => valid.subarray(0, ifds[0]! + 1), /truncated/],
    ['inside the first directory’s entries', () => valid.subarray(0, ifds[0]! + 40), /truncated/],
    ['inside the second directory', () => valid.subarray(0, ifds[1]! + 20), /truncated/],
    ['one byte short', () => valid.subarray(0, valid.length - 1), /truncated/],
    ['directories first, tile data cut in half', () => ifdFirst.subarray(0, Math.floor(ifdFirst.length / 2)), /is truncated: tile \d+ of TIFF directory 0 ends at byte/],
    ['directories first, no tile data at all', () => ifdFirst.subarray(0, directoryOffsets(validSpec('ifd-first')).at(-1)! + 400), /truncated/],
  ];
  it.each(truncations)('truncated: %s', async (label, bytes, problem) => {
    const path = file('cut.svs', bytes());
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', problem, label);
  });

  const size = valid.length;
  const pastEof: [string, () => Uint8Array, RegExp][] = [
    ['first directory offset past EOF', () => buildTiff({ ...validSpec(), firstIfd: size + 1000 }), /TIFF directory 0 would start at byte \d+, past the end/],
    ['first directory offset 2^32 - 2', () => buildTiff({ ...validSpec(), firstIfd: 2 ** 32 - 2 }), /past the end|outside the file/],
    ['next-directory pointer past EOF', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), next: 10 ** 9 }] }), /says the next directory starts at byte 1000000000, past the end/],
    ['ImageDescription values past EOF', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), tags: [{ tag: 270, type: T.ASCII, values: 'x', count: 50_000, offset: 100 }] }] }), /ImageDescription \(tag 270\) of TIFF directory 0 has 50000 values at bytes 100\.\.50100, past the end/],
    ['TileOffsets table past EOF', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), tags: [{ tag: 324, type: T.LONG, values: [0], count: 4, offset: 1 << 30 }] }] }), /TileOffsets \(tag 324\).*past the end/],
    ['a tile offset past EOF', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), blocks: [0, 1, 2, 3].map((i) => ({ data: solid(32, 32), offset: i === 2 ? 10 ** 9 : undefined })) }] }), /is truncated: tile 2 of TIFF directory 0 ends at byte 1000003072/],
    ['an associated strip offset past EOF', () => buildTiff({ ifds: [smallLevel(64, 32, APERIO), { ...thumb, blocks: [{ data: solid(32, 32), offset: 2 ** 31 }] }] }), /is truncated: strip 0 of TIFF directory 1/],
  ];
  it.each(pastEof)('offsets past EOF: %s', async (label, bytes, problem) => {
    const path = file('eof.svs', bytes());
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', problem, label);
  });

  const loops: [string, () => Uint8Array, RegExp][] = [
    ['a directory pointing to itself', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), next: 'self' }] }), /directory chain loops/],
    ['the second directory pointing back to the first', () => buildTiff({ ifds: [smallLevel(64, 32), { ...smallLevel(32, 32), next: directoryOffsets({ ifds: [smallLevel(64, 32), smallLevel(32, 32)] })[0]! }] }), /directory chain loops/],
    ['a chain of 1100 directories', () => buildTiff({ ifds: Array.from({ length: 1100 }, () => ({ width: 1, height: 1, tile: [16, 16], blocks: [{}] }) as IfdSpec) }), /implausibly long \(> 1024\)/],
    ['a pointer into the middle of a tile', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), next: 8 + 1001 }] }), /truncated or corrupt|cannot be parsed|no valid size/],
  ];
  it.each(loops)('IFD loops: %s', async (label, bytes, problem) => {
    const path = file('loop.svs', bytes());
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', problem, label);
  });

  const tiles: [string, () => Uint8Array, SdsErrorCode, RegExp][] = [
    ['tile width 0', () => buildTiff({ ifds: [{ width: 256, height: 256, tile: [0, 256], blocks: [{}] }] }), 'SLIDE_UNREADABLE', /no valid size \(256x256, blocks 0x256\)/],
    ['tiles 0 x 0', () => buildTiff({ ifds: [{ width: 256, height: 256, tile: [0, 0], blocks: [{}] }] }), 'SLIDE_UNREADABLE', /no valid size/],
    ['tiles 2^31 x 2^31', () => buildTiff({ ifds: [{ width: 256, height: 256, tile: [2 ** 31, 2 ** 31], blocks: [{}] }] }), 'SLIDE_TOO_LARGE', /declares 2147483648x2147483648 px tiles, beyond the 65536 px per side/],
    ['tiles 2^32 - 1 wide', () => buildTiff({ ifds: [{ width: 256, height: 256, tile: [2 ** 32 - 1, 16], blocks: Array(16).fill({}) }] }), 'SLIDE_TOO_LARGE', /4294967295x16 px tiles/],
    ['tiles 65537 px', () => buildTiff({ ifds: [{ width: 256, height: 256, tile: [65537, 65537], blocks: [{}] }] }), 'SLIDE_TOO_LARGE', /65537x65537 px tiles/],
    ['1 px tiles over 30000 x 30000 (a table of 9 x 10^8 needed)', () => buildTiff({ ifds: [{ width: 30000, height: 30000, tile: [1, 1], blocks: [{}] }] }), 'SLIDE_UNREADABLE', /lists 1 tiles but needs 900000000/],
  ];
  it.each(tiles)('absurd tile sizes: %s', async (label, bytes, code, problem) => {
    const path = file('tiles.tif', bytes());
    await expectRefusal(openAnd(path, undefined, false), path, code, problem, label);
  });

  const counts: [string, () => Uint8Array, RegExp][] = [
    ['a byte count of 2^31', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), blocks: [0, 1, 2, 3].map((i) => ({ data: solid(32, 32), byteCount: i === 1 ? 2 ** 31 : undefined })) }] }), /is truncated: tile 1 of TIFF directory 0 ends at byte 2147/],
    ['a byte count of 2^32 - 1', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), blocks: [0, 1, 2, 3].map((i) => ({ data: solid(32, 32), byteCount: i === 3 ? 2 ** 32 - 1 : undefined })) }] }), /tile 3 of TIFF directory 0 ends at byte/],
    ['a tile ending one byte past EOF', () => { const b = buildTiff({ layout: 'ifd-first', ifds: [smallLevel(64, 32)] }); return b.subarray(0, b.length - 1); }, /tile 3 of TIFF directory 0 ends at byte \d+, the file has/],
    ['BigTIFF byte count 2^40', () => buildTiff({ bigTiff: true, ifds: [{ ...smallLevel(64, 32), blocks: [0, 1, 2, 3].map((i) => ({ data: solid(32, 32), byteCount: i === 0 ? 2 ** 40 : undefined })) }] }), /tile 0 of TIFF directory 0 ends at byte 10995/],
  ];
  it.each(counts)('tile byte counts past EOF: %s', async (label, bytes, problem) => {
    const path = file('counts.tif', bytes());
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', problem, label);
  });

  const unsupported: [string, Partial<IfdSpec>, RegExp][] = [
    ['PackBits (32773)', { compression: 32773 }, /uses TIFF compression 32773 \(PackBits\), which sds cannot decode/],
    ['LERC (34887)', { compression: 34887 }, /uses TIFF compression 34887 \(LERC\)/],
    ['an unknown code (12345)', { compression: 12345 }, /uses TIFF compression 12345, which sds cannot decode/],
    ['old-style JPEG (6)', { compression: 6 }, /compression 6 \(old-style JPEG\)/],
    ['16-bit samples', { bitsPerSample: 16 }, /stores 16\/16\/16 bits per sample/],
    ['200 samples per pixel', { samplesPerPixel: 200 }, /stores 200 samples per pixel; sds reads 1 to 8/],
    ['separate YCbCr planes', { photometric: 6, tags: [{ tag: 284, type: T.SHORT, values: [2] }], blocks: Array.from({ length: 12 }, () => ({ data: solid(32, 32).subarray(0, 1024) })) }, /photometric interpretation 6 in separate planes/],
  ];
  it.each(unsupported)('unsupported: %s', async (label, extra, problem) => {
    const path = file('unsupported.tif', buildTiff({ ifds: [{ ...smallLevel(64, 32), ...extra }] }));
    await expectRefusal(openAnd(path), path, 'SLIDE_UNSUPPORTED', problem, label);
  });

  it('a 1 MB JPEGTables tag (copied into every tile decode) is refused at open', async () => {
    const path = file('tables.svs', buildTiff({ ifds: [{ ...smallLevel(64, 32), compression: 7, jpegTables: new Uint8Array(1 << 20) }] }));
    await expectRefusal(openAnd(path, undefined, false), path, 'SLIDE_UNREADABLE', /JPEGTables tag holds 1048576 bytes/);
  });

  const big: [string, () => Uint8Array, RegExp][] = [
    ['first directory at 2^40', () => buildTiff({ bigTiff: true, firstIfd: 2n ** 40n, ifds: [smallLevel(64, 32)] }), /TIFF directory 0 would start at byte 1099511627776, past the end/],
    ['first directory at 2^60 (beyond 2^53)', () => buildTiff({ bigTiff: true, firstIfd: 2n ** 60n, ifds: [smallLevel(64, 32)] }), /first directory beyond byte 2\^53/],
    ['next directory at 2^45', () => buildTiff({ bigTiff: true, ifds: [{ ...smallLevel(64, 32), next: 2n ** 45n }] }), /next directory starts at byte 35184372088832, past the end/],
    ['a tile offset at 2^40', () => buildTiff({ bigTiff: true, ifds: [{ ...smallLevel(64, 32), blocks: [0, 1, 2, 3].map((i) => ({ data: solid(32, 32), offset: i === 1 ? 2n ** 40n : undefined })) }] }), /is truncated: tile 1 of TIFF directory 0 ends at byte 1099511630848/],
    ['a tile offset at 2^60', () => buildTiff({ bigTiff: true, ifds: [{ ...smallLevel(64, 32), blocks: [0, 1, 2, 3].map((i) => ({ data: solid(32, 32), offset: i === 1 ? 2n ** 60n : undefined })) }] }), /a 64-bit value beyond 2\^53/],
    ['the TileOffsets table at 2^50', () => buildTiff({ bigTiff: true, ifds: [{ ...smallLevel(64, 32), tags: [{ tag: 324, type: T.LONG8, values: [0n], count: 4, offset: 2n ** 50n }] }] }), /TileOffsets \(tag 324\) of TIFF directory 0 has 4 values at bytes 1125899906842624\.\./],
    ['2^40 entries in a directory', () => { const b = buildTiff({ bigTiff: true, ifds: [smallLevel(64, 32)] }); b.writeBigUInt64LE(2n ** 40n, Number(b.readBigUInt64LE(8))); return b; }, /TIFF directory 0 claims 1099511627776 entries/],
    ['a TileOffsets count of 2^40', () => buildTiff({ bigTiff: true, ifds: [{ ...smallLevel(64, 32), tags: [{ tag: 324, type: T.LONG8, values: [0n], count: 2n ** 40n, offset: 16 }] }] }), /TileOffsets \(tag 324\) of TIFF directory 0 has 1099511627776 values/],
  ];
  it.each(big)('BigTIFF 64-bit offsets: %s', async (label, bytes, problem) => {
    const path = file('big.tif', bytes());
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', problem, label);
  });

  const lies: [string, () => Uint8Array, RegExp][] = [
    ['a classic TileOffsets count of 2^32 - 1', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), tags: [{ tag: 324, type: T.LONG, values: [0], count: 2 ** 32 - 1, offset: 8 }] }] }), /TileOffsets \(tag 324\) of TIFF directory 0 has 4294967295 values/],
    ['a BitsPerSample count of 2^30', () => buildTiff({ ifds: [{ ...smallLevel(64, 32), tags: [{ tag: 258, type: T.SHORT, values: [8], count: 2 ** 30, offset: 8 }] }] }), /BitsPerSample \(tag 258\) of TIFF directory 0 has 1073741824 values/],
    ['65535 entries in a small file', () => { const b = buildTiff({ ifds: [smallLevel(64, 32)] }); b.writeUInt16LE(65535, b.readUInt32LE(4)); return b; }, /truncated/],
    ['1000 directories sharing one 64k-entry tile table', () => sharedTables(), /tile and strip tables of TIFF directories 0\.\.\d+ need \d+ bytes, more than the file's/],
  ];
  it.each(lies)('counts that lie: %s', async (label, bytes, problem) => {
    const path = file('lies.tif', bytes());
    await expectRefusal(openAnd(path), path, 'SLIDE_UNREADABLE', problem, label);
  });
});

/** 1000 directories whose TileOffsets/TileByteCounts all point at the same 65536-entry tables (512 KiB). */
function sharedTables(): Uint8Array {
  const n = 65536;
  const base = buildTiff({ ifds: [{ width: 256 * 256, height: 256 * 256, tile: [256, 256], blocks: Array.from({ length: n }, () => ({})) }] });
  const [first] = directoryOffsets({ ifds: [{ width: 256 * 256, height: 256 * 256, tile: [256, 256], blocks: Array.from({ length: n }, () => ({})) }] });
  // copy the entry table (no values: they stay where the first directory's point) 999 more times, chained
  const entries = base.readUInt16LE(first!);
  const dirBytes = 2 + entries * 12 + 4;
  const copies = 999;
  const out = Buffer.alloc(base.length + copies * dirBytes);
  base.copy(out);
  let prev = first!;
  for (let i = 0; i < copies; i++) {
    const at = base.length + i * dirBytes;
    base.copy(out, at, first!, first! + dirBytes);
    out.writeUInt32LE(0, at + dirBytes - 4);
    out.writeUInt32LE(at, prev + dirBytes - 4);
    prev = at;
  }
  return out;
}

async function runCommand<S extends ZodType>(cmd: CommandSpec<S>, argv: string[]): Promise<number> {
  const { options, positionals } = parseCommandArgs(cmd, argv);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return await cmd.run(options, positionals);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
