/**
 * One Ctrl-C reaches the compute process twice (the terminal's signal and the launcher's forwarded
 * message, in either order). The copy that arrives after the command has finished and disposed its
 * handlers must still be absorbed: CI once saw `sds serve` die of SIGINT (exit null) that way.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handleInterrupts } from '../../cli/interrupt.js';

/** the handler handleInterrupts added for `sig` (the last one), called as a real signal would */
function deliverReal(sig: 'SIGINT' | 'SIGTERM'): void {
  const ls = process.listeners(sig);
  (ls[ls.length - 1] as () => void)();
}

describe('handleInterrupts', () => {
  afterEach(() => vi.restoreAllMocks());

  it('absorbs the late forwarded copy of the first Ctrl-C after dispose, and still exits on a genuine second one', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation(() => undefined as never);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const before = process.listenerCount('SIGINT');
    const stop = handleInterrupts({ stopping: 'stopping', exitNow: 'kept' });
    deliverReal('SIGINT');
    expect(stop.signal.aborted).toBe(true);
    expect(stop.received).toBe('SIGINT');
    stop.dispose();
    // the launcher's copy of the same Ctrl-C, after dispose: a listener is there and does not exit
    expect(process.listenerCount('sds:forwarded-signal')).toBeGreaterThan(0);
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    process.emit('sds:forwarded-signal' as 'SIGINT', 'SIGINT');
    expect(exit).not.toHaveBeenCalled();
    // a second Ctrl-C (both copies) is a second interruption: exit at once with 130
    deliverReal('SIGINT');
    expect(exit).toHaveBeenCalledWith(130);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/SIGINT again: exiting now; kept/);
    // this test's handlers must not outlive it
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.listeners(sig).slice(before).forEach((f) => process.off(sig, f as () => void));
    process.removeAllListeners('sds:forwarded-signal');
  });

  it('removes its handlers on dispose when no signal came', () => {
    const before = process.listenerCount('SIGTERM');
    const stop = handleInterrupts({ stopping: 'stopping', exitNow: 'kept' });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    stop.dispose();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('sds:forwarded-signal')).toBe(0);
    expect(stop.exitCode).toBe(1);
  });
});
