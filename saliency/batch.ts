/** Attribution over a host batch (NCHW, like files), in chunks so memory stays bounded. */
import { concatFloat32 } from '../core/concat.js';
import { KeptTensors, nchwToNhwc, nhwcToNchw, tf, type Model, type Tensor4D } from '../models/index.js';
import { createMethod, type AttributeOptions, type MethodName } from './methods.js';
import { attributeShared, type SharedMethod, type SharedResult } from './shared.js';
import type { Variant } from '../contracts/index.js';

export interface LayerResult {
  /** (N,C,h,w) */
  attr: Float32Array;
  /** (N,h,w): signed channel mean */
  map: Float32Array;
  shape: [number, number, number, number];
}

export interface BatchAttribution {
  layers: Map<string, LayerResult>;
  targets: number[];
}

export interface BatchOptions extends Omit<AttributeOptions, 'targets'> {
  targets?: readonly number[];
  /** Images per chunk (default 8). */
  batch?: number;
  /** Called after each chunk with the number of images done. */
  onProgress?: (done: number, total: number) => void;
  /** Only the channel-mean maps leave the engine (`attr` empty): what whole-slide stitching needs. */
  mapsOnly?: boolean;
}

export async function attributeBatch(model: Model, method: MethodName, data: Float32Array, shape: readonly [number, number, number, number], o: BatchOptions): Promise<BatchAttribution> {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  const chunk = o.batch ?? 8;
  const impl = createMethod(method, model);
  const parts = new Map<string, { attr: Float32Array[]; map: Float32Array[]; shape: number[] }>();
  const targets: number[] = [];
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    // the chunk's tensors, freed however it ends (a failed read leaves the other layers' results)
    const kept = new KeptTensors();
    const x = kept.hold(tf.tensor4d(nchwToNhwc(data.subarray(start * per, (start + m) * per), m, c, h, w), [m, h, w, c]));
    try {
      const t = o.targets ? (o.targets.length === 1 ? o.targets : o.targets.slice(start, start + m)) : undefined;
      const res = await impl.attribute(x, { ...o, targets: t });
      for (const a of res.attributions.values()) kept.hold(a);
      targets.push(...(res.targets.length === m ? res.targets : new Array<number>(m).fill(res.targets[0]!)));
      for (const [layer, a] of res.attributions) {
        const [, lh, lw, lc] = a.shape;
        const mean = kept.hold(tf.mean(a, 3));
        const map = (await mean.data()) as Float32Array;
        // the full (N,h,w,C) tensor is downloaded only when asked for
        const attr = o.mapsOnly ? undefined : ((await a.data()) as Float32Array);
        kept.drop(mean);
        kept.drop(a);
        const p = parts.get(layer) ?? { attr: [], map: [], shape: [lc, lh, lw] };
        if (attr) p.attr.push(nhwcToNchw(attr, m, lh, lw, lc));
        p.map.push(map);
        parts.set(layer, p);
      }
    } finally {
      kept.dispose();
    }
    o.onProgress?.(start + m, n);
  }
  const layers = new Map<string, LayerResult>();
  for (const [layer, p] of parts) {
    const [lc, lh, lw] = p.shape as [number, number, number];
    layers.set(layer, { attr: concatFloat32(p.attr), map: concatFloat32(p.map), shape: [n, lc, lh, lw] });
  }
  return { layers, targets };
}

export interface SharedBatchResult {
  /** `variant` -> `method` -> layer -> (N,h,w) channel means, with the layer's (N,C,h,w) shape */
  maps: Map<Variant, Map<SharedMethod, Map<string, { map: Float32Array; shape: [number, number, number, number] }>>>;
  targets: number[];
  /** the forward pass's output in PyTorch layout, (N,K) or (N,K,H,W) (`logitsShape`), when asked for */
  logits?: Float32Array;
  logitsShape?: number[];
}

/**
 * `attributeShared` over a host batch (NCHW) for whole-slide maps: one forward pass per chunk for
 * every (variant, method) of the group, each attribution reduced to its channel mean on the engine
 * as soon as it exists (the full tensors never leave it).
 */
export async function attributeSharedBatch(model: Model, variants: readonly Variant[], methods: readonly SharedMethod[], data: Float32Array, shape: readonly [number, number, number, number], o: { layers: readonly string[]; targets?: readonly number[]; logits?: boolean; batch?: number }): Promise<SharedBatchResult> {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  const chunk = o.batch ?? 8;
  const parts = new Map<string, Float32Array[]>();
  const shapes = new Map<string, [number, number, number]>();
  const logitParts: Float32Array[] = [];
  let logitsShape: number[] | undefined;
  const targets: number[] = [];
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const x = tf.tensor4d(nchwToNhwc(data.subarray(start * per, (start + m) * per), m, c, h, w), [m, h, w, c]);
    let res: SharedResult | undefined;
    try {
      const t = o.targets ? (o.targets.length === 1 ? o.targets : o.targets.slice(start, start + m)) : undefined;
      res = attributeShared(model, variants, methods, x, { layers: o.layers, targets: t, logits: o.logits, reduce: (a) => tf.mean(a, 3) as unknown as Tensor4D });
      targets.push(...(res.targets.length === m ? res.targets : new Array<number>(m).fill(res.targets[0]!)));
      for (const [variant, byMethod] of res.attributions)
        for (const [method, byLayer] of byMethod)
          for (const [layer, mean] of byLayer) {
            const key = JSON.stringify([variant, method, layer]);
            const list = parts.get(key) ?? [];
            list.push((await mean.data()) as Float32Array);
            parts.set(key, list);
            shapes.set(key, [mean.shape[1]!, mean.shape[2]!, 0]);
          }
      if (res.logits) {
        // PyTorch layout, as predictBatch gives it: (N,K) or (N,K,H,W)
        const values = (await res.logits.data()) as Float32Array;
        if (res.logits.rank === 4) {
          const [, oh, ow, k] = res.logits.shape as number[];
          logitParts.push(nhwcToNchw(values, m, oh!, ow!, k!));
          logitsShape = [n, k!, oh!, ow!];
        } else {
          logitParts.push(values);
          logitsShape = [n, res.logits.shape[1]!];
        }
      }
    } finally {
      x.dispose();
      if (res) {
        for (const byMethod of res.attributions.values()) for (const byLayer of byMethod.values()) for (const t of byLayer.values()) t.dispose();
        res.logits?.dispose();
      }
    }
  }
  const maps: SharedBatchResult['maps'] = new Map();
  for (const [key, list] of parts) {
    const [variant, method, layer] = JSON.parse(key) as [Variant, SharedMethod, string];
    const [lh, lw] = shapes.get(key)!;
    let byMethod = maps.get(variant);
    if (!byMethod) maps.set(variant, (byMethod = new Map()));
    let byLayer = byMethod.get(method);
    if (!byLayer) byMethod.set(method, (byLayer = new Map()));
    byLayer.set(layer, { map: concatFloat32(list), shape: [n, 1, lh, lw] });
  }
  return { maps, targets, ...(o.logits ? { logits: concatFloat32(logitParts), logitsShape } : {}) };
}
