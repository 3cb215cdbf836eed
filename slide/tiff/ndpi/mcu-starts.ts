/**
 * Where each restart interval (OpenSlide's NDPI tile) of a level's JPEG starts, in memory bounded whatever the
 * slide's size. NDPI lists them in tag 65426 (McuStarts, 32-bit offsets from the JPEG's first byte) with the high
 * 32 bits in tag 65432 where the JPEG outgrows 4 GiB: read here in chunks of the table as tiles need them (a few
 * kept), each chunk checked when read (ascending, inside the JPEG's data), and each start where it is used (a
 * restart marker must precede it, as OpenSlide checks). Without a usable list OpenSlide finds the markers by
 * scanning the data, and so does this: lazily, in bounded reads, remembering every 64th start (and the last run
 * found) so that a later request scans at most 64 intervals.
 */
import { SdsError } from '../../../core/errors.js';
import type { ByteSource } from './ifd.js';

const SCAN_CHUNK = 64 * 1024;
/** Table entries per chunk read (64 KiB of LONGs), and chunks kept. */
const TABLE_CHUNK = 16384;
const TABLE_CHUNKS_KEPT = 8;
/** One start remembered per this many intervals when scanning. */
const CHECKPOINT = 64;

export interface JpegSpan {
  /** First byte of the JPEG (its SOI). */
  start: number;
  /** First byte of its entropy-coded data (after the header). */
  dataStart: number;
  /** One past its last byte (the strip's end). */
  end: number;
}

/** Reads entries [first, first + n) of a McuStarts table (low words, and high words when the file has them). */
export interface McuStartsTable {
  low(first: number, n: number): Promise<Float64Array>;
  high?: (first: number, n: number) => Promise<Float64Array>;
}

export interface McuStarts {
  readonly count: number;
  /** Bytes [start, stop) of interval `index`: its entropy-coded data and, for all but the last, the next restart marker. */
  range(index: number): Promise<{ start: number; stop: number }>;
}

export function mcuStarts(source: ByteSource, what: string, span: JpegSpan, count: number, table: McuStartsTable | undefined): McuStarts {
  if (count <= 1) return { count, range: async () => ({ start: span.dataStart, stop: span.end }) };
  return table ? new ListedStarts(source, what, span, count, table) : new ScannedStarts(source, what, span, count);
}

function corrupt(source: ByteSource, what: string, problem: string, context: Record<string, unknown>): SdsError {
  return new SdsError('SLIDE_UNREADABLE', `${source.name}: ${what}: ${problem}`, {
    suggestion: 'the file is corrupt or truncated; copy or download the slide again',
    context: { path: source.path, ...context },
  });
}

/** Starts from the McuStarts table, a chunk at a time. */
class ListedStarts implements McuStarts {
  private readonly chunks = new Map<number, Promise<Float64Array>>();

  constructor(
    private readonly source: ByteSource,
    private readonly what: string,
    private readonly span: JpegSpan,
    readonly count: number,
    private readonly table: McuStartsTable,
  ) {}

  async range(index: number): Promise<{ start: number; stop: number }> {
    const start = await this.at(index);
    const stop = index + 1 < this.count ? await this.at(index + 1) : this.span.end;
    if (!(stop > start)) {
      throw corrupt(this.source, this.what, `McuStarts (tag 65426) is out of order: restart interval ${index + 1} at byte ${stop} does not follow interval ${index} at byte ${start}`, { interval: index + 1 });
    }
    return { start, stop };
  }

  private async at(index: number): Promise<number> {
    const c = Math.floor(index / TABLE_CHUNK);
    let chunk = this.chunks.get(c);
    if (!chunk) {
      chunk = this.load(c);
      this.chunks.set(c, chunk);
      if (this.chunks.size > TABLE_CHUNKS_KEPT) this.chunks.delete(this.chunks.keys().next().value!);
      chunk.catch(() => this.chunks.delete(c));
    }
    return (await chunk)[index - c * TABLE_CHUNK]!;
  }

