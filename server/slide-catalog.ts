/**
 * The slides the server may show: every .svs/.tif/.tiff under the configured folders, each with
 * its URL id (server/API.md) and its metadata (read once per file version, the file closed again).
 * Requests look slides up by id; nothing a client sends ever becomes a path.
 */
import { basename, extname } from 'node:path';
import { claimFolder, isSlidePath, openSlide, type SlideInfo } from '../slide/index.js';
import { Fingerprint, walkFolder, type WalkEntry } from './folder-walk.js';
import { assignIds, idFromRelative } from './ids.js';
import { realOrUndefined } from './safe-path.js';


export interface SlideEntry {
  id: string;
  /** File name with extension. */
  name: string;
  /** Real path of the file (inside its folder). */
  path: string;
  /** Changes when the file is replaced: part of every cache key. */
  version: string;
  info: SlideInfo;
}

export interface SlideCatalogOptions {
  folders: string[];
  /** Re-stat the folders at most this often to notice new or changed files (default 1000 ms). */
  rescanMs?: number;
  log?: (line: string) => void;
}

export class SlideCatalog {
  private entries = new Map<string, SlideEntry>();
  private readonly fingerprint: Fingerprint;
  private readonly infos = new Map<string, { version: string; info?: SlideInfo }>();
  private scanning?: Promise<void>;
  private scanned = false;

  constructor(private readonly options: SlideCatalogOptions) {
    this.fingerprint = new Fingerprint(options.rescanMs ?? 1000);
  }

  async list(): Promise<SlideEntry[]> {
    await this.fresh();
    return [...this.entries.values()];
  }

  async get(id: string): Promise<SlideEntry | undefined> {
    await this.fresh();
    return this.entries.get(id);
  }

  /** Forces a rescan on the next look-up (e.g. after a job wrote files). */
  invalidate(): void {
    this.scanned = false;
  }

  private async fresh(): Promise<void> {
    if (this.scanned && !(await this.fingerprint.changed())) return;
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    await this.scanning;
  }

  private async scan(): Promise<void> {
    const found: WalkEntry[] = [];
    const seen: { real: string; mtimeMs: number; size: number }[] = [];
    const missing: string[] = [];
    for (const folder of this.options.folders) {
      if (!(await realOrUndefined(folder))) {
        missing.push(folder);
        continue;
      }
      // Slide files by extension; folder formats (a DICOM series folder, an MRXS data folder) through their claims.
      const { files, dirs } = await walkFolder(folder, { wantFile: isSlidePath, claim: claimFolder });
      found.push(...files);
      seen.push(...dirs, ...files);
    }
    const usable: { file: WalkEntry; info: SlideInfo }[] = [];
    for (const file of found) {
      const info = await this.describe(file);
      if (info) usable.push({ file, info });
    }
    const ids = assignIds(usable, ({ file }) => idFromRelative(file.rel.slice(0, file.rel.length - extname(file.rel).length)));
    this.entries = new Map(
      [...ids].map(([id, { file, info }]) => [id, { id, name: basename(file.path), path: file.real, version: `${file.mtimeMs}:${file.size}`, info }]),
    );
    this.fingerprint.record(seen, missing);
    this.scanned = true;
  }

  /** Metadata of one file version; a file that cannot be opened is left out (and said once). */
  private async describe(file: WalkEntry): Promise<SlideInfo | undefined> {
    const version = `${file.mtimeMs}:${file.size}`;
    const known = this.infos.get(file.real);
    if (known?.version === version) return known.info;
    let info: SlideInfo | undefined;
    try {
      const slide = await openSlide(file.real, { probe: false, cacheBytes: 1 << 20 });
      info = slide.info;
      await slide.close();
    } catch (err) {
      this.options.log?.(`sds serve: skipping ${file.path}: ${(err as Error).message}`);
    }
    this.infos.set(file.real, { version, info });
    return info;
  }
}
