/**
 * Entropy decoding of one baseline (sequential Huffman, 8-bit) JPEG scan into quantised DCT coefficients, for the
 * reduced-size decodes of NDPI's libjpeg-scaled levels (sharp cannot ask libjpeg for them). One scan without
 * restart markers: an NDPI tile is a single restart interval, and untiled levels have none. Errors where libjpeg
 * warns (bad codes, data ending early): OpenSlide turns those warnings into errors too.
 */
import type { HuffmanSpec } from './jpeg-header.js';

/** Zigzag position -> natural (row-major) position in an 8x8 block. */
export const ZIGZAG = Uint8Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
  59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

/** A canonical Huffman code as a 16-bit lookup: entry = (code length << 8) | symbol, 0 for no code. */
export type HuffmanLookup = Uint16Array;

const lookups = new WeakMap<HuffmanSpec, HuffmanLookup>();

/** The lookup of a DHT table (built once per table). Throws on a table whose codes do not fit 16 bits. */
export function huffmanLookup(spec: HuffmanSpec): HuffmanLookup {
  const cached = lookups.get(spec);
  if (cached) return cached;
  const table = new Uint16Array(1 << 16);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let n = 0; n < spec.bits[length - 1]!; n++) {
      if (code >= 1 << length) throw new Error('Huffman table (DHT) with more codes than fit their lengths');
      const first = code << (16 - length);
      table.fill((length << 8) | spec.values[k++]!, first, first + (1 << (16 - length)));
      code++;
    }
    code <<= 1;
  }
  lookups.set(spec, table);
  return table;
}

/** Bits of entropy-coded data: byte stuffing undone, stopping at the first marker (zeros after it, as libjpeg). */
class BitReader {
  private pos = 0;
  private buf = 0;
  private count = 0;
  /** Zero bits added after the data ended; consuming one means the data was too short. */
  private fake = 0;

  constructor(private readonly data: Uint8Array) {}

  private fill(): void {
    while (this.count <= 24) {
      let byte = 0;
      const at = this.pos;
      if (this.fake === 0 && at < this.data.length) {
        byte = this.data[at]!;
        if (byte === 0xff) {
          let next = this.data[at + 1];
          let skip = 1;
          while (next === 0xff) next = this.data[at + ++skip]; // fill bytes
          if (next === 0x00) this.pos = at + skip + 1;
          else {
            byte = 0;
            this.fake += 8; // a marker: the data ends here
          }
        } else this.pos = at + 1;
      } else {
        this.fake += 8;
      }
      this.buf = ((this.buf << 8) | byte) >>> 0;
      this.count += 8;
    }
  }

  peek16(): number {
    if (this.count < 16) this.fill();
    return (this.buf >>> (this.count - 16)) & 0xffff;
  }

  skip(n: number): void {
    this.count -= n;
    if (this.count < this.fake) throw new Error('the JPEG data ends early (premature end of data segment)');
  }

  bits(n: number): number {
    if (n === 0) return 0;
    if (this.count < n) this.fill();
    const v = (this.buf >>> (this.count - n)) & ((1 << n) - 1);
    this.skip(n);
    return v;
  }

  decode(lookup: HuffmanLookup): number {
    const entry = lookup[this.peek16()]!;
    if (entry === 0) throw new Error('corrupt JPEG data: bad Huffman code');
    this.skip(entry >> 8);
    return entry & 0xff;
  }
}

/** JPEG's sign extension of an `s`-bit magnitude category value. */
function extend(v: number, s: number): number {
  return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
}

export interface ScanComponentPlan {
  /** Blocks per MCU across and down (the frame's sampling factors). */
  h: number;
  v: number;
  dc: HuffmanLookup;
  ac: HuffmanLookup;
  /** Coefficient storage: blocksAcross x blocksDown blocks of 64 coefficients (natural order). */
  blocksAcross: number;
  coefficients: Int16Array;
}

/**
 * Decodes `mcusAcross` x `mcusDown` MCUs of an interleaved scan whose components are `plan` (in scan order) into
 * each component's coefficient blocks.
 */
export function decodeScan(data: Uint8Array, plan: ScanComponentPlan[], mcusAcross: number, mcusDown: number): void {
  const bits = new BitReader(data);
  const predictors = new Int32Array(plan.length);
  for (let my = 0; my < mcusDown; my++) {
    for (let mx = 0; mx < mcusAcross; mx++) {
      for (let c = 0; c < plan.length; c++) {
        const p = plan[c]!;
        for (let by = 0; by < p.v; by++) {
          for (let bx = 0; bx < p.h; bx++) {
            const block = ((my * p.v + by) * p.blocksAcross + mx * p.h + bx) * 64;
            const out = p.coefficients;
            const t = bits.decode(p.dc);
            predictors[c] = predictors[c]! + (t ? extend(bits.bits(t), t) : 0);
            out[block] = predictors[c]!;
            for (let k = 1; k < 64; ) {
              const rs = bits.decode(p.ac);
              const r = rs >> 4;
              const s = rs & 15;
              if (s) {
                k += r;
                // Corrupt runs past 63 land on the last coefficient, as in libjpeg (its zigzag table is padded so).
                out[block + ZIGZAG[Math.min(k, 63)]!] = extend(bits.bits(s), s);
                k++;
              } else if (r === 15) k += 16;
              else break;
            }
          }
        }
      }
    }
  }
}
