/**
 * The decoders' output bounds (issue #14, finding 2), unit by unit: zlib and LZW stop at the size the TIFF
 * declares for the block, the JPEG and JPEG 2000 headers are read before anything is decoded; and on valid data
 * the bounded LZW decoder gives exactly what geotiff's (which it replaces) gives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDecoder } from 'geotiff';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { codestreamSize } from '../../slide/decoders/jpeg2000.js';
import { frameSize } from '../../slide/decoders/jpeg.js';
import { inflateAtMost } from '../../slide/decoders/lossless.js';
import { lzwDecode } from '../../slide/decoders/lzw.js';
import { FileSource } from '../../slide/file-source.js';
import { readDirectories } from '../../slide/tiff/directory.js';
import { deflateBomb, j2kClaiming, jpegClaiming, lzwBomb, lzwCodes } from '../support/hostile-tiff.js';
import { measure } from '../support/resource-bound.js';

const tmp = mkdtempSync(join(tmpdir(), 'sds-decoders-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
const geotiffLzw = async (bytes: Uint8Array) => new Uint8Array(await (await getDecoder(5, {} as never)).decodeBlock(bytes.slice().buffer));

describe('bounded decoders', () => {
  it('inflateAtMost: 1 GiB of zeros from ~1 MB stops at the bound, in milliseconds and without the GiB', async () => {
    const bomb = await deflateBomb(2 ** 30);
    expect(bomb.length).toBeLessThan(1.1e6);
    const r = await measure(() => inflateAtMost(bomb, 256 * 256 * 3));
    expect(r.ok, String(r.error)).toBe(true);
    expect((r.value as Uint8Array).length).toBe(256 * 256 * 3);
    expect(r.ms).toBeLessThan(1000);
    expect(r.peakGrowthMB).toBeLessThan(50);
  });

  it('inflateAtMost: a short stream gives what it has; corrupt and truncated streams reject with zlib’s reason', async () => {
    const { deflateSync } = await import('node:zlib');
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
    expect(same(await inflateAtMost(deflateSync(data), 5000), data)).toBe(true);
    expect(same(await inflateAtMost(deflateSync(data), 10), data.subarray(0, 10))).toBe(true);
    await expect(inflateAtMost(new TextEncoder().encode('not zlib at all'), 100)).rejects.toThrow(/incorrect header check/);
    const z = deflateSync(data);
    await expect(inflateAtMost(z.subarray(0, z.length - 10), 5000)).rejects.toThrow(/unexpected end of file/);
  });

  it('lzwDecode: 1 GiB from ~0.8 MB stops at the bound; geotiff’s decoder would grow a JS array until V8 aborts the process', async () => {
    const bomb = lzwBomb(2 ** 30);
    expect(bomb.length).toBeLessThan(1e6);
    const r = await measure(async () => lzwDecode(bomb, 256 * 256 * 3));
    expect(r.ok, String(r.error)).toBe(true);
    expect((r.value as Uint8Array).length).toBe(256 * 256 * 3);
    expect(r.ms).toBeLessThan(1000);
  });

  it('lzwDecode equals geotiff on valid streams: runs (KwKwK), and libtiff-written tiles of varied data, with or without a bound', async () => {
    const runs = lzwBomb(5 << 20);
    const geo = await geotiffLzw(runs);
    expect(geo.length).toBeGreaterThan(5 << 20);
    expect(same(lzwDecode(runs, geo.length + 100), geo)).toBe(true);
    expect(same(lzwDecode(runs, 1000), geo.subarray(0, 1000))).toBe(true);

    // libtiff's encoder (through sharp): noise, gradients and flat areas, so tables fill and clear many times
    const [W, H] = [512, 384];
    const px = new Uint8Array(W * H * 3);
    let seed = 3;
    for (let i = 0; i < px.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const x = (i / 3) % W;
      px[i] = x < 128 ? seed >>> 24 : x < 300 ? (i >> 4) & 255 : 240;
    }
    const path = join(tmp, 'lzw.tif');
    await sharp(px, { raw: { width: W, height: H, channels: 3 } }).tiff({ tile: true, tileWidth: 128, tileHeight: 128, compression: 'lzw' }).toFile(path);
    const file = await FileSource.open(path);
    try {
      const [dir] = await readDirectories(file);
      expect(dir!.compression).toBe(5);
      for (let i = 0; i < dir!.offsets.length; i++) {
        const bytes = await file.read(dir!.offsets[i]!, dir!.byteCounts[i]!, `tile ${i}`);
        const want = await geotiffLzw(bytes);
        expect(want.length).toBe(128 * 128 * 3);
        expect(same(lzwDecode(bytes, 128 * 128 * 3), want), `tile ${i}`).toBe(true);
      }
    } finally {
      await file.close();
    }
  });

  it('lzwDecode rejects codes that no table defines, as SdsError', () => {
    expect(() => lzwDecode(lzwCodes([256, 65, 400, 257]), 100)).toThrow(/LZW data is corrupt \(code 400 while the next free code is 258/);
    expect(() => lzwDecode(lzwCodes([256, 300]), 100)).toThrow(/code 300 right after a Clear/);
    expect(() => lzwDecode(lzwCodes([258]), 100)).toThrow(/with no previous code/);
  });

  it('JPEG frame and JPEG 2000 SIZ headers are read without decoding', async () => {
    expect(frameSize(await jpegClaiming(16000))).toEqual({ width: 16000, height: 16000 });
    const real = new Uint8Array(await sharp({ create: { width: 37, height: 21, channels: 3, background: '#123456' } }).jpeg().toBuffer());
    expect(frameSize(real)).toEqual({ width: 37, height: 21 });
    expect(frameSize(new TextEncoder().encode('no markers'))).toBeUndefined();
    expect(codestreamSize(j2kClaiming(30000, 20000))).toEqual({ width: 30000, height: 20000, components: 3 });
    // the same codestream inside a JP2 file (signature, ftyp, jp2c boxes)
    const cs = j2kClaiming(640, 480);
    const box = (type: string, body: Uint8Array) => {
      const b = Buffer.alloc(8 + body.length);
      b.writeUInt32BE(8 + body.length);
      b.write(type, 4, 'latin1');
      b.set(body, 8);
      return b;
    };
    const jp2 = Buffer.concat([box('jP  ', Uint8Array.of(0x0d, 0x0a, 0x87, 0x0a)), box('ftyp', new TextEncoder().encode('jp2 \0\0\0\0jp2 ')), box('jp2c', cs)]);
    expect(codestreamSize(jp2)).toEqual({ width: 640, height: 480, components: 3 });
    expect(codestreamSize(new TextEncoder().encode('garbage'.repeat(10)))).toBeUndefined();
  });
});
