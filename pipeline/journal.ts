/**
 * The per-slide journal: every finished patch batch's maps, one file per batch, written atomically
 * (temp file + rename, so a half-written batch is never taken as done). A rerun replays journalled
 * batches instead of computing them and stitches in batch order, so a resumed analysis is
 * byte-identical to an uninterrupted one. The plan's fingerprint guards against replaying batches
 * of a different model, layer set or patch grid.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { SdsError } from '../core/errors.js';
import { join } from 'node:path';

/** Maps of one batch: per overlay key, n patches' maps concatenated (n * mapHeight * mapWidth). */
export type BatchMaps = Map<string, Float32Array>;

export interface JournalLayout {
  /** overlay keys in file order with the float count each holds per patch */
  entries: { key: string; perPatch: number }[];
}

export class BatchJournal {
  private constructor(
    readonly dir: string,
    private readonly layout: JournalLayout,
  ) {}

  /**
   * Opens the journal in `dir`. One written for another fingerprint is discarded, unless `fresh` is
   * false: then a missing or different journal is an error (a queue worker must never wipe batches
   * that other machines wrote).
   */
  static async open(dir: string, fingerprint: string, layout: JournalLayout, { fresh = true }: { fresh?: boolean } = {}): Promise<BatchJournal> {
    const planFile = join(dir, 'plan.json');
    let same = false;
    try {
      same = (await readFile(planFile, 'utf8')) === fingerprint;
    } catch {
      same = false;
    }
    if (!same && !fresh) {
      throw new SdsError('BAD_INPUT', `the journal in ${dir} was not planned with these settings (or is missing)`, {
        suggestion: 'enqueue the slide again so its journal is prepared with the same model, layers and patch settings',
      });
    }
    if (!same) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await atomicWrite(planFile, fingerprint);
    }
    return new BatchJournal(dir, layout);
  }

  private file(i: number): string {
    return join(this.dir, `batch-${String(i).padStart(6, '0')}.f32`);
  }

  /** Whether batch i is journalled complete (right size). */
  async has(i: number, patches: number): Promise<boolean> {
    try {
      return (await stat(this.file(i))).size === this.layout.entries.reduce((s, e) => s + e.perPatch * patches, 0) * 4;
    } catch {
      return false;
    }
  }

  /** The batch's maps when journalled and complete, else undefined. */
  async read(i: number, patches: number): Promise<BatchMaps | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(this.file(i));
    } catch {
      return undefined;
    }
    const total = this.layout.entries.reduce((s, e) => s + e.perPatch * patches, 0);
    if (buf.byteLength !== total * 4) return undefined; // another batch size: recompute
    const all = new Float32Array(total);
    new Uint8Array(all.buffer).set(buf);
    const maps: BatchMaps = new Map();
    let off = 0;
    for (const e of this.layout.entries) {
      maps.set(e.key, all.subarray(off, off + e.perPatch * patches));
      off += e.perPatch * patches;
    }
    return maps;
  }

  async write(i: number, patches: number, maps: BatchMaps): Promise<void> {
    const parts = this.layout.entries.map((e) => {
      const m = maps.get(e.key);
      if (!m || m.length !== e.perPatch * patches) throw new Error(`journal: batch ${i} lacks ${e.key} (${m?.length ?? 0} of ${e.perPatch * patches} values)`);
      return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    });
    await atomicWrite(this.file(i), Buffer.concat(parts));
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
