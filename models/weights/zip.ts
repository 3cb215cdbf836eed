/**
 * Minimal ZIP reader over an in-memory file: enough for torch.save archives (stored entries,
 * ZIP64 directory) plus deflate for zips written by other tools. No CRC check: torch files are
 * read for their bytes, and a cut file is caught by the bounds checks below.
 */
import { inflateRawSync } from 'node:zlib';
import { SdsError } from '../../core/errors.js';

export interface ZipEntry {
  name: string;
  /** Byte offset of the entry's data in the file (after its local header). */
  offset: number;
  compressedSize: number;
  size: number;
  /** 0 = stored, 8 = deflate. */
  method: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_LEN = 22;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const REFETCH = 'the download or copy was cut short; fetch the file again';

function truncated(name: string, why: string): SdsError {
  return new SdsError('WEIGHTS_TRUNCATED', `${name} is truncated: ${why}`, { suggestion: REFETCH, context: { file: name } });
}

function corrupt(name: string, why: string): SdsError {
  return new SdsError('NOT_A_WEIGHTS_FILE', `${name} is not a readable zip archive (${why})`, {
    suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth)',
    context: { file: name },
  });
}

/** u64 as a JS number; anything past 2^53 cannot be a real offset in a Uint8Array anyway. */
function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Position of the End Of Central Directory record, or -1. */
function findEocd(bytes: Uint8Array, view: DataView): number {
  // The record is last, followed only by a comment of at most 65535 bytes.
  const stop = Math.max(0, bytes.length - EOCD_LEN - U16_MAX);
  for (let p = bytes.length - EOCD_LEN; p >= stop; p--) {
    if (bytes[p] === 0x50 && view.getUint32(p, true) === SIG_EOCD && p + EOCD_LEN + view.getUint16(p + 20, true) <= bytes.length) {
      return p;
    }
  }
  return -1;
}

/**
 * Central directory -> entries by name. `name` (the file's name) only goes into error messages.
 * Throws WEIGHTS_TRUNCATED when the directory or an entry lies past the end of the file.
 */
export function readZipEntries(bytes: Uint8Array, name = 'zip'): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length >= EOCD_LEN ? findEocd(bytes, view) : -1;
  if (eocd < 0) {
    // A file that starts like a zip but has no directory at its end was almost surely cut off.
    if (bytes.length >= 4 && view.getUint32(0, true) === SIG_LOCAL) {
      throw truncated(name, `its zip directory (at the end of the file) is missing; only ${bytes.length} bytes are present`);
    }
    throw corrupt(name, 'no end-of-central-directory record');
  }
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  // ZIP64: a locator sits right before the EOCD and points at the 64-bit record (torch always writes one).
  const loc = eocd - 20;
  if (loc >= 0 && view.getUint32(loc, true) === SIG_ZIP64_LOCATOR) {
    const rec = u64(view, loc + 8);
    if (rec + 56 > bytes.length) throw truncated(name, 'its ZIP64 directory record lies past the end of the file');
    if (view.getUint32(rec, true) !== SIG_ZIP64_EOCD) throw corrupt(name, 'bad ZIP64 end-of-directory record');
    count = u64(view, rec + 32);
    cdSize = u64(view, rec + 40);
    cdOffset = u64(view, rec + 48);
  } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw corrupt(name, 'ZIP64 sizes without a ZIP64 locator');
  }
  if (cdOffset + cdSize > bytes.length) {
    throw truncated(name, `its zip directory ends at byte ${cdOffset + cdSize}, the file has ${bytes.length}`);
  }

  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || view.getUint32(p, true) !== SIG_CENTRAL) throw corrupt(name, `bad central directory entry ${i}`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localOffset = view.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) throw corrupt(name, `central directory entry ${i} overruns the directory`);
    const entryName = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));

    // ZIP64 extended info (id 1): only the fields that overflowed are present, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let f = e + 4;
        const end = f + len;
        if (size === U32_MAX && f + 8 <= end) {
          size = u64(view, f);
          f += 8;
        }
        if (compressedSize === U32_MAX && f + 8 <= end) {
          compressedSize = u64(view, f);
          f += 8;
        }
        if (localOffset === U32_MAX && f + 8 <= end) localOffset = u64(view, f);
      }
      e += 4 + len;
    }

    if (flags & 1) {
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: zip entry ${entryName} is encrypted`, { context: { file: name } });
    }
    if (localOffset + 30 > bytes.length) throw truncated(name, `zip entry ${entryName} starts past the end of the file`);
    if (view.getUint32(localOffset, true) !== SIG_LOCAL) throw corrupt(name, `bad local header for ${entryName}`);
    // The local name/extra lengths may differ from the central ones (torch pads data via the local extra).
    const offset = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (offset + compressedSize > bytes.length) {
      throw truncated(name, `zip entry ${entryName} ends at byte ${offset + compressedSize}, the file has ${bytes.length}`);
    }
    entries.set(entryName, { name: entryName, offset, compressedSize, size, method });
    p = next;
  }
  return entries;
}

/** An entry's uncompressed bytes (a view into `bytes` for stored entries). */
export function zipEntryData(bytes: Uint8Array, entry: ZipEntry, name = 'zip'): Uint8Array {
  const end = entry.offset + entry.compressedSize;
  if (end > bytes.length) throw truncated(name, `zip entry ${entry.name} ends at byte ${end}, the file has ${bytes.length}`);
  const raw = bytes.subarray(entry.offset, end);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) throw corrupt(name, `stored entry ${entry.name} has two different sizes`);
    return raw;
  }
  if (entry.method === 8) {
    let out: Uint8Array;
    try {
      // The cap keeps a lying header from inflating without bound.
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
    } catch (cause) {
      throw new SdsError('NOT_A_WEIGHTS_FILE', `${name}: zip entry ${entry.name} does not inflate (${(cause as Error).message})`, {
        context: { file: name },
        cause,
      });
    }
    if (out.length !== entry.size) throw corrupt(name, `entry ${entry.name} inflates to ${out.length} bytes, not ${entry.size}`);
    return out;
  }
  throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: zip entry ${entry.name} uses compression method ${entry.method}`, {
    suggestion: 'only stored and deflate entries are supported; re-save with torch.save(state_dict, path)',
    context: { file: name },
  });
}
