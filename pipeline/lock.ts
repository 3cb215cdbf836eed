/**
 * One writer per results folder: `<dir>/.sds-lock` holds the writer's pid, host and start time. It
 * is taken atomically (written aside, then hard-linked into place: exclusive like O_EXCL, and never
 * seen half-written, NFS included) and released when the analysis closes, or at the latest when the
 * process exits. A second writer is refused with who holds it; a lock whose process is gone (a
 * crash, kill -9) is taken over. Queue chunk jobs share a planned journal on purpose: they do not
 * take the lock, they only refuse to write while someone holds it.
 */
import { readFileSync, rmSync } from 'node:fs';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SdsError } from '../core/errors.js';

export const LOCK_FILE = '.sds-lock';

interface Holder {
  pid: number;
  host: string;
  since: string;
}

export interface DirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Locks held by this process (path -> our content), released at exit if not before. */
const held = new Map<string, string>();
let exitHook = false;

function releaseAllSync(): void {
  for (const [path, content] of held) {
    try {
      if (readFileSync(path, 'utf8') === content) rmSync(path, { force: true });
    } catch {
      // gone already
    }
  }
  held.clear();
}

async function readHolder(path: string): Promise<{ holder?: Holder; content?: string; gone: boolean }> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch {
    return { gone: true };
  }
  try {
    const h = JSON.parse(content) as Partial<Holder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string') return { holder: { pid: h.pid, host: h.host, since: String(h.since ?? '?') }, content, gone: false };
  } catch {
    // not ours: taken over below
  }
  return { content, gone: false };
}

/** Whether the holder may still be writing: a live process on this host (not an earlier incarnation of ours), or any holder elsewhere. */
function alive(h: Holder, path: string): boolean {
  if (h.host !== hostname()) return true; // cannot tell from here
  if (h.pid === process.pid) return held.has(path); // a container restart reuses pids
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function busy(dir: string, h: Holder): SdsError {
  const where = h.host === hostname() ? '' : ` on ${h.host}`;
  return new SdsError('BAD_INPUT', `${dir} is being written by pid ${h.pid}${where} since ${h.since}; wait for it or stop it`, {
    suggestion: `if no sds process ${h.pid}${where} runs any more, remove ${join(dir, LOCK_FILE)}`,
    context: { dir, ...h },
  });
}

const tag = () => `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Takes `dir`'s lock for this process, or throws who holds it. */
export async function lockAnalysisDir(dir: string): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  const content = `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() } satisfies Holder)}\n`;
  for (let attempt = 0; attempt < 10; attempt++) {
    const tmp = `${path}.new-${tag()}`;
    await writeFile(tmp, content);
    try {
      await link(tmp, path);
      held.set(path, content);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', releaseAllSync);
      }
      return {
        path,
        release: async () => {
          if (held.get(path) !== content) return;
          held.delete(path);
          const now = await readHolder(path);
          if (now.content === content) await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    const found = await readHolder(path);
    if (found.gone) continue;
    if (found.holder && alive(found.holder, path)) throw busy(dir, found.holder);
    // stale (its process is gone) or unreadable: move it aside, then take the lock afresh
    const aside = `${path}.stale-${tag()}`;
    try {
      await rename(path, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = await readHolder(aside);
    if (moved.content !== found.content && moved.holder && alive(moved.holder, path)) {
      // a live lock was taken between our read and the move: put it back
      await link(aside, path).catch(() => undefined);
      await rm(aside, { force: true });
      throw busy(dir, moved.holder);
    }
    await rm(aside, { force: true });
  }
  throw new SdsError('BAD_INPUT', `could not lock ${dir}: other processes keep taking and leaving it`, { suggestion: 'run one analysis per results folder at a time' });
}

/** Throws when someone else holds `dir`'s lock (queue jobs that add to a planned journal). */
export async function assertUnlocked(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const found = await readHolder(path);
  if (found.holder && !held.has(path) && alive(found.holder, path)) throw busy(dir, found.holder);
}