  /** Chunk `c` as file positions, checked: ascending and inside the JPEG's data. */
  private async load(c: number): Promise<Float64Array> {
    const first = c * TABLE_CHUNK;
    const n = Math.min(TABLE_CHUNK, this.count - first);
    const low = await this.table.low(first, n);
    const high = this.table.high ? await this.table.high(first, n) : undefined;
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const i = first + k;
      // The first interval starts where the header ends, whatever the table says (OpenSlide does not look).
      const at = i === 0 ? this.span.dataStart : this.span.start + low[k]! + (high ? high[k]! * 2 ** 32 : 0);
      if (i > 0 && !(at > this.span.dataStart && at < this.span.end)) {
        throw corrupt(this.source, this.what, `McuStarts (tag 65426) puts restart interval ${i} at byte ${at}, ${at >= this.span.end ? `past the end of its JPEG (byte ${this.span.end})` : `inside its header`}`, { interval: i, offset: at });
      }
      if (k > 0 && !(at > out[k - 1]!)) {
        throw corrupt(this.source, this.what, `McuStarts (tag 65426) is out of order: restart interval ${i} at byte ${at} does not follow interval ${i - 1} at byte ${out[k - 1]}`, { interval: i, offset: at });
      }
      out[k] = at;
    }
    return out;
  }
}

/** Starts found by scanning the data for restart markers. */
class ScannedStarts implements McuStarts {
  /** Start of every CHECKPOINT-th interval found so far (-1: not yet). */
  private readonly checkpoints: Float64Array;
  /** Checkpoints known from the front. */
  private known = 1;
  /** The last run of starts found: intervals [runFirst, runFirst + run.length). */
  private run: number[] = [];
  private runFirst = 0;
  private scanning: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly source: ByteSource,
    private readonly what: string,
    private readonly span: JpegSpan,
    readonly count: number,
  ) {
    this.checkpoints = new Float64Array(Math.ceil(count / CHECKPOINT)).fill(-1);
    this.checkpoints[0] = span.dataStart;
  }

  async range(index: number): Promise<{ start: number; stop: number }> {
    const last = index + 1 >= this.count;
    const starts = await this.starts(index, last ? 1 : 2);
    return { start: starts[0]!, stop: last ? this.span.end : starts[1]! };
  }

  /** Starts of intervals [index, index + n), scanning from the nearest checkpoint before (one scan at a time). */
  private starts(index: number, n: number): Promise<number[]> {
    const job = this.scanning.then(async () => {
      const have = (i: number) => i >= this.runFirst && i < this.runFirst + this.run.length;
      if (!have(index) || !have(index + n - 1)) {
        // From the farthest checkpoint known at or before `index` (checkpoints are found front to back).
        const c = Math.min(Math.floor(index / CHECKPOINT), this.known - 1);
        const keepFrom = Math.floor(index / CHECKPOINT) * CHECKPOINT;
        // Through the next checkpoint when the data allows, so that the tiles around need no scan of their own.
        await this.scan(c * CHECKPOINT, keepFrom, index + n - 1, Math.min(this.count - 1, keepFrom + 2 * CHECKPOINT));
      }
      return this.run.slice(index - this.runFirst, index - this.runFirst + n);
    });
    this.scanning = job.catch(() => undefined);
    return job;
  }

  /**
   * Scans from interval `from`'s start (a checkpoint) until interval `want`'s start is found, on to `ahead`'s if the
   * data goes on; records the checkpoints passed and keeps the starts from `keepFrom` on as the current run.
   */
  private async scan(from: number, keepFrom: number, want: number, ahead: number): Promise<void> {
    let i = from;
    let pos = this.checkpoints[from / CHECKPOINT]!;
    const run: number[] = from === keepFrom ? [pos] : [];
    let previousFF = false;
    while (i < ahead) {
      if (pos >= this.span.end) {
        if (i >= want) break;
        throw corrupt(this.source, this.what, `its JPEG data ends after ${i + 1} of ${this.count} restart intervals`, { intervals: this.count, found: i + 1 });
      }
      const length = Math.min(SCAN_CHUNK, this.span.end - pos);
      const chunk = await this.source.read(pos, length, `the JPEG data of ${this.what}`);
      for (let b = 0; b < chunk.length && i < ahead; b++) {
        const byte = chunk[b]!;
        if (previousFF && byte >= 0xd0 && byte <= 0xd7) {
          const start = pos + b + 1;
          i++;
          if (i % CHECKPOINT === 0 && this.checkpoints[i / CHECKPOINT]! < 0) {
            this.checkpoints[i / CHECKPOINT] = start;
            this.known = Math.max(this.known, i / CHECKPOINT + 1);
          }
          if (i >= keepFrom) run.push(start);
        }
        previousFF = byte === 0xff;
      }
      pos += length;
    }
    this.run = run;
    this.runFirst = keepFrom;
  }
}
