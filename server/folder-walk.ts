/**
 * Walking a configured folder safely, and noticing cheaply when it changed.
 * Symlinks are followed only while their target stays inside the folder (and each real directory
 * is visited once, so link loops end); only metadata is read while walking.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isInside } from './safe-path.js';

export interface WalkEntry {
  /** Path as reached from the root (links not resolved): ids come from this. */
  path: string;
  /** Relative to the root, with '/' separators. */
  rel: string;
  real: string;
  mtimeMs: number;
  size: number;
}

export interface WalkOptions {
  maxDepth?: number;
  /** Files to report. */
  wantFile?: (name: string) => boolean;
  /** Directories not to enter. */
  skipDir?: (name: string) => boolean;
  /**
   * Per directory: entries that are slides though not plain files with a wanted name (a DICOM series folder,
   * loose files of one series: reported as files), and names that belong to them (never reported or entered).
   */
  claim?: (dirReal: string, entries: Dirent[]) => Promise<{ slides: string[]; owned: string[] }>;
  /** Called for each directory entered, before its files; return false to not descend further. */
  onDir?: (dir: WalkEntry) => boolean | Promise<boolean>;
}

export interface WalkResult {
  files: WalkEntry[];
  /** Every directory entered: their mtimes say when a rescan is due. */
  dirs: WalkEntry[];
}

/** Walks `root` (must exist) depth-first in sorted name order. */
export async function walkFolder(root: string, options: WalkOptions = {}): Promise<WalkResult> {
  const maxDepth = options.maxDepth ?? 8;
  const rootReal = await realpath(root);
  const files: WalkEntry[] = [];
  const dirs: WalkEntry[] = [];
  const seen = new Set<string>();

  const visitDir = async (path: string, rel: string, real: string, depth: number): Promise<void> => {
    if (seen.has(real)) return;
    seen.add(real);
    let st;
    try {
      st = await stat(real);
    } catch {
      return;
    }
    const dir: WalkEntry = { path, rel, real, mtimeMs: st.mtimeMs, size: st.size };
    dirs.push(dir);
    if (options.onDir && !(await options.onDir(dir))) return;
    if (depth >= maxDepth) return;
    let names;
    try {
      names = (await readdir(real, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch {
      return;
    }
    const claim = options.claim ? await options.claim(real, names).catch(() => ({ slides: [], owned: [] })) : undefined;
    const claimed = new Set(claim?.slides.map((s) => basename(s)));
    const owned = new Set(claim?.owned);
    for (const d of names) {
      if (owned.has(d.name) && !claimed.has(d.name)) continue;
      const childPath = join(path, d.name);
      const childRel = rel ? `${rel}/${d.name}` : d.name;
      if (!d.isDirectory() && !d.isFile() && !d.isSymbolicLink()) continue;
      let childReal: string;
      try {
        childReal = d.isSymbolicLink() ? await realpath(join(real, d.name)) : join(real, d.name);
      } catch {
        continue; // dangling link
      }
      // A link that leaves the folder is ignored, whatever it points at.
      if (!isInside(rootReal, childReal)) continue;
      let cst;
      try {
        cst = await stat(childReal);
      } catch {
        continue;
      }
      if (claimed.has(d.name)) {
        files.push({ path: childPath, rel: childRel, real: childReal, mtimeMs: cst.mtimeMs, size: cst.size });
      } else if (cst.isDirectory()) {
        if (!options.skipDir?.(d.name)) await visitDir(childPath, childRel, childReal, depth + 1);
      } else if (cst.isFile() && options.wantFile?.(d.name)) {
        files.push({ path: childPath, rel: childRel, real: childReal, mtimeMs: cst.mtimeMs, size: cst.size });
      }
    }
  };
  await visitDir(root, '', rootReal, 0);
  return { files, dirs };
}

/**
 * What a scan saw (mtime and size of each directory and file); `changed()` re-stats them, at most
 * once per `intervalMs`, and says whether anything moved since.
 */
export class Fingerprint {
  private lastCheck = 0;
  private seen = new Map<string, string>();

  constructor(private readonly intervalMs: number) {}

  record(entries: Iterable<{ real: string; mtimeMs: number; size: number }>, roots: string[] = []): void {
    this.seen = new Map();
    for (const e of entries) this.seen.set(e.real, `${e.mtimeMs}:${e.size}`);
    // Roots that did not exist yet: their appearance is a change too.
    for (const r of roots) if (!this.seen.has(r)) this.seen.set(r, 'missing');
    this.lastCheck = Date.now();
  }

  async changed(): Promise<boolean> {
    if (Date.now() - this.lastCheck < this.intervalMs) return false;
    this.lastCheck = Date.now();
    for (const [path, was] of this.seen) {
      let now = 'missing';
      try {
        const s = await stat(path);
        now = `${s.mtimeMs}:${s.size}`;
      } catch {
        // gone
      }
      if (now !== was) return true;
    }
    return false;
  }
}
