/**
 * The `npm start` classifier workload, timed as a user runs it: `sds analyze` of the sample slide
 * with the demo tumour classifier at every block, grad and DeepLift, three variants (original,
 * backward-hook, surrogate), in a child process that reports patches/s. With a baseline revision
 * the same command runs from a git worktree of that revision in the same bench run, and the two
 * analyses' float stores are compared byte for byte: a faster pipeline must give the same maps.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SdsError } from '../core/errors.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The workload's settings, pinned (not the defaults of either revision, which may differ). */
export const DEMO_WORKLOAD = {
  slide: 'slides-sample/sample.svs',
  weights: 'models-demo/tumour-resnet18.safetensors',
  surrogate: 'models-demo/tumour-resnet18.surrogate.safetensors',
  layers: '1_0,1_1,2_0,2_1,3_0,3_1,4_0,4_1',
  methods: 'grad,deeplift',
  variants: 'original,backward-hook,surrogate',
  patch: 256,
  overlap: 0,
} as const;

export interface DemoWorkloadRow {
  /** 'this tree' or the baseline revision */
  label: string;
  patches: number;
  seconds: number;
  patchesPerSecond: number;
  maxRssMb: number;
}

export interface DemoWorkloadResult {
  rows: DemoWorkloadRow[];
  /** with a baseline: store files compared and those that differ */
  compared?: number;
  differing?: string[];
}

async function analyze(root: string, out: string, workers: number): Promise<DemoWorkloadRow & { dir: string }> {
  const w = DEMO_WORKLOAD;
  const stats = join(out, 'stats.json');
  await run(process.execPath, [join(root, 'bin/sds.js'), 'analyze', join(ROOT, w.slide), '--weights', join(ROOT, w.weights), '--surrogate', join(ROOT, w.surrogate), '--layers', w.layers, '--methods', w.methods, '--variants', w.variants, '--patch', String(w.patch), '--overlap', String(w.overlap), '--workers', String(workers), '--out', out, '--stats-json', stats], { maxBuffer: 64 << 20, cwd: root });
  const s = JSON.parse(await readFile(stats, 'utf8')) as { patches: number; seconds: number; patchesPerSecond: number; maxRssMb: number };
  return { label: '', dir: join(out, 'sample'), ...s };
}

/** Every file under the analyses' overlay stores (OME-Zarr chunks and metadata), relative paths. */
async function storeFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (p.includes('.zarr')) out.push(relative(dir, p));
    }
  };
  await walk(join(dir, 'overlays'));
  return out.sort();
}

/**
 * Runs the workload from this tree, and first from `baseline` (a git revision) when given; compares
 * the float stores. `onStage` reports what runs (each run takes minutes on 2 cores).
 */
export async function benchDemoWorkload(workers: number, baseline: string | undefined, onStage?: (what: string) => void): Promise<DemoWorkloadResult> {
  for (const f of [DEMO_WORKLOAD.slide, DEMO_WORKLOAD.weights, DEMO_WORKLOAD.surrogate]) {
    if (!existsSync(join(ROOT, f))) throw new SdsError('FILE_NOT_FOUND', `the demo workload needs ${f}`, { suggestion: f.endsWith('.svs') ? 'run npm start once (it makes the sample slide), or sds sample' : 'the demo weights ship with the repository: restore models-demo/' });
  }
  const tmp = await mkdtemp(join(tmpdir(), 'sds-bench-demo-'));
  const worktree = join(tmp, 'baseline');
  const rows: DemoWorkloadRow[] = [];
  try {
    let base: (DemoWorkloadRow & { dir: string }) | undefined;
    if (baseline) {
      onStage?.(`checking out ${baseline} in a git worktree`);
      try {
        await run('git', ['-C', ROOT, 'worktree', 'add', '--detach', worktree, baseline]);
      } catch (cause) {
        throw new SdsError('BAD_ARGUMENT', `--baseline ${baseline}: not a revision of this repository's git history`, { cause, suggestion: 'give a commit, tag or branch (git log --oneline), or leave --baseline out' });
      }
      await symlink(join(ROOT, 'node_modules'), join(worktree, 'node_modules'), 'dir');
      onStage?.(`analysing the sample with ${baseline}`);
      base = await analyze(worktree, join(tmp, 'out-baseline'), workers);
      rows.push({ ...base, label: baseline });
    }
    onStage?.('analysing the sample with this tree');
    const now = await analyze(ROOT, join(tmp, 'out-now'), workers);
    rows.push({ ...now, label: 'this tree' });
    if (!base) return { rows };
    const files = await storeFiles(now.dir);
    const old = new Set(await storeFiles(base.dir));
    const differing: string[] = [];
    for (const f of files) {
      if (!old.delete(f)) differing.push(`${f} (only in this tree)`);
      else if (!(await readFile(join(now.dir, f))).equals(await readFile(join(base.dir, f)))) differing.push(f);
    }
    for (const f of old) differing.push(`${f} (only in ${baseline})`);
    return { rows, compared: files.length, differing };
  } finally {
    if (baseline && existsSync(worktree)) await run('git', ['-C', ROOT, 'worktree', 'remove', '--force', worktree]).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}
