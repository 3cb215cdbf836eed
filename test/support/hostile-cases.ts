/**
 * The hostile weight files of issue #14, one case each: how to build it and what loading it must
 * give. Run by hostile-harness.ts in a child process (hostile-runner.ts) that is killed when a case
 * runs away in time or memory, so a regression fails the test instead of the machine.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { SdsErrorCode } from '../../core/errors.js';
import {
  Bytes,
  floatArchive,
  makeZip,
  Pickle,
  safetensorsOf,
  safetensorsRaw,
  stateDictPickle,
  tensorOps,
  torchArchive,
  zeroDeflate,
  type StorageSpec,
  type TensorSpec,
} from './hostile-weights.js';

export type Category =
  | 'tensor views'
  | 'pickle lengths'
  | 'zip bombs and limits'
  | 'safetensors'
  | 'truncated zips'
  | 'malformed pickles'
  | 'nesting and amplification'
  | 'controls';

export interface Refusal {
  code: SdsErrorCode;
  message: RegExp;
}
/** What a control must load to: tensor name -> shape and leading values. */
export type Loads = Record<string, { shape: number[]; head?: number[] }>;

export interface HostileCase {
  id: string;
  category: Category;
  /** The finding of issue #14 it reproduces (5: the rest of the hostile suite). */
  finding?: 1 | 2 | 3 | 5;
  ext: '.pt' | '.safetensors';
  build(): Uint8Array;
  expect: Refusal | { loads: Loads };
  /** A path that must not exist afterwards (a pickle that tries to run a command). */
  sideEffect?: string;
}

const enc = new TextEncoder();
const MiB = 1 << 20;
const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
const MARKER = join(tmpdir(), `sds-hostile-marker-${process.ppid}-${process.pid}`);

/** A one-tensor .pt: tensor `w` over storage `0`. */
function oneTensor(t: Omit<TensorSpec, 'name' | 'storage'>, s: Omit<StorageSpec, 'key'>): Uint8Array {
  return torchArchive([{ name: 'w', storage: '0', ...t }], [{ key: '0', ...s }]);
}

/** A .pt whose data.pkl is `body` (after PROTO) followed by STOP, plus one 2-float storage `0`. */
function pickleArchive(body: (p: Pickle) => Pickle, opts: { deflate?: boolean; stop?: boolean } = {}): Uint8Array {
  const p = body(new Pickle().proto());
  if (opts.stop !== false) p.stop();
  return torchArchive([], [{ key: '0', type: 'FloatStorage', count: 2 }], { pickle: p.done(), pickleEntry: opts.deflate ? { deflate: true } : {} });
}

/** A valid state_dict `{w: tensor}` whose dict also holds `extra` under key 'x'. */
function dictWith(extra: (p: Pickle) => Pickle): Uint8Array {
  return pickleArchive((p) => {
    p.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    tensorOps(p.str('w'), { name: 'w', storage: '0', shape: [2] }, { key: '0', type: 'FloatStorage', count: 2 });
    extra(p.str('x'));
    return p.setitems();
  });
}

const SMALL = { key: '0', type: 'FloatStorage' as const, count: 2 };

