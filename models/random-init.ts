import { buildModel } from './arch.js';
import type { Model } from './model.js';
import type { ParamInit } from './params.js';
import { numel } from './weights/types.js';

/** mulberry32: a small seeded PRNG, so "random weights" are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededNormal(seed: number): () => number {
  const u = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/**
 * torchvision-style initialisation: Kaiming-normal (fan_out) convs, BatchNorm identity,
 * uniform(+-1/sqrt(fan_in)) linear layers and biases.
 */
export function torchvisionInit(seed: number): ParamInit {
  const normal = seededNormal(seed);
  const uniform = seededRandom(seed ^ 0x9e3779b9);
  return (key, shape) => {
    const out = new Float32Array(numel(shape));
    const leaf = key.slice(key.lastIndexOf('.') + 1);
    if (leaf === 'running_var') return out.fill(1);
    if (leaf === 'running_mean') return out;
    if (shape.length === 4 && leaf === 'weight') {
      const std = Math.sqrt(2 / (shape[0]! * shape[2]! * shape[3]!));
      for (let i = 0; i < out.length; i++) out[i] = normal() * std;
      return out;
    }
    if (shape.length === 1 && leaf === 'weight') return out.fill(1); // BatchNorm gamma
    if (shape.length === 2) {
      const bound = 1 / Math.sqrt(shape[1]!);
      for (let i = 0; i < out.length; i++) out[i] = (uniform() * 2 - 1) * bound;
      return out;
    }
    return out; // biases (BatchNorm beta, conv bias)
  };
}

/** A model of `arch` with seeded random weights (benchmarks, randomization tests). */
export function randomModel(arch: string, numClasses: number, seed = 0): Model {
  return buildModel(new Map(), `random(${arch}, seed ${seed})`, arch, { init: torchvisionInit(seed), numClasses });
}

/** PyTorch's default Conv2d init: U(+-1/sqrt(fan_in)) for weights and biases (kaiming_uniform, a=sqrt(5)). */
export function pytorchConvInit(seed: number): ParamInit {
  const uniform = seededRandom(seed);
  const fanIn = new Map<string, number>();
  return (key, shape) => {
    const out = new Float32Array(numel(shape));
    const owner = key.slice(0, key.lastIndexOf('.'));
    if (shape.length === 4) fanIn.set(owner, shape[1]! * shape[2]! * shape[3]!);
    const bound = 1 / Math.sqrt(fanIn.get(owner) ?? shape[0]!);
    for (let i = 0; i < out.length; i++) out[i] = (uniform() * 2 - 1) * bound;
    return out;
  };
}
