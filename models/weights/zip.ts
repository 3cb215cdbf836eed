/**
 * Minimal ZIP reader over an in-memory file: enough for torch.save archives (stored entries,
 * ZIP64 directory) plus deflate for zips written by other tools (data descriptors included: the
 * sizes are read from the central directory). No CRC check: torch files are read for their bytes,
 * and a cut file is caught by the bounds checks below. Hostile directories are refused before
 * anything is allocated: entry counts against the directory's size, entries whose data overlap
 * (the overlapping-file zip bomb), declared sizes deflate cannot produce; an entry is inflated
 * into exactly its declared size, never more.
 */
import { inflateRawSync } from 'node:zlib';
import { SdsError } from '../../core/errors.js';
import { clip, WEIGHTS_LIMITS } from './limits.js';

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
    suggestion: 'pass a .safetensors file or a torch.save()d state_dict (.pt/.pth); if it is one, it is damaged: fetch or save it again',
    context: { file: name },
  });
}

const CENTRAL_LEN = 46;

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
  // Each directory record takes at least 46 bytes: a count the directory cannot hold is a lie.
  if (count * CENTRAL_LEN > cdSize) throw corrupt(name, `its directory declares ${count} entries in ${cdSize} bytes`);
  if (count > WEIGHTS_LIMITS.zipEntries) {
    throw new SdsError('WEIGHTS_TOO_LARGE', `${name} has ${count} zip entries; sds reads at most ${WEIGHTS_LIMITS.zipEntries}`, {
      suggestion: 'a state_dict has one entry per tensor storage; save only the model weights: torch.save(model.state_dict(), path)',
      context: { file: name },
    });
  }

  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  const spans: { name: string; start: number; end: number }[] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_LEN > cdEnd || view.getUint32(p, true) !== SIG_CENTRAL) throw corrupt(name, `bad central directory entry ${i}`);
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
    const shown = clip(entryName);
    if (entries.has(entryName)) throw corrupt(name, `two entries are named ${shown}`);

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
      throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: zip entry ${shown} is encrypted`, {
        suggestion: 'sds reads unencrypted archives only; save the state_dict again with torch.save',
        context: { file: name },
      });
    }
    if (localOffset + 30 > bytes.length) throw truncated(name, `zip entry ${shown} starts past the end of the file`);
    if (view.getUint32(localOffset, true) !== SIG_LOCAL) throw corrupt(name, `bad local header for ${shown}`);
    // The local name/extra lengths may differ from the central ones (torch pads data via the local extra).
    const offset = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (offset + compressedSize > bytes.length) {
      throw truncated(name, `zip entry ${shown} ends at byte ${offset + compressedSize}, the file has ${bytes.length}`);
    }
    if (method === 8 && size > compressedSize * WEIGHTS_LIMITS.deflateMaxRatio + 64) {
      throw corrupt(name, `entry ${shown} declares ${size} bytes from ${compressedSize} compressed, more than deflate can produce`);
    }
    entries.set(entryName, { name: entryName, offset, compressedSize, size, method });
    spans.push({ name: entryName, start: localOffset, end: offset + compressedSize });
    p = next;
  }
  // Entries whose bytes overlap are how small zips inflate to gigabytes (one body, many entries).
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]!.start < spans[i - 1]!.end) {
      throw corrupt(name, `entries ${clip(spans[i - 1]!.name)} and ${clip(spans[i]!.name)} overlap`);
    }
  }
  return entries;
}

/**
 * An entry's uncompressed bytes (a view into `bytes` for stored entries). A deflated entry is
 * inflated into exactly its declared size: callers check that size against what they need first.
 */
export function zipEntryData(bytes: Uint8Array, entry: ZipEntry, name = 'zip'): Uint8Array {
  const end = entry.offset + entry.compressedSize;
  const shown = clip(entry.name);
  if (end > bytes.length) throw truncated(name, `zip entry ${shown} ends at byte ${end}, the file has ${bytes.length}`);
  const raw = bytes.subarray(entry.offset, end);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) throw corrupt(name, `stored entry ${shown} has two different sizes`);
    return raw;
  }
  if (entry.method === 8) {
    if (entry.size > entry.compressedSize * WEIGHTS_LIMITS.deflateMaxRatio + 64) {
      throw corrupt(name, `entry ${shown} declares ${entry.size} bytes from ${entry.compressedSize} compressed, more than deflate can produce`);
    }
    let out: Uint8Array;
    try {
      // One output chunk of the declared size (+1 to see an overrun): no copies, no growth past it.
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size), chunkSize: Math.max(64, entry.size + 1) });
    } catch (cause) {
      if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw corrupt(name, `zip entry ${shown} inflates to more than the ${entry.size} bytes it declares`);
      }
      throw new SdsError('NOT_A_WEIGHTS_FILE', `${name}: zip entry ${shown} does not inflate (${(cause as Error).message})`, {
        suggestion: 'the file is damaged or cut short: fetch it again, or save it again with torch.save',
        context: { file: name },
        cause,
      });
    }
    if (out.length !== entry.size) throw corrupt(name, `entry ${shown} inflates to ${out.length} bytes, not ${entry.size}`);
    return out;
  }
  throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: zip entry ${shown} uses compression method ${entry.method}`, {
    suggestion: 'only stored and deflate entries are supported; re-save with torch.save(state_dict, path)',
    context: { file: name },
  });
}

/** The inflate budget of one file (see WEIGHTS_LIMITS.inflateRatio). */
export function inflateBudget(fileBytes: number): number {
  return Math.max(WEIGHTS_LIMITS.inflateFloorBytes, WEIGHTS_LIMITS.inflateRatio * fileBytes);
}
