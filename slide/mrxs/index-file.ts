/**
 * Index.dat, the table of where every stored image of a MIRAX slide lies: a version string ("01.02") and the
 * SLIDE_ID, then little-endian int32 values and pointers. At the root are two pointers to tables with one entry per
 * HIERARCHICAL value: the hierarchical records (one per zoom level: pages of (image index, offset, length, file
 * number) items) and the non-hierarchical ones (one data item each: positions, associated images). Pages are read
 * one after the other, as OpenSlide reads them (real files store them so; their "next" pointer only says whether
 * another follows). Every read is bounds-checked, so a damaged index is an error naming what broke, never a hang.
 */
import { SdsError } from '../../core/errors.js';

const VERSION = '01.02';
const ITEM_BYTES = 16;

/** One stored image of a zoom level. */
export interface ImageRecord {
  /** image index = y * IMAGENUMBER_X + x, in level-0 image units. */
  index: number;
  offset: number;
  length: number;
  fileNumber: number;
}

/** Where a non-hierarchical item lies. */
export interface DataRecord {
  offset: number;
  length: number;
  fileNumber: number;
}

export class IndexFile {
  private readonly view: DataView;
  private readonly hierRoot: number;

  /** `bytes`: the whole Index.dat; `what`: its name for messages ("CMU-1/Index.dat"). */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
    slideId: string,
    private readonly fileCount: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = new TextDecoder('latin1').decode(bytes.subarray(0, VERSION.length));
    if (version !== VERSION) throw this.bad(`it does not start with the version "${VERSION}" (found ${JSON.stringify(version)})`);
    const id = new TextEncoder().encode(slideId);
    const stored = bytes.subarray(VERSION.length, VERSION.length + id.length);
    if (stored.length !== id.length || stored.some((b, i) => b !== id[i])) {
      throw this.bad(`its slide identifier does not match Slidedat.ini's SLIDE_ID ${JSON.stringify(slideId)}: the index belongs to another slide`);
    }
    this.hierRoot = VERSION.length + id.length;
  }

  /** The images of zoom level `level` (the level-th hierarchical record). */
  images(level: number): ImageRecord[] {
    const table = this.int(this.hierRoot, 'the hierarchical root pointer');
    const head = this.int(table + 4 * level, `the record pointer of zoom level ${level}`);
    if (this.int(head, `the list head of zoom level ${level}`) !== 0) throw this.bad(`the list head of zoom level ${level} does not start with 0`);
    let at = this.int(head + 4, `the first data page pointer of zoom level ${level}`);
    const out: ImageRecord[] = [];
    for (;;) {
      const count = this.int(at, `a data page length of zoom level ${level}`);
      const next = this.int(at + 4, `a data page's next pointer of zoom level ${level}`);
      at += 8;
      if (count > 0 && at + count * ITEM_BYTES > this.bytes.length) {
        throw this.bad(`a data page of zoom level ${level} says it holds ${count} images, past the end of the file (${this.bytes.length} bytes)`);
      }
      for (let i = 0; i < count; i++, at += ITEM_BYTES) {
        const record = { index: this.view.getInt32(at, true), offset: this.view.getInt32(at + 4, true), length: this.view.getInt32(at + 8, true), fileNumber: this.view.getInt32(at + 12, true) };
        for (const [field, value] of Object.entries(record)) if (value < 0) throw this.bad(`an image of zoom level ${level} has a negative ${field} (${value})`);
        if (record.fileNumber >= this.fileCount) throw this.bad(`an image of zoom level ${level} is in data file ${record.fileNumber}; Slidedat.ini lists ${this.fileCount}`);
        out.push(record);
      }
      if (next === 0) return out;
    }
  }

  /** Non-hierarchical record `record` (numbered across all NONHIER layers). */
  data(record: number, what: string): DataRecord {
    const table = this.int(this.hierRoot + 4, 'the non-hierarchical root pointer');
    const head = this.int(table + 4 * record, `the record pointer of the ${what}`);
    if (this.int(head, `the list head of the ${what}`) !== 0) throw this.bad(`the list head of the ${what} does not start with 0`);
    const page = this.int(head + 4, `the data page pointer of the ${what}`);
    if (this.int(page, `the data page of the ${what}`) !== 1) throw this.bad(`the data page of the ${what} does not hold exactly one item`);
    // page + 4: the "next" pointer (OpenSlide notes it is sometimes 1253, for reasons unknown); then two zeros.
    if (this.int(page + 8, `the data page of the ${what}`) !== 0 || this.int(page + 12, `the data page of the ${what}`) !== 0) {
      throw this.bad(`the data page of the ${what} lacks its two zero values`);
    }
    const offset = this.int(page + 16, `the offset of the ${what}`);
    const length = this.int(page + 20, `the size of the ${what}`);
    const fileNumber = this.int(page + 24, `the file number of the ${what}`);
    if (offset < 0 || length < 0) throw this.bad(`the ${what} has a negative offset or size (${offset}, ${length})`);
    if (fileNumber < 0 || fileNumber >= this.fileCount) throw this.bad(`the ${what} is in data file ${fileNumber}; Slidedat.ini lists ${this.fileCount}`);
    return { offset, length, fileNumber };
  }

  /** The int32 at `at`, or an error naming what it was meant to be. */
  private int(at: number, what: string): number {
    if (!Number.isInteger(at) || at < 0 || at + 4 > this.bytes.length) throw this.bad(`${what} (at byte ${at}) lies outside the file (${this.bytes.length} bytes): it is truncated or corrupt`);
    return this.view.getInt32(at, true);
  }

  private bad(problem: string): SdsError {
    return new SdsError('SLIDE_UNREADABLE', `${this.what}: ${problem}`, {
      suggestion: 'the MIRAX index is damaged or incomplete; copy the whole slide (the .mrxs file and its folder) again',
      context: { file: this.what },
    });
  }
}
