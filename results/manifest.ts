/** A finished analysis's manifest, read and checked against the contract (contracts/manifest.ts). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SdsError } from '../core/errors.js';
import { describeIssues, MANIFEST_FILE, manifestSchema, type Manifest, type OverlayEntry } from '../contracts/index.js';

export async function readManifest(analysisDir: string): Promise<Manifest> {
  const path = join(analysisDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new SdsError('FILE_NOT_FOUND', `${analysisDir} has no ${MANIFEST_FILE}`, { cause, suggestion: 'point at a folder written by `sds analyze` (DIR/<slide name>); an analysis without a manifest did not finish' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SdsError('BAD_INPUT', `${path} is not JSON`, { cause, suggestion: 'run the analysis again' });
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) throw new SdsError('BAD_INPUT', `${describeIssues(r.error, path)} (not an sds analysis manifest, version 1)`, { suggestion: 'run the analysis again' });
  return r.data;
}

/** The manifest's overlay for (variant, method, layer), or an error listing the ones there are. */
export function findOverlay(m: Manifest, variant: string, method: string, layer: string): OverlayEntry {
  const o = m.overlays.find((x) => x.variant === variant && x.method === method && x.layer === layer);
  if (!o) {
    throw new SdsError('BAD_ARGUMENT', `the analysis has no overlay ${variant} ${method} ${layer}`, {
      suggestion: `choose one of: ${m.overlays.map((x) => `--variant ${x.variant} --method ${x.method} --layer ${x.layer}`).join('; ')}`,
    });
  }
  return o;
}
