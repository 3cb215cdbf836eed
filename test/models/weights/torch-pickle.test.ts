import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { readSafetensors } from '../../../models/weights/safetensors.js';
import { looksLikeZip, parseTorchZip } from '../../../models/weights/torch-pickle.js';
import type { HostTensor } from '../../../models/weights/types.js';
import { readZipEntries, zipEntryData } from '../../../models/weights/zip.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/torch-reference/', import.meta.url));
const PT = `${FIXTURES}tiny_state_dict.pt`;
const EXPECTED = `${FIXTURES}tiny_state_dict.expected.safetensors`;
const haveFixtures = existsSync(PT) && existsSync(EXPECTED);
if (!haveFixtures) console.warn(`torch-pickle: fixtures not found in ${FIXTURES}; skipping the reference comparison`);

/** The SdsError code `fn` throws; fails the test on success or on any other kind of error. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SdsError) return err.code;
    throw err;
  }
  throw new Error('expected an SdsError, got a result');
}

// ------------------------------------------------------------------------------------------
// A tiny zip writer (stored or deflated, optional ZIP64 trailer; CRC left 0, the reader ignores it)

function makeZip(files: Record<string, Uint8Array>, opts: { zip64?: boolean; deflate?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const [name, raw] of Object.entries(files)) {
    const data = opts.deflate ? new Uint8Array(deflateRawSync(raw)) : raw;
    const n = enc.encode(name);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(8, opts.deflate ? 8 : 0, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, raw.length, true);
    local.setUint16(26, n.length, true);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint16(10, opts.deflate ? 8 : 0, true);
    cd.setUint32(20, data.length, true);
    cd.setUint32(24, raw.length, true);
    cd.setUint16(28, n.length, true);
    cd.setUint32(42, offset, true);
    parts.push(new Uint8Array(local.buffer), n, data);
    central.push(new Uint8Array(cd.buffer), n);
    offset += 30 + n.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const count = Object.keys(files).length;
  const tail: Uint8Array[] = [];
  if (opts.zip64) {
    const rec = new DataView(new ArrayBuffer(56 + 20));
    rec.setUint32(0, 0x06064b50, true);
    rec.setBigUint64(4, 44n, true);
    rec.setBigUint64(24, BigInt(count), true);
    rec.setBigUint64(32, BigInt(count), true);
    rec.setBigUint64(40, BigInt(cdSize), true);
    rec.setBigUint64(48, BigInt(offset), true);
    rec.setUint32(56, 0x07064b50, true); // locator
    rec.setBigUint64(64, BigInt(offset + cdSize), true);
    rec.setUint32(72, 1, true);
    tail.push(new Uint8Array(rec.buffer));
  }
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true);
  eocd.setUint16(8, opts.zip64 ? 0xffff : count, true);
  eocd.setUint16(10, opts.zip64 ? 0xffff : count, true);
  eocd.setUint32(12, opts.zip64 ? 0xffffffff : cdSize, true);
  eocd.setUint32(16, opts.zip64 ? 0xffffffff : offset, true);
  tail.push(new Uint8Array(eocd.buffer));
  const all = [...parts, ...central, ...tail];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const c of all) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// A tiny pickle writer: just the opcodes torch.save emits for a state_dict

const enc = new TextEncoder();
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const P = {
  proto: [0x80, 2],
  mark: [0x28],
  stop: [0x2e],
  tuple: [0x74],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  reduce: [0x52],
  setitem: [0x73],
  setitems: [0x75],
  persid: [0x51],
  newfalse: [0x89],
  global: (mod: string, name: string) => [0x63, ...enc.encode(`${mod}\n${name}\n`)],
  str: (s: string) => [0x58, ...u32(enc.encode(s).length), ...enc.encode(s)],
  int: (n: number) => [0x4b, n],
  ints: (xs: number[]) => [0x28, ...xs.flatMap((x) => [0x4b, x]), 0x74],
};
const orderedDict = [...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce];

function tensorPickle(storage: string, key: string, count: number, offset: number, size: number[], stride: number[]): number[] {
  return [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    ...P.mark,
    ...P.mark, ...P.str('storage'), ...P.global('torch', storage), ...P.str(key), ...P.str('cpu'), ...P.int(count), ...P.tuple,
    ...P.persid,
    ...P.int(offset), ...P.ints(size), ...P.ints(stride), ...P.newfalse, ...orderedDict,
    ...P.tuple,
    ...P.reduce,
  ];
}

function stateDictPickle(tensors: [string, number[]][]): number[] {
  return [...orderedDict, ...P.mark, ...tensors.flatMap(([k, t]) => [...P.str(k), ...t]), ...P.setitems];
}

const pickle = (...body: number[][]) => Uint8Array.from([...P.proto, ...body.flat(), ...P.stop]);
const f32bytes = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

/** A 2x3 float tensor that is the transpose of a contiguous 3x2 one: size (2,3), stride (1,2). */
function transposedArchive(opts: { zip64?: boolean; deflate?: boolean } = {}): Uint8Array {
  return makeZip(
    {
      'archive/data.pkl': pickle(stateDictPickle([['w', tensorPickle('FloatStorage', '0', 6, 0, [2, 3], [1, 2])]])),
      'archive/byteorder': enc.encode('little'),
      'archive/data/0': f32bytes([0, 1, 2, 3, 4, 5]),
    },
    opts,
  );
}

