/**
 * Containment checks on real paths: a file is served or opened only when its realpath (symlinks
 * resolved) lies inside the realpath of the folder it was found in.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';

/** True when `child` is `root` or below it (both already real, absolute paths). */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

/**
 * The realpath of `path` when it exists, is a regular file and lies inside `rootReal`; else undefined.
 * Only metadata is touched (realpath, stat): nothing is opened, so a refused file is never read.
 */
export async function regularFileInside(rootReal: string, path: string): Promise<{ real: string; size: number; mtimeMs: number; ino: number; dev: number } | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return undefined;
  }
  if (!isInside(rootReal, real)) return undefined;
  try {
    const s = await stat(real);
    return s.isFile() ? { real, size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, dev: s.dev } : undefined;
  } catch {
    return undefined;
  }
}

/** realpath, or undefined when the path does not exist. */
export async function realOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch {
    return undefined;
  }
}
