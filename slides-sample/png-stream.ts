/**
 * A greyscale PNG written row band by row band through one deflate stream, so a full-resolution mask of an
 * 8k x 8k slide never sits in memory. 1-bit (masks: 1 = white) or 8-bit. Written to a temporary file and
 * renamed by close(), so a reader never sees half a PNG.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { createDeflate, type Deflate } from 'node:zlib';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** IDAT chunks of about this many bytes. */
const IDAT_BYTES = 1 << 16;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (let i = 0; i < p.length; i++) c = CRC_TABLE[(c ^ p[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32([head.subarray(4), data]), 0);
  return Buffer.concat([head, data, crc]);
}

export class PngStreamWriter {
  private rowsWritten = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writeChain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly rowBytes: number;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly file: FileHandle,
    readonly width: number,
    readonly height: number,
    readonly bitDepth: 1 | 8,
    private readonly deflate: Deflate,
  ) {
    this.rowBytes = bitDepth === 1 ? Math.ceil(width / 8) : width;
    deflate.on('data', (d: Buffer) => {
      this.pending.push(d);
      this.pendingBytes += d.length;
      if (this.pendingBytes >= IDAT_BYTES) this.flushIdat();
    });
    deflate.on('error', (err) => (this.failure = err));
  }

  static async create(path: string, width: number, height: number, bitDepth: 1 | 8): Promise<PngStreamWriter> {
    const tmp = `${path}.tmp-${process.pid}`;
    const file = await open(tmp, 'w');
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = bitDepth;
    ihdr[9] = 0; // greyscale
    await file.write(Buffer.concat([SIGNATURE, chunk('IHDR', ihdr)]));
    return new PngStreamWriter(path, tmp, file, width, height, bitDepth, createDeflate({ level: 6 }));
  }

  /** `rows` rows of `width` values each: 0/1 for 1-bit, 0..255 for 8-bit. */
  async writeRows(values: Uint8Array, rows: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.rowsWritten + rows > this.height) throw new Error(`PNG ${this.path}: ${this.rowsWritten + rows} rows written, the image has ${this.height}`);
    const out = Buffer.alloc(rows * (this.rowBytes + 1));
    for (let r = 0; r < rows; r++) {
      const o = r * (this.rowBytes + 1); // filter byte 0 (none) at o
      const src = r * this.width;
      if (this.bitDepth === 8) out.set(values.subarray(src, src + this.width), o + 1);
      else for (let x = 0; x < this.width; x++) if (values[src + x]) out[o + 1 + (x >> 3)]! |= 0x80 >> (x & 7);
    }
    this.rowsWritten += rows;
    if (!this.deflate.write(out)) await new Promise<void>((resolve) => this.deflate.once('drain', resolve));
  }

  /** Finish the stream and move the PNG into place. */
  async close(): Promise<void> {
    if (this.rowsWritten !== this.height) throw new Error(`PNG ${this.path}: ${this.rowsWritten} of ${this.height} rows written`);
    await new Promise<void>((resolve, reject) => {
      this.deflate.once('end', resolve);
      this.deflate.once('error', reject);
      this.deflate.end();
    });
    this.flushIdat();
    this.writeChain = this.writeChain.then(() => this.file.write(chunk('IEND', new Uint8Array(0))).then(() => undefined));
    await this.writeChain;
    if (this.failure) throw this.failure;
    await this.file.close();
    await rename(this.tmp, this.path);
  }

  /** Give up: close and delete the temporary file. */
  async abort(): Promise<void> {
    this.deflate.destroy();
    await this.writeChain.catch(() => undefined);
    await this.file.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }

  private flushIdat(): void {
    if (!this.pendingBytes) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.writeChain = this.writeChain.then(() => this.file.write(chunk('IDAT', data)).then(() => undefined)).catch((err) => void (this.failure = err));
  }
}
