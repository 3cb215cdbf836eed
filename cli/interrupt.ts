/**
 * SIGINT / SIGTERM / SIGHUP for the commands that write analyses (analyze, batch, start). The first
 * signal aborts `signal`: the analysis stops at its next batch, its finished batches stay
 * journalled, and the command ends with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)
 * and says what is saved and how to resume, so `sds analyze ... && next` does not go on. A second
 * signal exits at once (journalled batches are whole files: still safe).
 *
 * bin/sds.js forwards the signals its launcher process gets as 'sds:forwarded-signal' events. A
 * terminal's Ctrl-C reaches both processes, so the compute process sees it twice: once itself and
 * once forwarded. The two are counted apart and the larger count decides, so one Ctrl-C is one
 * interruption, whether it came from a terminal, `kill <launcher>` or `kill <compute process>`.
 */

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof SIGNALS)[number];

/** The shell's convention: 128 + the signal number. */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export interface Interruption {
  /** aborted by the first signal */
  readonly signal: AbortSignal;
  /** the first signal received, if any */
  readonly received: StopSignal | undefined;
  /** the exit status for the signal received (1 if none) */
  readonly exitCode: number;
  /** removes the handlers (kept once a signal was received: see dispose) */
  dispose(): void;
}

/**
 * Handles the stop signals until disposed. `stopping` says what happens now (printed at the first
 * signal), `exitNow` what is kept when a second signal exits at once.
 */
export function handleInterrupts(o: { stopping: string; exitNow: string }): Interruption {
  const controller = new AbortController();
  let received: StopSignal | undefined;
  let real = 0, forwarded = 0, level = 0;
  const on = (sig: StopSignal, fromLauncher: boolean) => {
    if (fromLauncher) forwarded++;
    else real++;
    const now = Math.max(real, forwarded);
    if (now === level) return; // the same interruption seen twice (terminal and launcher)
    level = now;
    if (level === 1) {
      received = sig;
      process.stderr.write(`\nsds: ${sig}: ${o.stopping}; ${sig} again to exit at once\n`);
      controller.abort(new Error(sig));
      return;
    }
    process.stderr.write(`\nsds: ${sig} again: exiting now; ${o.exitNow}\n`);
    process.exit(SIGNAL_EXIT_CODES[received ?? sig]);
  };
  const listeners = SIGNALS.map((sig) => [sig, () => on(sig, false)] as const);
  for (const [sig, f] of listeners) process.on(sig, f);
  const fromLauncher = (sig: unknown) => {
    if (SIGNALS.includes(sig as StopSignal)) on(sig as StopSignal, true);
  };
  process.on('sds:forwarded-signal', fromLauncher);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    get exitCode() {
      return received ? SIGNAL_EXIT_CODES[received] : 1;
    },
    dispose() {
      // After an interruption the command is ending, and the second copy of that Ctrl-C (terminal
      // and launcher both deliver it) may still be on its way: without handlers it would kill this
      // process by the signal's default action and turn a clean stop into a signal death. The
      // handlers stay; they only absorb that copy, or exit at once on a genuine second signal, and
      // do not keep the process alive.
      if (received) return;
      for (const [sig, f] of listeners) process.off(sig, f);
      process.off('sds:forwarded-signal', fromLauncher);
    },
  };
}
