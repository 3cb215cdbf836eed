/**
 * Child process of hostile-harness.ts: loads each named case through loadWeights (the public
 * entry) and prints one JSON line before ("start") and after ("result") it. Run as
 * `node --expose-gc --import tsx test/support/hostile-runner.ts DIR ID...`.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { loadWeights } from '../../models/weights/load.js';
import { caseById } from './hostile-cases.js';

const [dir, ...ids] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;

/** Resident and peak-resident KiB (Linux: /proc, whose peak can be reset); elsewhere the process peak. */
function rssKiB(): { rss: number; hwm: number } {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)![1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)![1]) };
  } catch {
    return { rss: process.memoryUsage().rss / 1024, hwm: process.resourceUsage().maxRSS };
  }
}
function resetPeak(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux: the peak then covers the whole run, an upper bound
  }
}
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

for (const id of ids) {
  const c = caseById(id);
  const path = join(dir!, `${id}${c.ext}`);
  writeFileSync(path, c.build());
  if (c.sideEffect) rmSync(c.sideEffect, { force: true });
  gc?.();
  gc?.();
  resetPeak();
  const before = rssKiB();
  say({ start: id, rssKiB: before.rss });
  const t0 = performance.now();
  const result: Record<string, unknown> = { result: id };
  try {
    const w = await loadWeights(path);
    result.loaded = Object.fromEntries(
      [...w.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, head: Array.from(t.data.subarray(0, 8) as ArrayLike<number | bigint>, Number) }]),
    );
  } catch (err) {
    result.error = err instanceof SdsError ? 'SdsError' : (err as Error)?.constructor?.name ?? typeof err;
    if (err instanceof SdsError) {
      result.code = err.code;
      result.suggestion = err.suggestion;
    }
    result.message = String((err as Error)?.message ?? err).slice(0, 2000);
  }
  result.ms = Math.round(performance.now() - t0);
  result.peakMiB = Math.round((rssKiB().hwm - before.rss) / 1024);
  result.fileBytes = readFileSync(path).length;
  if (c.sideEffect) result.sideEffect = existsSync(c.sideEffect);
  rmSync(path, { force: true });
  say(result);
}
