/** Loads a torch-reference case and runs our methods on it, returning NCHW arrays like the fixtures. */
import { afterAll, beforeAll, expect } from 'vitest';
import { buildModel, initEngine, nchwToNhwc, nhwcToNchw, readSafetensors, tf, type HostTensor, type Model, type Tensor4D } from '../../models/index.js';
import { createMethod, SurrogatePaths, VariantModel, type MethodName, type Variant } from '../../saliency/index.js';
import { FIXTURES } from './shared.js';

export interface FixtureCase {
  name: string;
  model: Model;
  surrogate: SurrogatePaths;
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
  layers: string[];
  x: Tensor4D;
  targets: number[];
  dispose(): void;
}

export async function loadCase(name: string): Promise<FixtureCase> {
  const model = buildModel((await readSafetensors(`${FIXTURES}${name}.safetensors`)).tensors, name);
  const surrogate = SurrogatePaths.fromStateDict(model, (await readSafetensors(`${FIXTURES}${name}.surrogate.safetensors`)).tensors, `${name}.surrogate`);
  const c = await readSafetensors(`${FIXTURES}${name}.case.safetensors`);
  const input = c.tensors.get('input')!;
  const [n, ch, h, w] = input.shape as [number, number, number, number];
  const x = tf.tensor4d(nchwToNhwc(input.data as Float32Array, n, ch, h, w), [n, h, w, ch]);
  const t = c.tensors.get('targets') ?? c.tensors.get('seg_class')!;
  return {
    name,
    model,
    surrogate,
    tensors: c.tensors,
    metadata: c.metadata,
    layers: c.metadata.layers!.split(','),
    x,
    targets: Array.from(t.data as BigInt64Array, Number),
    dispose() {
      x.dispose();
      surrogate.dispose();
      model.dispose();
    },
  };
}

/** Fixture key spelling of a variant (backward_hook) from ours (backward-hook). */
export const fixtureVariant = (v: Variant) => v.replace('-', '_');

export function variantModel(c: FixtureCase, v: Variant): Model {
  return new VariantModel(c.model, v, c.surrogate);
}

export async function toNchw(t: tf.Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  if (t.rank !== 4) return d;
  const [n, h, w, c] = t.shape as [number, number, number, number];
  return nhwcToNchw(d, n, h, w, c);
}

export async function attributeNchw(c: FixtureCase, v: Variant, method: MethodName, layers: string[], steps?: number): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  const res = await createMethod(method, variantModel(c, v)).attribute(c.x, { layers, targets: c.targets, steps });
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [l, a] of res.attributions) {
    const [n, h, w, ch] = a.shape;
    out.set(l, { data: await toNchw(a), shape: [n, ch, h, w] });
    a.dispose();
  }
  return out;
}

/** Share of elements whose error exceeds `tol * max|ref|`. */
export function outlierShare(a: Float32Array, ref: Float32Array, tol: number): number {
  let m = 0;
  for (const v of ref) m = Math.max(m, Math.abs(v));
  let bad = 0;
  for (let i = 0; i < ref.length; i++) if (Math.abs(a[i]! - ref[i]!) > tol * m) bad++;
  return bad / ref.length;
}

/**
 * Loads a case once for the enclosing describe and disposes it after, checking that no tensor is
 * left behind. Returns a getter (the case exists only once beforeAll has run).
 */
export function useFixtureCase(name: string, engine?: string): () => FixtureCase {
  let c: FixtureCase | undefined;
  beforeAll(async () => {
    await initEngine({ announce: false, engine });
    c = await loadCase(name);
  });
  afterAll(() => {
    c?.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
  return () => c!;
}
