/**
 * TIFF LZW (compression 5) with a bound on its output. geotiff's decoder (which this one follows code for code,
 * so valid streams decode to the same bytes) grows a JS array without limit: ~1 MB of LZW can say 1 GiB, and
 * past ~170 M entries V8 aborts the whole process. Here the output is one preallocated buffer of the size the
 * TIFF declares for the block; decoding stops when it is full, as libtiff stops at the block's size.
 *
 * The TIFF variant: codes MSB-first, 9 to 12 bits, the code width grows one code early ("early change"),
 * 256 = Clear, 257 = end of information.
 */
import { SdsError } from '../../core/errors.js';

const CLEAR = 256;
const EOI = 257;
const FIRST_FREE = 258;
const TABLE_SIZE = 4096;

export function lzwDecode(input: Uint8Array, maxOutput: number): Uint8Array {
  const out = new Uint8Array(maxOutput);
  // Each entry: the code it extends, its last byte, its first byte and its length.
  const prefix = new Uint16Array(TABLE_SIZE);
  const suffix = new Uint8Array(TABLE_SIZE);
  const first = new Uint8Array(TABLE_SIZE);
  const length = new Uint16Array(TABLE_SIZE);
  for (let i = 0; i < 256; i++) {
    suffix[i] = i;
    first[i] = i;
    length[i] = 1;
  }
  const totalBits = input.length * 8;
  let bitPos = 0;
  let width = 9;
  let next = FIRST_FREE;
  let old = -1;
  let n = 0;

  const readCode = (): number => {
    // Past the last byte: end of information (geotiff's rule); a partial last code is zero-padded.
    if (bitPos >>> 3 >= input.length) return EOI;
    let code = 0;
    for (let k = 0; k < width; k++) {
      const bit = bitPos + k;
      code = (code << 1) | (bit < totalBits ? (input[bit >>> 3]! >>> (7 - (bit & 7))) & 1 : 0);
    }
    bitPos += width;
    return code;
  };
  /** Writes the string of `code` (as much as fits); false once the output is full. */
  const emit = (code: number): boolean => {
    const len = length[code]!;
    let c = code;
    // Walk the prefix chain from the last byte back; bytes past the end of the output are dropped.
    for (let i = len - 1; i >= 0; i--) {
      if (n + i < maxOutput) out[n + i] = suffix[c]!;
      c = prefix[c]!;
    }
    n += len;
    return n < maxOutput;
  };
  const add = (prev: number, byte: number) => {
    if (next >= TABLE_SIZE) return;
    prefix[next] = prev;
    suffix[next] = byte;
    first[next] = first[prev]!;
    length[next] = length[prev]! + 1;
    next++;
  };
  const corrupt = (what: string) =>
    new SdsError('SLIDE_UNREADABLE', `LZW data is corrupt (${what} at bit ${bitPos})`, { suggestion: 'the tile data is corrupt' });

  let code = readCode();
  while (code !== EOI) {
    if (code === CLEAR) {
      width = 9;
      next = FIRST_FREE;
      do code = readCode();
      while (code === CLEAR);
      if (code === EOI) break;
      if (code > CLEAR) throw corrupt(`code ${code} right after a Clear`);
      if (!emit(code)) break;
      old = code;
    } else if (code < next) {
      const full = !emit(code);
      if (old >= 0) add(old, first[code]!);
      old = code;
      if (full) break;
    } else {
      // KwKwK: the code being defined right now, the previous string plus its own first byte.
      if (old < 0) throw corrupt(`code ${code} with no previous code`);
      if (code > next || next >= TABLE_SIZE) throw corrupt(`code ${code} while the next free code is ${next}`);
      add(old, first[old]!);
      const full = !emit(code);
      old = code;
      if (full) break;
    }
    if (next + 1 >= 1 << width) {
      if (width === 12) old = -1; // table full: no more entries until the next Clear (geotiff's rule)
      else width++;
    }
    code = readCode();
  }
  return n >= maxOutput ? out : out.subarray(0, n);
}