// ------------------------------------------------------------------------------------------

describe.skipIf(!haveFixtures)('torch .pt reader vs the PyTorch reference (shared/fixtures/torch-reference)', () => {
  it('reads every tensor of tiny_state_dict.pt exactly', async () => {
    const bytes = new Uint8Array(readFileSync(PT));
    expect(looksLikeZip(bytes)).toBe(true);
    const got = parseTorchZip(bytes, 'tiny_state_dict.pt');
    const { tensors: want } = await readSafetensors(EXPECTED);
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [key, w] of want) {
      const g = got.get(key) as HostTensor;
      // The reference stores the 0-dim num_batches_tracked as [1]; the .pt keeps torch's shape [].
      expect(g.shape.length === 0 ? [1] : g.shape, key).toEqual(w.shape);
      // Floats arrive widened to float32 on both sides (3.weight is F16 in the .pt, F32 in the reference).
      expect(g.data.constructor, key).toBe(w.data.constructor);
      expect(Array.from(g.data as ArrayLike<number | bigint>), key).toEqual(Array.from(w.data as ArrayLike<number | bigint>));
    }
    expect(got.get('3.weight')!.dtype).toBe('F16');
    expect(got.get('0.weight')!.dtype).toBe('F32');
    expect(got.get('1.num_batches_tracked')!.dtype).toBe('I64');
  });

  it('reports a cut-off .pt as truncated', () => {
    const bytes = new Uint8Array(readFileSync(PT));
    const half = bytes.slice(0, bytes.length >> 1);
    expect(codeOf(() => parseTorchZip(half, 'half.pt'))).toBe('WEIGHTS_TRUNCATED');
    expect(() => parseTorchZip(half, 'half.pt')).toThrow(/half\.pt is truncated/);
  });

  it('never escapes a non-SdsError on corrupted copies', () => {
    const bytes = new Uint8Array(readFileSync(PT));
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 300; trial++) {
      const b = bytes.slice(0, trial % 3 === 0 ? Math.floor(rand() * bytes.length) : bytes.length);
      for (let k = 0; k < 4; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      try {
        parseTorchZip(b, 'fuzz.pt');
      } catch (err) {
        expect(err).toBeInstanceOf(SdsError);
      }
    }
  });
});

