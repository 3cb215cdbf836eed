/** `node bin/sds.js ...` as a child process whose output can be waited on (the CLI's own tests). */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SDS = fileURLToPath(new URL('../../bin/sds.js', import.meta.url));

export interface CliProcess {
  p: ChildProcess;
  /** stdout and stderr so far, interleaved */
  log(): string;
  stdout(): string;
  stderr(): string;
  /** resolves with the first match of `re` in the output */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** the exit code, or 128 + n for a death by signal n */
  exited: Promise<number>;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Runs the launcher (bin/sds.js re-execs itself: two processes, as users run it). */
export function sds(args: string[], o: SpawnOptions & { env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const p = spawn(process.execPath, [SDS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...o, env: { ...process.env, SDS_BACKEND: 'wasm', ...o.env } });
  let all = '', out = '', err = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = all.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  p.stdout!.on('data', (b: Buffer) => ((all += b), (out += b), check()));
  p.stderr!.on('data', (b: Buffer) => ((all += b), (err += b), check()));
  const exited = new Promise<number>((r) => p.once('exit', (code, signal) => r(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0))));
  return {
    p,
    log: () => all,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (re, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const m = all.match(re);
        if (m) return resolve(m);
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${all}`)), ms);
        waiters.push({ re, resolve: (x) => (clearTimeout(t), resolve(x)) });
        void exited.then((code) => reject(new Error(`sds exited (${code}) before ${re}:\n${all}`)));
      }),
  };
}

/** Runs to the end. */
export async function sdsRun(args: string[], o: SpawnOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = sds(args, o);
  const code = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** Whether a process runs. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
