/**
 * Whether a results folder already holds the analysis asked for. The manifest records the analysis
 * spec and the weights' identity (contracts/manifest.ts `analysis`); a rerun with the same spec is
 * "done earlier", one with another spec must not be taken for it (nor silently overwrite it):
 * `batch` and `analyze` refuse with what differs, the server's re-analysis replaces it.
 * Manifests written before the record existed are compared on what they show (overlays, patches).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SdsError } from '../core/errors.js';
import { MANIFEST_FILE, manifestSchema, parseAnalysisSpec, pickAnalysisSpec, type AnalysisRecord, type AnalysisSpec, type AnalysisSpecInput, type Manifest, type ModelSpec } from '../contracts/index.js';
import { modelIdentity } from '../models/index.js';
import { readRoi, roiIdentity } from '../slide/roi.js';

function absoluteModel(m: ModelSpec): ModelSpec {
  return m.kind === 'file' ? { ...m, weights: resolve(m.weights) } : m;
}

/** The manifest's record of an analysis: its spec with absolute paths, and the weights' identity. */
export async function analysisRecord(input: AnalysisSpecInput & Record<string, unknown>): Promise<AnalysisRecord> {
  const spec = parseAnalysisSpec(pickAnalysisSpec(input));
  const model = absoluteModel(spec.model);
  const roi = spec.roi ? { roi: resolve(spec.roi), roiIdentity: await readRoi(resolve(spec.roi)).then(roiIdentity, () => 'unreadable') } : {};
  return { ...spec, model, ...(spec.surrogate ? { surrogate: resolve(spec.surrogate) } : {}), ...roi, modelIdentity: await modelIdentity(model).catch(() => 'unreadable') };
}

export type ExistingAnalysis = { state: 'none' } | { state: 'same'; manifest: Manifest } | { state: 'different'; manifest: Manifest; differences: string[] };

const list = (v: readonly string[]) => v.join(',');
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
const show = (v: unknown) => (v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v));
const describeModel = (m: ModelSpec) => (m.kind === 'file' ? `${m.weights}${m.arch ? ` (${m.arch})` : ''}` : `random:${m.arch}${m.classes !== 2 || m.seed !== 0 ? ` (${m.classes} classes, seed ${m.seed})` : ''}`);

function sameModel(a: ModelSpec, b: ModelSpec): boolean {
  if (a.kind === 'file' && b.kind === 'file') return a.weights === b.weights && a.arch === b.arch;
  if (a.kind === 'random' && b.kind === 'random') return a.arch === b.arch && a.classes === b.classes && a.seed === b.seed;
  return false;
}

/** "field: X there, Y asked" for each setting that changes the results (batch size does not). */
function differences(had: AnalysisRecord, want: AnalysisRecord): string[] {
  const out: string[] = [];
  const diff = (field: string, a: unknown, b: unknown) => out.push(`${field}: ${show(a)} there, ${show(b)} asked`);
  if (!sameModel(had.model, want.model)) diff('weights', describeModel(had.model), describeModel(want.model));
  else if (had.modelIdentity !== want.modelIdentity) out.push(`weights: ${describeModel(want.model)} changed since (size or modification time)`);
  if (had.surrogate !== want.surrogate) diff('surrogate', had.surrogate, want.surrogate);
  for (const f of ['layers', 'methods', 'variants'] as const) if (!sameSet(had[f], want[f])) diff(f, list(had[f]), list(want[f]));
  for (const f of ['patch', 'level', 'mpp', 'overlap', 'minTissue', 'target', 'outputs'] as const) if (had[f] !== want[f]) diff(f, had[f], want[f]);
  if ((had.methods.includes('ig') || want.methods.includes('ig')) && had.steps !== want.steps) diff('steps', had.steps, want.steps);
  // the regions decide, not the file's name: a copy elsewhere is the same ROI, an edited file is not
  if (had.roiIdentity !== want.roiIdentity) {
    if (had.roi !== undefined && had.roi === want.roi) out.push(`roi: ${want.roi} changed since (other regions)`);
    else diff('roi', had.roi, want.roi);
  }
  return out;
}

/** Manifests without the record: what their overlays and patch settings show. */
function legacyDifferences(m: Manifest, want: AnalysisSpec): string[] {
  const out: string[] = [];
  const uniq = (f: (o: Manifest['overlays'][number]) => string) => [...new Set(m.overlays.map(f))];
  const diff = (field: string, a: unknown, b: unknown) => out.push(`${field}: ${show(a)} there, ${show(b)} asked`);
  for (const [field, had] of [['layers', uniq((o) => o.layer)], ['methods', uniq((o) => o.method)], ['variants', uniq((o) => o.variant)]] as const) if (!sameSet(had, want[field])) diff(field, list(had), list(want[field]));
  if (m.patches.size !== want.patch) diff('patch', m.patches.size, want.patch);
  if (m.patches.overlap !== want.overlap) diff('overlap', m.patches.overlap, want.overlap);
  if (want.mpp === undefined && m.patches.level !== want.level) diff('level', m.patches.level, want.level);
  if (!!m.outputs?.length !== want.outputs) diff('outputs', !!m.outputs?.length, want.outputs);
  if (want.roi !== undefined) diff('roi', undefined, want.roi); // written before ROIs existed: made without one
  return out;
}

/** What `dir` holds compared with the analysis asked for: nothing finished, the same, or another. */
export async function existingAnalysis(dir: string, input: AnalysisSpecInput & Record<string, unknown>): Promise<ExistingAnalysis> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    return { state: 'none' };
  }
  let manifest: Manifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(text));
  } catch {
    return { state: 'none' }; // not a manifest of ours: nothing finished to keep or to vouch for
  }
  const d = manifest.analysis ? differences(manifest.analysis, await analysisRecord(input)) : legacyDifferences(manifest, parseAnalysisSpec(pickAnalysisSpec(input)));
  return d.length ? { state: 'different', manifest, differences: d } : { state: 'same', manifest };
}

/** The refusal of a rerun with other settings into a finished analysis's folder. */
export function otherAnalysisError(dir: string, differences: string[]): SdsError {
  return new SdsError('BAD_INPUT', `${dir} holds a finished analysis made with other settings (${differences.join('; ')})`, {
    suggestion: `give another --out for these settings, or remove ${dir} to analyse the slide again`,
    context: { dir, differences },
  });
}

/** Throws otherAnalysisError when `dir` holds a finished analysis of another spec. */
export async function refuseOtherAnalysis(dir: string, input: AnalysisSpecInput & Record<string, unknown>): Promise<void> {
  const e = await existingAnalysis(dir, input);
  if (e.state === 'different') throw otherAnalysisError(dir, e.differences);
}
