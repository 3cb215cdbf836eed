/**
 * Time and memory of one call, for the hostile-file tests: wall time (with a deadline, so a hang fails the test
 * instead of stalling it) and the growth of this process's peak resident set during the call. On Linux the
 * peak (VmHWM) is reset to the current RSS before the call (`/proc/self/clear_refs` = 5), so the number is the
 * call's own peak, however briefly it held the memory; elsewhere the RSS is sampled every few ms.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection before each measurement, so memory still held by an earlier case's garbage neither
 * hides this case's allocation (freed and reused) nor counts against it. Best effort: no gc, no collection.
 */
const collect: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : () => undefined;
  } catch {
    return () => undefined;
  }
})();

export interface Bounded<T> {
  ok: boolean;
  value?: T;
  error?: unknown;
  ms: number;
  /** Peak RSS during the call minus RSS before it, MiB. */
  peakGrowthMB: number;
  /** How peakGrowthMB was measured. */
  method: 'VmHWM' | 'sampled';
}

const MB = 1024 * 1024;

function hwmKiB(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export class Timeout extends Error {
  constructor(ms: number) {
    super(`did not finish within ${ms} ms`);
    this.name = 'Timeout';
  }
}

/** Runs `fn`, resolving (never rejecting) with its outcome, time and peak memory growth; a Timeout error after `deadlineMs`. */
export async function measure<T>(fn: () => Promise<T>, deadlineMs = 5000): Promise<Bounded<T>> {
  collect();
  const before = process.memoryUsage().rss;
  const viaHwm = resetPeak() && hwmKiB() !== undefined;
  let sampledPeak = before;
  const sampler = viaHwm ? undefined : setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss)), 2);
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(deadlineMs)), deadlineMs);
  });
  let outcome: { ok: boolean; value?: T; error?: unknown };
  try {
    outcome = { ok: true, value: await Promise.race([fn(), deadline]) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    clearTimeout(timer);
    if (sampler) clearInterval(sampler);
  }
  const ms = performance.now() - t0;
  const peak = viaHwm ? hwmKiB()! * 1024 : Math.max(sampledPeak, process.memoryUsage().rss);
  return { ...outcome, ms, peakGrowthMB: Math.max(0, (peak - before) / MB), method: viaHwm ? 'VmHWM' : 'sampled' };
}
