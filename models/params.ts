import { SdsError } from '../core/errors.js';
import { forgetRotations } from './conv-gradients.js';
import { tf, type Tensor, type Tensor4D } from './tf.js';
import { isFloatDType, numel, type StateDict } from './weights/types.js';

/** Values for a parameter by name and PyTorch shape. */
export type ParamInit = (key: string, shape: readonly number[]) => Float32Array;

const IGNORED = /(^|\.)num_batches_tracked$/;
const LIST = 12;

function list(items: string[]): string {
  return items.length <= LIST ? items.join(', ') : `${items.slice(0, LIST).join(', ')} and ${items.length - LIST} more`;
}

/**
 * Shapes the architecture derives for keys a model reads its widths from (`shapeOf`): the stored
 * shape is used when it agrees, else this one (null: the model's default), so one tensor with
 * swapped dimensions is reported as itself, not as a cascade of "wrong shapes" sized from it.
 */
export type ShapeHints = ReadonlyMap<string, readonly number[] | null>;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const sorted = (a: readonly number[]) => [...a].sort((x, y) => x - y);

/**
 * Hands a model its parameters by PyTorch name and shape, and collects every problem
 * (missing, wrong dtype, wrong shape, unexpected) so the user sees them all in one error.
 * Owns the tensors it creates: `dispose()` frees the whole model.
 */
export class ParamBinder {
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  private readonly wrongDtype: string[] = [];
  private readonly wrongShape: string[] = [];
  readonly tensors: Tensor[] = [];

  constructor(
    private readonly sd: StateDict,
    private readonly source: string,
    private readonly arch: string,
    /** Fills parameters the state_dict lacks (random models); without it they are errors. */
    private readonly init?: ParamInit,
    /** Architecture-derived shapes for the keys models read widths from (see ShapeHints). */
    private readonly hints?: ShapeHints,
  ) {}

  /** Values of `key` (PyTorch layout), or zeros while recording the problem. */
  take(key: string, shape: readonly number[]): Float32Array {
    const t = this.sd.get(key);
    this.used.add(key);
    if (!t) {
      if (this.init) return this.init(key, shape);
      this.missing.push(key);
      return new Float32Array(numel(shape));
    }
    const floats = isFloatDType(t.dtype);
    const fits = sameShape(t.shape, shape);
    // An integer tensor is a dtype problem even when its shape fits: say so, not "wrong shape".
    if (!floats) this.wrongDtype.push(`${key} is ${t.dtype} (integers), weights must be floating point`);
    if (!fits) {
      const permuted = t.shape.length === shape.length && sameShape(sorted(t.shape), sorted(shape));
      const hint = permuted ? ' (the same sizes in another order: a transposed tensor, or another layout such as TensorFlow\'s?)' : '';
      this.wrongShape.push(`${key} is ${t.dtype}[${t.shape.join(',')}], expected [${shape.join(',')}]${hint}`);
    }
    if (!floats || !fits) return new Float32Array(numel(shape));
    return t.data as Float32Array;
  }

  has(key: string): boolean {
    return this.sd.has(key);
  }

  /**
   * The shape of `key` as the architecture reads it, if present: lets a model read its widths from
   * the weights. A stored shape that contradicts the architecture gives way to the derived one.
   */
  shapeOf(key: string): readonly number[] | undefined {
    if (this.hints?.has(key)) return this.hints.get(key) ?? undefined;
    return this.sd.get(key)?.shape;
  }

  /** Registers a tensor the model owns. */
  own<T extends Tensor>(t: T): T {
    this.tensors.push(t);
    return t;
  }

  /** Throws WEIGHTS_MISMATCH listing everything wrong; frees the model's tensors first. */
  finish(): void {
    const unexpected = [...this.sd.keys()].filter((k) => !this.used.has(k) && !IGNORED.test(k));
    if (!this.missing.length && !this.wrongDtype.length && !this.wrongShape.length && !unexpected.length) return;
    this.dispose();
    const parts: string[] = [];
    if (this.missing.length) parts.push(`missing ${this.missing.length} keys: ${list(this.missing)}`);
    if (this.wrongDtype.length) parts.push(`wrong dtype: ${list(this.wrongDtype)}`);
    if (this.wrongShape.length) parts.push(`wrong shape: ${list(this.wrongShape)}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length} keys: ${list(unexpected)}`);
    const onlyDtype = this.wrongDtype.length && !this.missing.length && !this.wrongShape.length && !unexpected.length;
    const dtypeHint = 'weights must be floating point: in Python, save model.float().state_dict() (or convert integer tensors with .float())';
    const archHint = 'check --arch (or leave it out to infer it from the keys), and that the file is the model you meant';
    throw new SdsError('WEIGHTS_MISMATCH', `${this.source} does not fit architecture ${this.arch}: ${parts.join('; ')}`, {
      suggestion: onlyDtype ? dtypeHint : this.wrongDtype.length ? `${archHint}; ${dtypeHint}` : archHint,
      context: { missing: this.missing, wrongDtype: this.wrongDtype, wrongShape: this.wrongShape, unexpected },
    });
  }

  dispose(): void {
    for (const t of this.tensors) {
      if (t.rank === 4) forgetRotations(t as Tensor4D);
      t.dispose();
    }
    this.tensors.length = 0;
  }
}

/** OIHW (PyTorch) -> HWIO (TensorFlow.js). */
export function oihwToHwio(w: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = w[((a * i + b) * kh + y) * kw + x]!;
  return out;
}

export function tensor1d(binder: ParamBinder, values: Float32Array): tf.Tensor1D {
  return binder.own(tf.tensor1d(values));
}
