/**
 * Byte access to a slide file: one file handle shared by geotiff's directory parser and the tile reads.
 * Every read is bounded by the real file size, so a truncated or corrupt file becomes a clear error
 * instead of a silently zero-filled tile or a multi-gigabyte allocation.
 */
import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { SdsError } from '../core/errors.js';

/** What geotiff's `GeoTIFF.fromSource` needs from a byte source. */
export interface GeoTiffByteSource {
  fetch(slices: { offset: number; length: number }[], signal?: AbortSignal): Promise<ArrayBuffer[]>;
  readonly fileSize: number;
  close(): Promise<void>;
}

/**
 * geotiff reads the header and directories in fixed-size chunks (1 KiB, 4 KiB for BigTIFF) that may run
 * past the end of a small file; allow that much zero padding there, and no more.
 */
const DIRECTORY_SLACK = 64 * 1024;

export class FileSource {
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly size: number,
  ) {}

  /**
   * Only regular files are opened (symlinks to them are fine). The type is checked before open(), because
   * opening a FIFO for reading blocks until a writer appears (forever), and again on the open handle (fstat),
   * because the path may be replaced in between; the open itself is non-blocking so that race cannot hang.
   */
  static async open(path: string): Promise<FileSource> {
    let before: Stats;
    try {
      before = await stat(path);
    } catch (cause) {
      throw openError(path, cause);
    }
    if (!before.isFile()) throw notRegular(path, before);
    let handle: FileHandle;
    try {
      // O_NONBLOCK changes nothing for a regular file; for a FIFO swapped in after stat() it makes open() return.
      handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    } catch (cause) {
      throw openError(path, cause);
    }
    try {
      const after = await handle.stat();
      if (!after.isFile()) throw notRegular(path, after);
      return new FileSource(handle, path, after.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get name(): string {
    return basename(this.path);
  }

  /** Exactly `length` bytes at `offset`, or an SLIDE_UNREADABLE error naming what was being read. */
  async read(offset: number, length: number, what: string, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw this.truncated(what, offset, length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    // A regular file only returns short reads at its end, which the bound above excludes; loop for the rule's sake.
    while (done < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(out, done, length - done, offset + done));
      } catch (cause) {
        // EBADF after close(), EIO from a failing disk or network mount.
        throw new SdsError('SLIDE_UNREADABLE', `${this.name}: reading ${what} failed: ${(cause as Error).message}`, {
          suggestion: this.closed ? 'the slide was closed while a read was running' : 'check the disk or network mount holding the slide',
          context: { path: this.path, offset, length },
          cause,
        });
      }
      if (bytesRead === 0) throw this.truncated(what, offset, length);
      done += bytesRead;
    }
    return out;
  }

  /** The lenient view geotiff's parser needs: zero-padded past the end, but never far past it. */
  asGeoTiffSource(): GeoTiffByteSource {
    return {
      fetch: (slices, signal) =>
        Promise.all(
          slices.map(async ({ offset, length }) => {
            if (offset > this.size || offset + length > this.size + DIRECTORY_SLACK) throw this.truncated('a TIFF directory', offset, length);
            const out = new Uint8Array(length);
            const available = Math.max(0, Math.min(length, this.size - offset));
            if (available > 0) out.set(await this.read(offset, available, 'a TIFF directory', signal));
            return out.buffer;
          }),
        ),
      fileSize: this.size,
      close: () => this.close(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private truncated(what: string, offset: number, length: number): SdsError {
    return new SdsError('SLIDE_UNREADABLE', `${this.name}: ${what} lies outside the file (bytes ${offset}..${offset + length} of ${this.size}); the file is truncated or corrupt`, {
      suggestion: 'copy or download the slide again and compare its size with the original',
      context: { path: this.path, offset, length, fileSize: this.size },
    });
  }
}

function openError(path: string, cause: unknown): SdsError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new SdsError('FILE_NOT_FOUND', `slide not found: ${path}`, { suggestion: 'check the path', cause });
  return new SdsError('SLIDE_UNREADABLE', `cannot open ${path}: ${(cause as Error).message}`, { suggestion: 'check the file permissions', cause, context: { path } });
}

/** What a path that is not a regular file is, for the message. */
function notRegular(path: string, st: Stats): SdsError {
  const kind = st.isDirectory()
    ? 'a folder'
    : st.isFIFO()
      ? 'a named pipe (FIFO)'
      : st.isSocket()
        ? 'a socket'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : 'something else';
  return new SdsError('SLIDE_UNREADABLE', `${path} is not a regular file but ${kind}; sds reads slides only from regular files`, {
    suggestion: st.isDirectory() ? 'pass a slide file, not a folder' : 'copy the slide to a regular file and pass that',
    context: { path, kind },
  });
}
