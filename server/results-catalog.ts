/**
 * Finished analyses under the results folder: every `<results>/<...>/manifest.json`, with its URL id
 * (the folder's path relative to the results folder, per server/API.md) and its overlays by key.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fingerprint, walkFolder, type WalkEntry } from './folder-walk.js';
import { assignIds, idFromRelative } from './ids.js';
import { describeIssues, MANIFEST_FILE, manifestSchema, overlayKey, type Manifest, type OverlayEntry } from '../contracts/index.js';
import { realOrUndefined, regularFileInside } from './safe-path.js';

export interface OverlayRef {
  key: string;
  variant: string;
  method: string;
  layer: string;
  /** 'overlay' (saliency) or 'output' (the model's own output). */
  kind: 'overlay' | 'output';
  entry: OverlayEntry;
}

export interface AnalysisEntry {
  id: string;
  /** Real path of the analysis folder. */
  dir: string;
  manifest: Manifest;
  /** Changes when the manifest is rewritten: part of cache keys. */
  version: string;
  overlays: OverlayRef[];
  outputs: OverlayRef[];
  /** Real path of the analysed slide, when it still exists where the manifest says. */
  slideReal?: string;
  /** Still being written by one of this server's jobs (server/running-analyses.ts): no manifest on disk yet. */
  running?: boolean;
}

export interface ResultsCatalogOptions {
  folder?: string;
  rescanMs?: number;
  log?: (line: string) => void;
}

export class ResultsCatalog {
  private entries = new Map<string, AnalysisEntry>();
  private readonly fingerprint: Fingerprint;
  private scanning?: Promise<void>;
  private scanned = false;
  private rootReal?: string;

  constructor(private readonly options: ResultsCatalogOptions) {
    this.fingerprint = new Fingerprint(options.rescanMs ?? 1000);
  }

  /** Real path of the results folder (undefined while it does not exist). */
  async root(): Promise<string | undefined> {
    await this.fresh();
    return this.rootReal;
  }

  async list(): Promise<AnalysisEntry[]> {
    await this.fresh();
    return [...this.entries.values()];
  }

  async get(id: string): Promise<AnalysisEntry | undefined> {
    await this.fresh();
    return this.entries.get(id);
  }

  invalidate(): void {
    this.scanned = false;
  }

  private async fresh(): Promise<void> {
    if (this.scanned && !(await this.fingerprint.changed())) return;
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    await this.scanning;
  }

  private async scan(): Promise<void> {
    const folder = this.options.folder;
    this.rootReal = folder ? await realOrUndefined(folder) : undefined;
    if (!folder || !this.rootReal) {
      this.entries = new Map();
      this.fingerprint.record([], folder ? [folder] : []);
      this.scanned = true;
      return;
    }
    const rootReal = this.rootReal;
    const found: { dir: WalkEntry; manifest: Manifest; version: string }[] = [];
    const watched: { real: string; mtimeMs: number; size: number }[] = [];
    const { dirs } = await walkFolder(folder, {
      maxDepth: 4,
      // Overlay stores and tile pyramids hold thousands of files and never a manifest.
      skipDir: (name) => name.endsWith('.zarr') || name.endsWith('_files'),
      onDir: async (dir) => {
        const file = await regularFileInside(rootReal, join(dir.real, MANIFEST_FILE));
        if (!file) return true;
        const manifest = await this.readManifest(file.real);
        if (manifest) found.push({ dir, manifest, version: `${file.mtimeMs}:${file.size}` });
        watched.push(file);
        return false; // an analysis folder holds no further analyses
      },
    });
    watched.push(...dirs);
    const ids = assignIds(found, ({ dir }) => idFromRelative(dir.rel));
    const entries = new Map<string, AnalysisEntry>();
    for (const [id, f] of ids) entries.set(id, { ...toEntry(id, f.dir.real, f.manifest, f.version), slideReal: await realOrUndefined(f.manifest.slide.path) });
    this.entries = entries;
    this.fingerprint.record(watched);
    this.scanned = true;
  }

  private async readManifest(path: string): Promise<Manifest | undefined> {
    try {
      const parsed = manifestSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (parsed.success) return parsed.data;
      this.options.log?.(`sds serve: skipping ${describeIssues(parsed.error, path)} (not an sds manifest)`);
    } catch (err) {
      this.options.log?.(`sds serve: skipping ${path}: ${(err as Error).message}`);
    }
    return undefined;
  }
}

function toEntry(id: string, dir: string, manifest: Manifest, version: string): AnalysisEntry {
  const refs = (list: OverlayEntry[] | undefined, kind: 'overlay' | 'output'): OverlayRef[] =>
    (list ?? []).map((entry) => {
      const { variant, method, layer } = entry;
      return { key: overlayKey({ variant, method, layer }), variant, method, layer, kind, entry };
    });
  return { id, dir, manifest, version, overlays: refs(manifest.overlays, 'overlay'), outputs: refs(manifest.outputs, 'output') };
}