describe('torch .pt reader on hand-built archives', () => {
  it('gathers a non-contiguous tensor in row-major order', () => {
    const sd = parseTorchZip(transposedArchive(), 't.pt');
    const w = sd.get('w')!;
    expect(w.shape).toEqual([2, 3]);
    expect(Array.from(w.data as Float32Array)).toEqual([0, 2, 4, 1, 3, 5]);
  });

  it('reads ZIP64 trailers and deflated entries', () => {
    for (const opts of [{ zip64: true }, { deflate: true }, { zip64: true, deflate: true }]) {
      const zip = transposedArchive(opts);
      const entries = readZipEntries(zip);
      expect([...entries.keys()]).toEqual(['archive/data.pkl', 'archive/byteorder', 'archive/data/0']);
      expect(new TextDecoder().decode(zipEntryData(zip, entries.get('archive/byteorder')!))).toBe('little');
      expect(Array.from(parseTorchZip(zip, 't.pt').get('w')!.data as Float32Array)).toEqual([0, 2, 4, 1, 3, 5]);
    }
  });

  it('unwraps a training checkpoint and skips non-tensor values', () => {
    const inner = stateDictPickle([['fc.weight', tensorPickle('FloatStorage', '0', 2, 0, [2], [1])]]);
    const body = [...P.emptyDict, ...P.mark, ...P.str('epoch'), ...P.int(3), ...P.str('model_state_dict'), ...inner, ...P.setitems];
    const zip = makeZip({ 'ckpt/data.pkl': pickle(body), 'ckpt/data/0': f32bytes([7, 8]) });
    const sd = parseTorchZip(zip, 'ckpt.pt');
    expect([...sd.keys()]).toEqual(['fc.weight']);
    expect(Array.from(sd.get('fc.weight')!.data as Float32Array)).toEqual([7, 8]);
  });

  it('refuses a pickled object that is not a state_dict', () => {
    const zip = makeZip({ 'archive/data.pkl': pickle(P.global('mymodule', 'MyNet'), P.emptyTuple, P.reduce) });
    expect(codeOf(() => parseTorchZip(zip, 'net.pt'))).toBe('WEIGHTS_UNSUPPORTED');
    try {
      parseTorchZip(zip, 'net.pt');
    } catch (err) {
      expect((err as SdsError).message).toMatch(/net\.pt holds a pickled object \(mymodule\.MyNet\)/);
      expect((err as SdsError).suggestion).toMatch(/model\.state_dict\(\)/);
    }
  });

  it('rejects random bytes, text and non-torch zips as not weights', () => {
    let seed = 7;
    const random = Uint8Array.from({ length: 4096 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    expect(codeOf(() => parseTorchZip(random, 'noise.bin'))).toBe('NOT_A_WEIGHTS_FILE');
    expect(codeOf(() => parseTorchZip(enc.encode('hello, this is a text file\n'.repeat(50)), 'a.txt'))).toBe('NOT_A_WEIGHTS_FILE');
    expect(codeOf(() => parseTorchZip(makeZip({ 'readme.txt': enc.encode('hi') }), 'other.zip'))).toBe('NOT_A_WEIGHTS_FILE');
    expect(() => parseTorchZip(random, 'noise.bin')).toThrow(/noise\.bin/);
  });

  it('names an opcode it does not implement', () => {
    const zip = makeZip({ 'a/data.pkl': Uint8Array.from([0x80, 2, 0x49, 0x31, 0x0a, 0x2e]) }); // INT '1\n'
    expect(() => parseTorchZip(zip, 'x.pt')).toThrow(/opcode INT/);
    expect(codeOf(() => parseTorchZip(zip, 'x.pt'))).toBe('NOT_A_WEIGHTS_FILE');
  });

  it('reports a storage past the end of the file as truncated', () => {
    const zip = transposedArchive();
    // Make the last central directory entry (archive/data/0) claim more bytes than the file holds.
    const view = new DataView(zip.buffer);
    let cd = zip.length - 4;
    while (view.getUint32(cd, true) !== 0x02014b50) cd--;
    view.setUint32(cd + 20, 1 << 20, true);
    view.setUint32(cd + 24, 1 << 20, true);
    expect(codeOf(() => parseTorchZip(zip, 't.pt'))).toBe('WEIGHTS_TRUNCATED');
    expect(codeOf(() => parseTorchZip(zip.slice(0, zip.length - 30), 't.pt'))).toBe('WEIGHTS_TRUNCATED');
  });

  it('refuses the legacy (pre-1.6) format with a re-save hint', () => {
    const legacy = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    expect(codeOf(() => parseTorchZip(legacy, 'old.pt'))).toBe('WEIGHTS_UNSUPPORTED');
    expect(() => parseTorchZip(legacy, 'old.pt')).toThrow(/legacy/);
  });
});
