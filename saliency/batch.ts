/** Attribution over a host batch (NCHW, like files), in chunks so memory stays bounded. */
import { concatFloat32 } from '../core/concat.js';
import { KeptTensors, nchwToNhwc, nhwcToNchw, tf, type Model } from '../models/index.js';
import { createMethod, type AttributeOptions, type MethodName } from './methods.js';

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
