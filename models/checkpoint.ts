/**
 * Gradient checkpointing: runs `f` without keeping its intermediate tensors for the backward pass
 * (only its inputs are saved), and recomputes them when the gradient arrives. A U-Net decoder at
 * 1536 px holds gigabytes of activations on the tape; a WASM instance has 4 GiB in all.
 */
import { tf, type Tensor4D } from './tf.js';

export function checkpoint(f: (...xs: Tensor4D[]) => Tensor4D, inputs: Tensor4D[]): Tensor4D {
  type Func = Parameters<typeof tf.customGrad>[0];
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const xs = args as Tensor4D[];
    save(xs);
    const value = f(...xs);
    return {
      value,
      // the recomputed intermediates go with the tidy as the forward pass's did (the tape keeps
      // what the backward pass needs)
      gradFunc: (dy: Tensor4D, saved: Tensor4D[]) => recompute(() => tf.grads((...s: tf.Tensor[]) => tf.tidy(() => f(...(s as Tensor4D[]))))(saved, dy)),
    };
  }) as unknown as Func);
  return op(...inputs) as Tensor4D;
}

interface EngineState {
  state: { activeTape: unknown };
}

/**
 * A gradient taken inside another one's backward pass. tfjs's inner `gradients()` replaces and
 * then clears the engine's active tape, which the outer pass still has to clean up afterwards:
 * keep it aside and put it back.
 */
function recompute<T>(fn: () => T): T {
  const engine = tf.engine() as unknown as EngineState;
  const outer = engine.state.activeTape;
  try {
    return fn();
  } finally {
    engine.state.activeTape = outer;
  }
}

/**
 * Blocks whose input has at least this many values (batch x height x width x channels) are
 * checkpointed: a 1536 px U-Net would otherwise need more than a WASM instance's 4 GiB.
 */
let checkpointValues = 2 ** 22;

/** For tests: checkpoint every block (0) or none (Infinity). Returns the previous value. */
export function setCheckpointValues(values: number): number {
  const old = checkpointValues;
  checkpointValues = values;
  return old;
}

/** Runs a block checkpointed when its inputs are large, else in its own tidy. */
export function block(f: (...xs: Tensor4D[]) => Tensor4D, inputs: Tensor4D[]): Tensor4D {
  const size = inputs.reduce((s, t) => s + t.size, 0);
  return size >= checkpointValues ? checkpoint(f, inputs) : tf.tidy(() => f(...inputs));
}
