/**
 * Which folder holds a slide's results, and what a results folder holds now. The rule, one function
 * for everyone (pipeline, both queues, the server's jobs, `sds start`'s cache):
 *
 *   `<out>/<stem>/` unless that folder belongs to another slide, then `<out>/<stem>-<hash>/`
 *   (hash: 8 hex digits of the SHA-1 of the slide's real path).
 *
 * A folder records its slide from the moment it exists: `.sds-slide.json` (the slide's absolute and
 * real path) is made in a temporary folder that is then renamed into place, so nobody ever sees a
 * results folder without its owner. Folders written before the record existed belong to the slide
 * their manifest (`slide.path`) or journal plan names; one with neither belongs to nobody and is
 * taken by the first slide that asks. `analysisDir` only looks (the same answer for the same folder
 * state); `claimAnalysisDir` looks and takes.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { SdsError } from '../core/errors.js';
import { MANIFEST_FILE } from '../contracts/index.js';

/** The record of the slide a results folder belongs to. */
export const SLIDE_RECORD = '.sds-slide.json';

export interface SlideRecord {
  /** absolute path as given */
  path: string;
  /** the same with symbolic links resolved (two links to one file are one slide) */
  realPath: string;
}

function realPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Short hash of the slide's real path: the folder suffix when the plain name is taken. */
export function slideHash(slide: string): string {
  return createHash('sha1').update(realPath(slide)).digest('hex').slice(0, 8);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The slide paths a folder says it belongs to: its record, else (older folders) its manifest or journal plan. */
function recordedSlide(dir: string): string[] | undefined {
  const record = readJson(join(dir, SLIDE_RECORD)) as Partial<SlideRecord> | undefined;
  const paths = [record?.realPath, record?.path].filter((p): p is string => typeof p === 'string');
  if (paths.length) return paths;
  const manifest = readJson(join(dir, MANIFEST_FILE)) as { slide?: { path?: unknown } } | undefined;
  if (typeof manifest?.slide?.path === 'string') return [manifest.slide.path];
  const plan = readJson(join(dir, '.journal', 'plan.json')) as { slide?: unknown[] } | undefined;
  if (Array.isArray(plan?.slide) && typeof plan.slide[0] === 'string') return [plan.slide[0]];
  return undefined;
}

type Owner = 'absent' | 'mine' | 'other' | 'nobody';

function ownerOf(dir: string, slide: string): Owner {
  if (!existsSync(dir)) return 'absent';
  const recorded = recordedSlide(dir);
  if (!recorded) return 'nobody';
  // the path as given or the real one: machines that mount the slides differently still agree
  const given = resolve(slide), real = realPath(slide);
  return recorded.some((r) => r === given || r === real || realPath(r) === real) ? 'mine' : 'other';
}

function candidates(out: string, slide: string): string[] {
  const stem = basename(slide, extname(slide));
  return [join(out, stem), join(out, `${stem}-${slideHash(slide)}`)];
}

/**
 * The slide's results folder under `out` as the folders stand now: `<out>/<stem>/` unless that
 * belongs to another slide, then `<out>/<stem>-<hash>/`. Creates nothing (see claimAnalysisDir).
 */
export function analysisDir(out: string, slide: string): string {
  const [plain, hashed] = candidates(out, slide) as [string, string];
  return ownerOf(plain, slide) === 'other' ? hashed : plain;
}

function record(slide: string): string {
  // no time stamp: equal analyses are equal byte for byte, whichever machine made them
  const r: SlideRecord = { path: resolve(slide), realPath: realPath(slide) };
  return `${JSON.stringify(r, null, 1)}\n`;
}

/**
 * Finds the slide's results folder and makes it the slide's (the folder appears with its record,
 * atomically); returns it. Two slides claiming one name at once get one folder each.
 */
export async function claimAnalysisDir(out: string, slide: string): Promise<string> {
  const all = candidates(out, slide);
  for (const dir of all) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const owner = ownerOf(dir, slide);
      if (owner === 'mine') return dir;
      if (owner === 'other') break;
      if (owner === 'nobody') {
        // an older folder without a record: add one, unless someone else does first
        const tmp = join(dir, `${SLIDE_RECORD}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
        await writeFile(tmp, record(slide));
        try {
          await link(tmp, join(dir, SLIDE_RECORD));
          return dir;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        } finally {
          await rm(tmp, { force: true });
        }
        continue;
      }
      // absent: a new folder holding its record, renamed into place (fails if someone made it first)
      await mkdir(out, { recursive: true });
      // (mkdir, not mkdtemp: the folder gets the umask's mode, for workers running as other users)
      const tmp = join(out, `.${basename(dir)}.new-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
      await mkdir(tmp);
      try {
        await writeFile(join(tmp, SLIDE_RECORD), record(slide));
        await rename(tmp, dir);
        return dir;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
  }
  throw new SdsError('BAD_INPUT', `no results folder for ${slide} in ${out}: ${all.join(' and ')} belong to other slides`, {
    suggestion: 'give another --out for this slide',
  });
}

/** How many patch batches the folder's journal holds (what an interrupted analysis keeps). */
export function journalledBatches(dir: string): number {
  try {
    return readdirSync(join(dir, '.journal')).filter((f) => /^batch-\d+\.f32$/.test(f)).length;
  } catch {
    return 0;
  }
}
