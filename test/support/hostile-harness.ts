/**
 * Runs hostile cases in a child process (hostile-runner.ts) and watches it from outside: a case
 * that runs past `timeoutS` or whose resident memory grows past `killMiB` is killed and reported
 * as such, and the remaining cases go on in a fresh child.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CaseResult {
  id: string;
  ms: number;
  /** Peak resident memory during the case minus resident memory before it, MiB. */
  peakMiB: number;
  fileBytes?: number;
  /** 'SdsError' or the class of whatever else was thrown; absent when the file loaded. */
  error?: string;
  code?: string;
  message?: string;
  suggestion?: string;
  loaded?: Record<string, { dtype: string; shape: number[]; head: number[] }>;
  sideEffect?: boolean;
  /** Why the watcher killed the case (time or memory), or how the child died. */
  killed?: string;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = fileURLToPath(new URL('./hostile-runner.ts', import.meta.url));

function vmRssKiB(pid: number): number | undefined {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  } catch {
    return undefined;
  }
}

export async function runHostileCases(ids: string[], opts: { timeoutS: number; killMiB: number }): Promise<Map<string, CaseResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'sds-hostile-'));
  const results = new Map<string, CaseResult>();
  try {
    let rest = [...ids];
    while (rest.length) {
      await new Promise<void>((resolve) => {
        const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', RUNNER, dir, ...rest], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let current: { id: string; t0: number; rss0: number; peak: number } | undefined;
        let killed: string | undefined;
        let stderr = '';
        let buf = '';
        const timer = setInterval(() => {
          if (!current || killed) return;
          const rss = vmRssKiB(child.pid!);
          if (rss !== undefined) current.peak = Math.max(current.peak, rss);
          const grownMiB = (current.peak - current.rss0) / 1024;
          const s = (performance.now() - current.t0) / 1000;
          if (grownMiB > opts.killMiB) killed = `killed: resident memory grew by ${Math.round(grownMiB)} MiB after ${s.toFixed(1)} s`;
          else if (s > opts.timeoutS) killed = `killed: still running after ${opts.timeoutS} s (memory +${Math.round(grownMiB)} MiB)`;
          if (killed) child.kill('SIGKILL');
        }, 20);
        child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            let msg: { start?: string; result?: string; rssKiB?: number } & Partial<CaseResult>;
            try {
              msg = JSON.parse(line);
            } catch {
              continue;
            }
            if (msg.start) current = { id: msg.start, t0: performance.now(), rss0: msg.rssKiB!, peak: msg.rssKiB! };
            else if (msg.result) {
              const { result: id, ...r } = msg;
              results.set(id, { id, ...(r as Omit<CaseResult, 'id'>) });
              rest = rest.filter((x) => x !== id);
              current = undefined;
            }
          }
        });
        child.on('exit', (code, signal) => {
          clearInterval(timer);
          if (current) {
            results.set(current.id, {
              id: current.id,
              ms: Math.round(performance.now() - current.t0),
              peakMiB: Math.round((current.peak - current.rss0) / 1024),
              killed: killed ?? `child died (${signal ?? `exit ${code}`}): ${stderr.slice(-600)}`,
            });
            rest = rest.filter((x) => x !== current!.id);
          } else if (rest.length && code !== 0) {
            // died outside a case (a build or import error): report it on every case left
            for (const id of rest) results.set(id, { id, ms: 0, peakMiB: 0, killed: `runner failed (${signal ?? `exit ${code}`}): ${stderr.slice(-600)}` });
            rest = [];
          }
          resolve();
        });
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