export const CASES: HostileCase[] = [
  // ----------------------------------------------------------------------------- finding 1
  {
    id: 'stride-0-16384x16384',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    build: () => oneTensor({ shape: [16384, 16384], stride: [0, 0] }, { type: 'FloatStorage', count: 1 }),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /\bw\b.*\[16384,16384\].*strides? \[0,0\].*268435456 elements.*1 (stored )?element/ },
  },
  {
    id: 'overlapping-strides-16384x16384',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    build: () => oneTensor({ shape: [16384, 16384], stride: [1, 1] }, { type: 'FloatStorage', count: 32767 }),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /\bw\b.*strides \[1,1\].*(repeats|overlap)/ },
  },
  {
    id: 'view-past-storage-end',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    build: () => oneTensor({ shape: [2, 3], stride: [3, 1], offset: 1 }, { type: 'FloatStorage', count: 6 }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /\bw\b.*element 6 .*storage 0 has 6/ },
  },
  {
    id: 'offset-past-storage-end',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    build: () => oneTensor({ shape: [1], offset: 4096 }, { type: 'FloatStorage', count: 6 }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /\bw\b.*element 4096 .*storage 0 has 6/ },
  },
  {
    id: 'element-count-overflow',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    build: () => oneTensor({ shape: [2 ** 31, 2 ** 31, 2 ** 31], stride: [0, 0, 0] }, { type: 'FloatStorage', count: 1 }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /\bw\b.*\[2147483648,2147483648,2147483648\].*(too many|overflow)/ },
  },
  {
    id: 'storage-count-beyond-entry',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    build: () => torchArchive([{ name: 'w', storage: '0', shape: [1e9] }], [{ key: '0', type: 'FloatStorage', count: 1e9, data: f32([1, 2]) }]),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /storage 0 has 8 bytes, 1000000000 F32 elements need 4000000000/ },
  },
  {
    id: 'fan-out-views-of-one-storage',
    category: 'tensor views',
    finding: 1,
    ext: '.pt',
    // 2000 distinct views of one 1 MiB storage: 2 GB of float32 if each were decoded
    build: () => {
      const n = 262144;
      const tensors = Array.from({ length: 2000 }, (_, i): TensorSpec => ({ name: `w${i}`, storage: '0', offset: i, shape: [n - i] }));
      return torchArchive(tensors, [{ key: '0', type: 'FloatStorage', count: n }]);
    },
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /views of the same stored elements.*w6, \d+ elements would be decoded from 262144 stored/ },
  },
  // ----------------------------------------------------------------------------- finding 2
  {
    id: 'long4-200kb',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.long4(200 * 1024)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /integer of 204800 bytes/ },
  },
  {
    id: 'long1-255-bytes',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.op(0x8a, 255).raw(new Uint8Array(255).fill(0x11))),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /integer of 255 bytes/ },
  },
  {
    id: 'long4-negative-length',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.op(0x8b, 0xff, 0xff, 0xff, 0xff)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /LONG4.*negative length -1/ },
  },
  {
    id: 'binunicode-length-past-end',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.binunicode(0x7fffffff, enc.encode('short'))),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /BINUNICODE.*2147483647 bytes.*only \d+ remain/ },
  },
  {
    id: 'binbytes-length-past-end',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.op(0x42, 0xff, 0xff, 0xff, 0xff, 1, 2, 3)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /BINBYTES.*4294967295 bytes.*only \d+ remain/ },
  },
  {
    id: 'binunicode8-length-2^62',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.raw(new Bytes().push(0x8d).u64(1n << 62n).push(0x61, 0x62).done())),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /BINUNICODE8.*4611686018427387904 bytes.*only \d+ remain/ },
  },
  {
    id: 'binbytes8-length-2^63',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.raw(new Bytes().push(0x8e).u64(1n << 63n).done())),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /BINBYTES8.*9223372036854775808 bytes.*only \d+ remain/ },
  },
  {
    id: 'frame-length-past-end',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => pickleArchive((p) => p.raw(new Bytes().push(0x95).u64(1n << 40n).done()).emptyDict()),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /FRAME.*1099511627776 bytes.*only \d+ remain/ },
  },
  {
    id: 'binstring-negative-length',
    category: 'pickle lengths',
    finding: 2,
    ext: '.pt',
    build: () => dictWith((p) => p.op(0x54, 0xfe, 0xff, 0xff, 0xff)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /BINSTRING.*negative length -2/ },
  },
  // ----------------------------------------------------------------------------- finding 3
  {
    id: 'deflate-bomb-512mib-storage',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    // the storage honestly declares 512 MiB of float32 zeros, deflated to about 522 KB
    build: () =>
      oneTensor({ shape: [8192, 16384] }, { type: 'FloatStorage', count: 128 * MiB, entry: { compressed: zeroDeflate(512), size: 512 * MiB } }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /would inflate to 536870912 bytes .*more than the 64 MiB a 519.* KiB file is allowed/ },
  },
  {
    id: 'deflate-bomb-lying-size',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    // declares 1 KiB, inflates to 512 MiB
    build: () => oneTensor({ shape: [256] }, { type: 'FloatStorage', count: 256, entry: { compressed: zeroDeflate(512), size: 1024 } }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /inflates to more than the 1024 bytes it declares/ },
  },
  {
    id: 'entry-larger-than-its-storage',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    build: () => oneTensor({ shape: [16] }, { type: 'FloatStorage', count: 16, entry: { compressed: zeroDeflate(512), size: 512 * MiB } }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /storage 0.*536870912 bytes.*16 F32 elements need 64/ },
  },
  {
    id: 'deflate-bomb-data-pkl',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    build: () => torchArchive([], [SMALL], { pickle: new Uint8Array(0), pickleEntry: { compressed: zeroDeflate(512), size: 512 * MiB } }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /archive\/data\.pkl is 536870912 bytes .*limit 32 MiB/ },
  },
  {
    id: 'impossible-deflate-ratio',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    build: () => oneTensor({ shape: [2] }, { type: 'FloatStorage', count: 2, entry: { compressed: new Uint8Array(100), size: 2 ** 31 } }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /2147483648 bytes from 100 compressed/ },
  },
  {
    id: 'many-storages-over-budget',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    // 20 storages of 32 MiB zeros (640 MiB) in a 650 KB file
    build: () => {
      const bomb = zeroDeflate(32);
      const storages = Array.from({ length: 20 }, (_, i): StorageSpec => ({ key: String(i), type: 'FloatStorage', count: 8 * MiB, entry: { compressed: bomb, size: 32 * MiB } }));
      return torchArchive(storages.map((s) => ({ name: `w${s.key}`, storage: s.key, shape: [8 * MiB] })), storages);
    },
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /would inflate to 100663296 bytes with archive\/data\/2 .*after 64 MiB already.*more than the 64 MiB/ },
  },
  {
    id: 'overlapping-entries',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    // 16 directory entries share one 64 MiB deflated body (1 GiB if each were inflated)
    build: () => {
      const pkl = stateDictPickle(
        Array.from({ length: 16 }, (_, i) => ({ name: `w${i}`, storage: String(i), shape: [16 * MiB] })),
        Array.from({ length: 16 }, (_, i) => ({ key: String(i), type: 'FloatStorage' as const, count: 16 * MiB })),
      );
      const bomb = zeroDeflate(64);
      return makeZip([
        { name: 'archive/data.pkl', data: pkl },
        { name: 'archive/data/0', data: new Uint8Array(0), compressed: bomb, size: 64 * MiB },
        ...Array.from({ length: 15 }, (_, i) => ({ name: `archive/data/${i + 1}`, data: new Uint8Array(0), sameDataAs: 'archive/data/0' })),
      ]);
    },
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /entries .* overlap/ },
  },
  {
    id: 'entry-count-2^40',
    category: 'zip bombs and limits',
    finding: 3,
    ext: '.pt',
    build: () => makeZip([{ name: 'archive/data.pkl', data: new Pickle().proto().emptyDict().stop().done() }], { zip64: true, count: 2 ** 40 }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /1099511627776 entries/ },
  },
  // ----------------------------------------------------------------------------- safetensors
  {
    id: 'st-header-length-past-eof',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsRaw('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32([1, 2]), 5000),
    expect: { code: 'WEIGHTS_TRUNCATED', message: /header needs 5008 bytes, the file has \d+/ },
  },
  {
    id: 'st-header-length-2^60',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsRaw('{"w":{}}', new Uint8Array(0), 2 ** 60),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /header length 1152921504606846976/ },
  },
  {
    id: 'st-header-not-json',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsRaw('{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]', f32([1, 2])),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /header is not valid JSON/ },
  },
  {
    id: 'st-header-too-large',
    category: 'safetensors',
    ext: '.safetensors',
    // 32 MiB of nested arrays: ~1 GB of JS objects if parsed
    build: () => safetensorsRaw(`{"w":${'['.repeat(16 * MiB - 4)}${']'.repeat(16 * MiB - 4)}}`),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /header of 33554430 bytes \(32 MiB\) is past sds's limit of 2 MiB/ },
  },
  {
    id: 'st-header-2mib-nested-arrays',
    category: 'safetensors',
    ext: '.safetensors',
    // just under the header limit, the costliest JSON to parse: 1M nested arrays (~120 MB, 1 s if parsed)
    build: () => safetensorsRaw(`{"w":${'['.repeat(MiB - 4)}${']'.repeat(MiB - 4)}}`),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /header nests JSON more than 16 deep/ },
  },
  {
    id: 'st-header-2mib-many-entries',
    category: 'safetensors',
    ext: '.safetensors',
    // just under the header limit: 200k tiny objects
    build: () => safetensorsRaw(`{${Array.from({ length: 200_000 }, (_, i) => `"${i.toString(36)}":{}`).join(',')}}`),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /entry 0 has no dtype\/shape\/data_offsets/ },
  },
  {
    id: 'st-entry-not-an-object',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsRaw('{"w":null}'),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /entry w has no dtype\/shape\/data_offsets/ },
  },
  {
    id: 'st-data-offsets-past-eof',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F32', shape: [1024], data_offsets: [0, 4096] } }, f32([1, 2])),
    expect: { code: 'WEIGHTS_TRUNCATED', message: /tensor w ends at byte \d+, the file has \d+/ },
  },
  {
    id: 'st-overlapping-offsets',
    category: 'safetensors',
    ext: '.safetensors',
    build: () =>
      safetensorsOf(
        { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
        f32([1, 2, 3]),
      ),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /tensors a and b overlap/ },
  },
  {
    id: 'st-dtype-shape-mismatch',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32([1, 2])),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /w: 3 F32 elements need 12 bytes, its offsets span 8/ },
  },
  {
    id: 'st-negative-offsets',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, f32([1, 2])),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /w has data_offsets \[-8,0\]/ },
  },
  {
    id: 'st-negative-shape',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F32', shape: [-2, -1], data_offsets: [0, 8] } }, f32([1, 2])),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /w has shape \[-2,-1\]/ },
  },
  {
    id: 'st-shape-product-overflow',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, f32([1, 2])),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /w: shape \[1099511627776,1099511627776\] has too many elements/ },
  },
  {
    id: 'st-metadata-not-strings',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32([1, 2]), { __metadata__: { sds_arch: { x: 1 } } }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /__metadata__.*sds_arch.*not a string/ },
  },
  {
    id: 'st-unknown-dtype',
    category: 'safetensors',
    ext: '.safetensors',
    build: () => safetensorsOf({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /tensor w has element type F8_E4M3/ },
  },
  // ----------------------------------------------------------------------------- truncated zips
  {
    id: 'zip-central-directory-missing',
    category: 'truncated zips',
    ext: '.pt',
    build: () => {
      const z = floatArchive({ w: { shape: [64], values: Array.from({ length: 64 }, (_, i) => i) } });
      const view = new DataView(z.buffer);
      let cd = 0;
      while (view.getUint32(cd, true) !== 0x02014b50) cd++;
      return z.slice(0, cd);
    },
    expect: { code: 'WEIGHTS_TRUNCATED', message: /zip directory .* is missing/ },
  },
  {
    id: 'zip-entry-past-eof',
    category: 'truncated zips',
    ext: '.pt',
    build: () => {
      const z = floatArchive({ w: { shape: [64] } });
      const view = new DataView(z.buffer);
      // the directory record of archive/data/0 (the third) claims 1 MiB
      let cd = 0;
      for (let seen = 0; seen < 3; cd++) if (view.getUint32(cd, true) === 0x02014b50) seen++;
      cd--;
      view.setUint32(cd + 20, MiB, true);
      view.setUint32(cd + 24, MiB, true);
      return z;
    },
    expect: { code: 'WEIGHTS_TRUNCATED', message: /zip entry archive\/data\/0 ends at byte \d+, the file has \d+/ },
  },
  {
    id: 'zip64-record-past-eof',
    category: 'truncated zips',
    ext: '.pt',
    build: () => {
      const z = floatArchive({ w: { shape: [4] } }, { zip64: true });
      new DataView(z.buffer).setBigUint64(z.length - 22 - 20 + 8, 1n << 40n, true);
      return z;
    },
    expect: { code: 'WEIGHTS_TRUNCATED', message: /ZIP64 directory record lies past the end/ },
  },
  {
    id: 'zip-deflated-data-cut',
    category: 'truncated zips',
    ext: '.pt',
    build: () => {
      // data.pkl's deflate stream ends early while the directory still describes it
      const pkl = stateDictPickle([{ name: 'w', storage: '0', shape: [2] }], [SMALL]);
      const cut = deflateRawSync(pkl).subarray(0, 20);
      return makeZip([
        { name: 'archive/data.pkl', data: pkl, compressed: cut, size: pkl.length },
        { name: 'archive/data/0', data: f32([1, 2]) },
      ]);
    },
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /zip entry archive\/data\.pkl does not inflate/ },
  },
  // ----------------------------------------------------------------------------- malformed pickles
  {
    id: 'pickle-unknown-opcode',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.emptyDict().op(0xff)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /unknown opcode 0xff at byte 3/ },
  },
  {
    id: 'pickle-stack-underflow',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.reduce()),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /stack underflow/ },
  },
  {
    id: 'pickle-memo-out-of-range',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.op(0x6a, 0x40, 0x42, 0x0f, 0x00)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /memo slot 1000000, which was never written/ },
  },
  {
    id: 'pickle-pop-mark-without-mark',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.emptyDict().op(0x31)),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /MARK missing/ },
  },
  {
    id: 'pickle-no-stop',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.emptyDict(), { stop: false }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /ends without a STOP/ },
  },
  {
    id: 'pickle-global-os-system',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.global('os', 'system').mark().str(`touch ${MARKER}`).tuple().reduce()),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /os\.system.*never runs code/ },
    sideEffect: MARKER,
  },
  {
    id: 'pickle-global-eval-inside-checkpoint',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => dictWith((p) => p.global('builtins', 'eval').mark().str(`open('${MARKER}', 'w')`).tuple().reduce()),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /builtins\.eval.*never runs code/ },
    sideEffect: MARKER,
  },
  {
    id: 'pickle-stack-global-subprocess',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.str('subprocess').str('Popen').op(0x93).mark().str('id').tuple().reduce()),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /subprocess\.Popen.*never runs code/ },
  },
  {
    id: 'pickle-unknown-class-as-root',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.global('mymodule', 'MyNet').emptyTuple().op(0x81)),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /holds a pickled object \(mymodule\.MyNet\), not a state_dict/ },
  },
  {
    id: 'pickle-cut-mid-opcode',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => pickleArchive((p) => p.emptyDict().op(0x4a, 1, 2), { stop: false }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /BININT needs 4 bytes at byte 4, only 2 remain/ },
  },
  {
    id: 'pickle-malformed-tensor',
    category: 'malformed pickles',
    ext: '.pt',
    build: () =>
      pickleArchive((p) => {
        p.global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('w');
        p.global('torch._utils', '_rebuild_tensor_v2').mark();
        p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2).tuple().persid();
        return p.int(0).str('not a size').ints([1]).bool(false).none().tuple().reduce().setitems();
      }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /malformed tensor/ },
  },
  {
    id: 'pickle-unknown-storage-type',
    category: 'malformed pickles',
    ext: '.pt',
    build: () =>
      pickleArchive((p) => {
        p.global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('w');
        p.mark().str('storage').global('torch', 'QInt8Storage').str('0').str('cpu').int(2).tuple().persid();
        return p.setitems();
      }),
    expect: { code: 'WEIGHTS_UNSUPPORTED', message: /storage 0 has type torch\.QInt8Storage/ },
  },
  {
    id: 'pickle-storage-entry-missing',
    category: 'malformed pickles',
    ext: '.pt',
    build: () => makeZip([{ name: 'a/data.pkl', data: stateDictPickle([{ name: 'w', storage: '7', shape: [2] }], [{ key: '7', type: 'FloatStorage', count: 2 }]) }]),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /storage a\/data\/7 is missing/ },
  },
  // ----------------------------------------------------------------------------- nesting and amplification
  {
    id: 'marks-nested-10m-deep',
    category: 'nesting and amplification',
    ext: '.pt',
    build: () => pickleArchive((p) => p.raw(new Bytes().fill(0x28, 10_000_000).done()).emptyDict(), { deflate: true }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /nested more than \d+ deep/ },
  },
  {
    id: 'tensor-subclass-nested-100k-deep',
    category: 'nesting and amplification',
    ext: '.pt',
    // _rebuild_from_type_v2(G, T, (G, T, (... (None, None, ())))): a recursion in the reader before the fix
    build: () =>
      pickleArchive((p) => {
        const depth = 100_000;
        const G = () => p.global('torch._tensor', '_rebuild_from_type_v2');
        p.global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('w');
        G();
        for (let i = 0; i < depth; i++) G().global('torch', 'Tensor');
        p.none().none().emptyTuple().op(0x87); // innermost args: (None, None, ())
        for (let i = 0; i < depth; i++) p.op(0x87); // TUPLE3: (G, Tensor, inner)
        return p.reduce().setitems();
      }, { deflate: true }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /nested more than \d+ deep/ },
  },
  {
    id: 'lists-nested-1m-deep',
    category: 'nesting and amplification',
    ext: '.pt',
    // [[[...]]] a million deep (EMPTY_LIST x 1M, APPEND x 1M): no recursion, but ~200 MB of arrays
    build: () => pickleArchive((p) => p.raw(new Bytes().fill(0x5d, MiB).fill(0x61, MiB - 1).done()), { deflate: true }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /data\.pkl builds more than 64 MiB of Python objects/ },
  },
  {
    id: 'appends-1m-items',
    category: 'nesting and amplification',
    ext: '.pt',
    build: () => pickleArchive((p) => p.emptyList().mark().raw(new Bytes().fill(0x4e, MiB).done()).op(0x65), { deflate: true }),
    expect: { code: 'NOT_A_WEIGHTS_FILE', message: /its pickle holds a list, not a dict of tensors/ },
  },
  {
    id: 'empty-dict-bomb-24m',
    category: 'nesting and amplification',
    ext: '.pt',
    // 24 MiB of EMPTY_DICT: 24M Maps, ~4.5 GB of JS objects
    build: () => pickleArchive((p) => p.raw(new Bytes().fill(0x7d, 24 * MiB).done()), { deflate: true }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /data\.pkl builds more than 64 MiB of Python objects/ },
  },
  {
    id: 'dup-bomb-30m',
    category: 'nesting and amplification',
    ext: '.pt',
    // 30 MiB of DUP: 30M stack slots
    build: () => pickleArchive((p) => p.none().raw(new Bytes().fill(0x32, 30 * MiB).done()), { deflate: true }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /data\.pkl builds more than 64 MiB of Python objects/ },
  },
  {
    id: 'memo-fill-6m',
    category: 'nesting and amplification',
    ext: '.pt',
    // 6M LONG_BINPUT to distinct slots: a 6M-entry memo
    build: () =>
      pickleArchive((p) => {
        const b = new Bytes().push(0x4e);
        for (let i = 0; i < 6_000_000; i++) b.push(0x72).u32(i);
        return p.raw(b.done());
      }, { deflate: true }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /data\.pkl builds more than 64 MiB of Python objects/ },
  },
  {
    id: 'ordereddict-of-big-list-10k-times',
    category: 'nesting and amplification',
    ext: '.pt',
    // one 100k-pair list, then OrderedDict(list) 10k times: 10^9 insertions
    build: () =>
      pickleArchive((p) => {
        p.global('collections', 'OrderedDict').op(0x71, 0).emptyList().mark();
        const pair = new Bytes().push(0x4e, 0x4e, 0x86); // (None, None)
        const pairs = new Bytes();
        for (let i = 0; i < 100_000; i++) pairs.append(pair.done());
        p.raw(pairs.done()).op(0x65).op(0x71, 1).op(0x30); // APPENDS, BINPUT 1, POP
        const call = Uint8Array.from([0x68, 0, 0x68, 1, 0x85, 0x52, 0x30]); // BINGET 0, BINGET 1, TUPLE1, REDUCE, POP
        const calls = new Bytes();
        for (let i = 0; i < 10_000; i++) calls.append(call);
        return p.raw(calls.done()).emptyDict();
      }, { deflate: true }),
    expect: { code: 'WEIGHTS_TOO_LARGE', message: /data\.pkl builds more than 64 MiB of Python objects/ },
  },
  // ----------------------------------------------------------------------------- controls (must load)
  {
    id: 'control-small-expanded-view',
    category: 'controls',
    ext: '.pt',
    build: () => oneTensor({ shape: [4, 3], stride: [0, 1] }, { type: 'FloatStorage', count: 3, data: f32([1, 2, 3]) }),
    expect: { loads: { w: { shape: [4, 3], head: [1, 2, 3, 1, 2, 3, 1, 2] } } },
  },
  {
    id: 'control-transposed-view',
    category: 'controls',
    ext: '.pt',
    build: () => oneTensor({ shape: [2, 3], stride: [1, 2] }, { type: 'FloatStorage', count: 6, data: f32([0, 1, 2, 3, 4, 5]) }),
    expect: { loads: { w: { shape: [2, 3], head: [0, 2, 4, 1, 3, 5] } } },
  },
  {
    id: 'control-tied-weights',
    category: 'controls',
    ext: '.pt',
    build: () =>
      torchArchive(
        [
          { name: 'a', storage: '0', shape: [2, 2] },
          { name: 'b', storage: '0', shape: [2, 2] },
          { name: 'c', storage: '0', shape: [2], offset: 2 },
        ],
        [{ key: '0', type: 'FloatStorage', count: 4, data: f32([1, 2, 3, 4]) }],
      ),
    expect: { loads: { a: { shape: [2, 2], head: [1, 2, 3, 4] }, b: { shape: [2, 2], head: [1, 2, 3, 4] }, c: { shape: [2], head: [3, 4] } } },
  },
  {
    id: 'control-deflated-with-descriptors',
    category: 'controls',
    ext: '.pt',
    build: () => floatArchive({ w: { shape: [3], values: [1, 2, 3] }, n: { shape: [], values: [7], type: 'LongStorage' } }, { entries: { deflate: true, descriptor: true } }),
    expect: { loads: { w: { shape: [3], head: [1, 2, 3] }, n: { shape: [], head: [7] } } },
  },
  {
    id: 'control-zip64-stored-descriptors',
    category: 'controls',
    ext: '.pt',
    build: () => floatArchive({ w: { shape: [2, 2], values: [1, 2, 3, 4] } }, { zip64: true, entries: { descriptor: true } }),
    expect: { loads: { w: { shape: [2, 2], head: [1, 2, 3, 4] } } },
  },
  {
    id: 'control-deflated-zeros-within-budget',
    category: 'controls',
    ext: '.pt',
    // 16 MiB of zeros from 16 KB: well inside the inflate budget
    build: () => oneTensor({ shape: [4 * MiB] }, { type: 'FloatStorage', count: 4 * MiB, entry: { compressed: zeroDeflate(16), size: 16 * MiB } }),
    expect: { loads: { w: { shape: [4 * MiB], head: [0, 0, 0] } } },
  },
  {
    id: 'control-checkpoint-with-opaque-objects',
    category: 'controls',
    ext: '.pt',
    // {'model': state_dict, 'args': argparse.Namespace(...), 'seed': 2**64 - 1}: loads the weights, runs nothing
    build: () =>
      pickleArchive((p) => {
        p.emptyDict().mark().str('args').global('argparse', 'Namespace').emptyTuple().op(0x81).emptyDict().str('lr').int(1).op(0x73).op(0x62);
        p.str('seed').op(0x8a, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00);
        p.str('model').global('collections', 'OrderedDict').emptyTuple().reduce().mark();
        tensorOps(p.str('w'), { name: 'w', storage: '0', shape: [2] }, SMALL);
        return p.setitems().setitems();
      }),
    expect: { loads: { w: { shape: [2], head: [0, 0] } } },
  },
  {
    id: 'control-safetensors-with-hole',
    category: 'controls',
    ext: '.safetensors',
    build: () =>
      safetensorsOf({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F16', shape: [1], data_offsets: [8, 10] } }, new Uint8Array([0, 0, 0x80, 0x3f, 9, 9, 9, 9, 0, 0x3c]), {
        __metadata__: { sds_arch: 'resnet18' },
      }),
    expect: { loads: { a: { shape: [1], head: [1] }, b: { shape: [1], head: [1] } } },
  },
];

export function caseById(id: string): HostileCase {
  const c = CASES.find((x) => x.id === id);
  if (!c) throw new Error(`no hostile case ${id}`);
  return c;
}
