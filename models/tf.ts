/**
 * The one place that imports TensorFlow.js, so every module shares one engine instance
 * (the optional tfjs-node packages register their backends on this same core).
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor4D = tf.Tensor4D;

/**
 * An op with its own gradient (over tf.customGrad) whose backward pass streams. tfjs visits each
 * tape node once, after every consumer of its output, yet keeps every intermediate gradient until
 * the whole pass ends (gigabytes for a 1536 px U-Net). Here, once a node's input gradients are
 * computed, what it no longer needs goes: the incoming gradient, the saved tensors, and the
 * gradients its consumers returned for its output (where an output feeds several ops, tfjs sums
 * their contributions but releases only the running sum, never the last contribution).
 * `gradFunc` returns one gradient per input.
 */
export function customOp<T extends tf.Tensor>(
  f: (xs: tf.Tensor[], save: (ts: tf.Tensor[]) => void) => { value: T; gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] },
): (...xs: tf.Tensor[]) => T {
  type Func = Parameters<typeof tf.customGrad>[0];
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const xs = args as tf.Tensor[];
    const { value, gradFunc } = f(xs, save);
    return {
      value,
      gradFunc: (dy: T, saved: tf.Tensor[]) => {
        // tfjs runs gradient functions outside any tidy: their temporaries (a ReLU's mask, say)
        // would live until the whole pass ends
        const res = tf.tidy(() => gradFunc(dy, saved));
        const dxs = Array.isArray(res) ? res : [res];
        const contributions = xs.includes(value) ? [] : (returned.get(value) ?? []);
        // a tape walked once per backward rule (models/tape.ts) needs the saved tensors every time
        release(dxs, [dy, ...(savedRetained > 0 ? [] : saved), ...contributions]);
        returned.delete(value);
        xs.forEach((x, i) => {
          const list = returned.get(x);
          if (list) list.push(dxs[i]!);
          else returned.set(x, [dxs[i]!]);
        });
        return res;
      },
    };
  }) as unknown as Func);
  return (...xs: tf.Tensor[]) => op(...xs) as T;
}

/** While above 0, custom ops keep what they saved for later walks of the same tape (models/tape.ts). */
let savedRetained = 0;

/** Runs `f` with the custom ops' saved tensors kept through their backward passes (the tape's owner frees them). */
export function retainingSaved<T>(f: () => T): T {
  savedRetained++;
  try {
    return f();
  } finally {
    savedRetained--;
  }
}

/** Gradients returned for a tensor by the ops that consumed it (released once its producer is done). */
const returned = new WeakMap<tf.Tensor, tf.Tensor[]>();

/** A one-input `customOp`: `gradFunc` returns d(loss)/d(x) for the incoming d(loss)/d(value). */
export function customUnary<T extends tf.Tensor>(
  f: (x: T, save: (ts: tf.Tensor[]) => void) => { value: T; gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor },
): (x: T) => T {
  const op = customOp<T>((xs, save) => f(xs[0] as T, save));
  return (x: T) => op(x);
}

/** Disposes `ts` except `keep` (tensors share data by reference count: views of them stay valid). */
export function release(keep: tf.Tensor | tf.Tensor[], ts: tf.Tensor[]): void {
  const kept = new Set(Array.isArray(keep) ? keep : [keep]);
  for (const t of ts) if (!kept.has(t)) t.dispose();
}
