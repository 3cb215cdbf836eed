/**
 * What both exports share: an overlay named by its key (`variant/method/layer`, the model's outputs
 * `model/output/<class>` included), and the output-file policy: an existing file is kept unless
 * the caller forces (an export is cheap to redo, a user's file is not), and the folder must exist
 * (a typo in a path should not create a tree of folders). A caller may stop an export (`signal`,
 * checked between tiles or patches): it throws ABORTED and the writers remove their partial file.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SdsError } from '../core/errors.js';
import { overlayKey, parseOverlayKey, type Manifest, type OverlayEntry } from '../contracts/index.js';
import { allOverlays } from './export-patches.js';

export function overlayByKey(m: Manifest, key: string): OverlayEntry {
  const all = allOverlays(m);
  const id = parseOverlayKey(key);
  const found = id && all.find((o) => o.variant === id.variant && o.method === id.method && o.layer === id.layer);
  if (!found) {
    throw new SdsError('BAD_ARGUMENT', `the analysis has no overlay "${key}"${id ? '' : ' (an overlay is variant/method/layer)'}`, {
      suggestion: `choose one of: ${all.map((o) => overlayKey(o)).join(', ')}`,
    });
  }
  return found;
}

/** Refuses an existing `path` (unless `force`) and a missing parent folder. */
export async function checkOutputPath(path: string, force: boolean): Promise<void> {
  const s = await stat(path).catch(() => undefined);
  if (s?.isDirectory()) throw new SdsError('BAD_ARGUMENT', `${path} is a folder`, { suggestion: 'give a file name' });
  if (s && !force) throw new SdsError('BAD_ARGUMENT', `${path} exists`, { suggestion: 'choose another name, or add --force to replace it' });
  const parent = await stat(dirname(path)).catch(() => undefined);
  if (!parent?.isDirectory()) throw new SdsError('FILE_NOT_FOUND', `the folder ${dirname(path)} does not exist`, { suggestion: 'create it first, or write elsewhere' });
}

/** Throws ABORTED when `signal` has been aborted (checked between an export's tiles or patches). */
export function checkExportAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SdsError('ABORTED', 'export cancelled; its partial file was removed');
}
