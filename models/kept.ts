/**
 * Tensors that outlive the tidy that made them. A tidy frees what it tracks even when its function
 * throws, but nothing frees what was kept (`tf.keep`) or made outside any tidy: an error between
 * making such a tensor and handing it on leaks it for the life of the process. Whatever an
 * operation keeps goes into one `KeptTensors`, disposed in a `finally` (`withKept`), so every
 * error path is covered by the same few lines instead of a try/catch per tensor.
 */
import { tf, type Tensor } from './tf.js';

/** A tensor, or anything owning tensors (a `LayerStart`). */
export interface Disposable {
  dispose(): void;
}

export class KeptTensors {
  private readonly held = new Set<Disposable>();

  /** `tf.keep(t)`, held: for tensors made inside a tidy that must outlive it. */
  keep<T extends Tensor>(t: T): T {
    this.held.add(tf.keep(t));
    return t;
  }

  /** Holds what was made outside any tidy (no tidy would free it either). */
  hold<T extends Disposable>(d: T): T {
    this.held.add(d);
    return d;
  }

  /** Hands `d` to the caller: `dispose()` leaves it alone. */
  release<T extends Disposable>(d: T): T {
    this.held.delete(d);
    return d;
  }

  /** `release` for every value of a map (results keyed by layer). */
  releaseAll<M extends ReadonlyMap<unknown, Disposable>>(m: M): M {
    for (const d of m.values()) this.held.delete(d);
    return m;
  }

  /** Disposes `d` now rather than at the end: large intermediates should not wait for the rest. */
  drop(d: Disposable): void {
    this.held.delete(d);
    d.dispose();
  }

  dispose(): void {
    for (const d of this.held) d.dispose();
    this.held.clear();
  }
}

/**
 * Runs `fn` with a fresh `KeptTensors` and disposes whatever `fn` did not `release`, however it
 * ends. On an error it also frees what tfjs itself kept for an aborted gradient (see
 * `releaseAbortedTape`). Synchronous on purpose: that clean-up is only sound while no other
 * gradient pass can start in between, i.e. without an `await`.
 */
export function withKept<T>(fn: (kept: KeptTensors) => T): T {
  const kept = new KeptTensors();
  try {
    return fn(kept);
  } catch (err) {
    releaseAbortedTape();
    throw err;
  } finally {
    kept.dispose();
  }
}

/**
 * tfjs keeps (`tf.keep(tf.clone(..))`) every tensor a gradient pass saves for its backward, and
 * disposes them only once the backward has run. When the forward throws (a bad target checked on
 * the output, a failing hook), the tape stays as it was and the next `tf.grads` drops it without
 * disposing: the saved tensors (hundreds for a forward-hook pass) leak. Outside any gradient
 * (depth 0) a tape still present can only be such a leftover.
 */
export function releaseAbortedTape(): void {
  const state = tf.engine().state;
  if (state.gradientDepth !== 0 || !state.activeTape) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null as unknown as typeof state.activeTape;
}
