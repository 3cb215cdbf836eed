/**
 * The analysed patches as QuPath detection tiles (GeoJSON, File > Import objects): one Feature per
 * patch, its geometry the patch square in level-0 pixels, its measurements each overlay's mean and
 * max over the patch and the model's probability per class, so QuPath's Measure > Show measurement
 * maps colours the tiles by any of them.
 *
 * QuPath's reader (qupath-core PathObjectTypeAdapters, 0.4+): `properties.objectType`
 * ("detection"), `classification: {name, color}`, `measurements` as a name -> number map (numbers
 * only; a value that is not finite is left out, as JSON has no NaN).
 *
 * A patch's area in an overlay: the map pixels whose centres lie in the patch square. Features are
 * written one per line as they are computed (memory: the patch list and a few store chunks).
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { OUTPUT_VARIANT, type OverlayEntry } from '../contracts/index.js';
import { FloatStore } from '../maps/index.js';
import { checkExportAborted, checkOutputPath } from './export-common.js';
import { allOverlays, analysedPatches, type AnalysedPatch } from './export-patches.js';
import { readManifest } from './manifest.js';

export interface DetectionsOptions {
  out: string;
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** stops the export before its next patch (ABORTED; the partial file is removed) */
  signal?: AbortSignal;
}

export interface DetectionFeature {
  type: 'Feature';
  geometry: { type: 'Polygon'; coordinates: number[][][] };
  properties: {
    objectType: 'detection';
    name: string;
    classification?: { name: string; color: [number, number, number] };
    measurements: Record<string, number>;
  };
}

export interface DetectionsResult {
  path: string;
  features: number;
  /** every measurement name, in the order written */
  measurements: string[];
  /** patches per predicted class name (classified patches only) */
  classes: Record<string, number>;
}

/** The map pixel range [i0, i1) whose centres lie in level-0 [a, b) at downsample D, clipped to n. */
export function pixelSpan(a: number, b: number, D: number, n: number): [number, number] {
  return [Math.max(0, Math.ceil(a / D - 0.5)), Math.min(n, Math.ceil(b / D - 0.5))];
}

/** A model-output overlay's class: its layer, unless the weights named no classes. */
function className(o: OverlayEntry): string | undefined {
  return /^class-\d+$/.test(o.layer) || o.layer === 'probability' ? undefined : o.layer;
}

function probabilityName(o: OverlayEntry): string {
  return o.layer === 'probability' ? 'probability' : `probability ${o.layer}`;
}

/** A colour per class name (stable across exports): hue from the name's hash. */
function classColor(name: string): [number, number, number] {
  let h = 0;
  for (const c of name) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  const hue = (h % 360) / 60;
  const x = 1 - Math.abs((hue % 2) - 1);
  const [r, g, b] = hue < 1 ? [1, x, 0] : hue < 2 ? [x, 1, 0] : hue < 3 ? [0, 1, x] : hue < 4 ? [0, x, 1] : hue < 5 ? [x, 0, 1] : [1, 0, x];
  return [Math.round(40 + 200 * r), Math.round(40 + 200 * g), Math.round(40 + 200 * b)];
}

const round = (v: number) => Number(v.toPrecision(7));

export async function exportDetections(analysisDir: string, o: DetectionsOptions): Promise<DetectionsResult> {
  const m = await readManifest(analysisDir);
  await checkOutputPath(o.out, o.force ?? false);
  const patches = await analysedPatches(analysisDir, m);
  const saliency = m.overlays;
  const outputs = m.outputs ?? [];
  const stores = new Map<OverlayEntry, FloatStore>();
  for (const ov of allOverlays(m)) stores.set(ov, await FloatStore.open(join(analysisDir, ov.store), { cacheChunks: 8 }));
  const names = [...saliency.flatMap((ov) => [`${ov.variant} ${ov.method} ${ov.layer} mean`, `${ov.variant} ${ov.method} ${ov.layer} max`]), ...outputs.map(probabilityName)];

  const stats = async (ov: OverlayEntry, p: AnalysedPatch): Promise<{ mean: number; max: number }> => {
    const store = stores.get(ov)!;
    const [x0, x1] = pixelSpan(p.x, p.x + p.side, ov.downsample, store.width);
    const [y0, y1] = pixelSpan(p.y, p.y + p.side, ov.downsample, store.height);
    if (x1 <= x0 || y1 <= y0) return { mean: NaN, max: NaN };
    const v = await store.readRegion(0, x0, y0, x1 - x0, y1 - y0);
    let sum = 0, n = 0, max = -Infinity;
    for (const x of v) {
      if (Number.isNaN(x)) continue;
      sum += x;
      n++;
      if (x > max) max = x;
    }
    return n ? { mean: sum / n, max } : { mean: NaN, max: NaN };
  };

  const tmp = `${o.out}.partial-${process.pid}`;
  const ws = createWriteStream(tmp);
  // errors reach the awaited write/finish below (events.once rejects on them); without a listener a
  // late one (the file opening after a stop destroyed the stream) would crash the process
  ws.on('error', () => undefined);
  const write = async (s: string) => {
    if (!ws.write(s)) await once(ws, 'drain');
  };
  const classes: Record<string, number> = {};
  let ok = false;
  try {
    await write('{"type":"FeatureCollection","features":[\n');
    for (const [i, p] of patches.entries()) {
      checkExportAborted(o.signal);
      const measurements: Record<string, number> = {};
      const put = (k: string, v: number) => {
        if (Number.isFinite(v)) measurements[k] = round(v);
      };
      for (const ov of saliency) {
        const s = await stats(ov, p);
        put(`${ov.variant} ${ov.method} ${ov.layer} mean`, s.mean);
        put(`${ov.variant} ${ov.method} ${ov.layer} max`, s.max);
      }
      // the prediction: softmax outputs leave out class 0 (its probability is the rest); one sigmoid output decides at 0.5
      const probs: { name?: string; p: number }[] = [];
      for (const ov of outputs) {
        const { mean } = await stats(ov, p);
        put(probabilityName(ov), mean);
        probs.push({ name: className(ov), p: mean });
      }
      let predicted: string | undefined;
      if (probs.length && probs.every((q) => Number.isFinite(q.p))) {
        const single = outputs.length === 1 && outputs[0]!.layer === 'probability';
        if (!single) {
          const best = probs.reduce((a, b) => (b.p > a.p ? b : a));
          const rest = 1 - probs.reduce((s, q) => s + q.p, 0);
          predicted = best.p >= rest ? best.name : undefined;
        }
      }
      const x1 = p.x + p.side, y1 = p.y + p.side;
      const f: DetectionFeature = {
        type: 'Feature',
        geometry: { type: 'Polygon', coordinates: [[[p.x, p.y], [x1, p.y], [x1, y1], [p.x, y1], [p.x, p.y]]] },
        properties: {
          objectType: 'detection',
          name: `patch ${p.col},${p.row}`,
          ...(predicted ? { classification: { name: predicted, color: classColor(predicted) } } : {}),
          measurements,
        },
      };
      if (predicted) classes[predicted] = (classes[predicted] ?? 0) + 1;
      await write(`${i ? ',\n' : ''}${JSON.stringify(f)}`);
      o.onProgress?.(i + 1, patches.length);
    }
    await write('\n]}\n');
    ws.end();
    await once(ws, 'finish');
    await rename(tmp, o.out);
    ok = true;
  } finally {
    if (!ok) {
      // closed first: the file may still be opening, and would be created after an earlier rm
      if (!ws.closed) {
        const closed = once(ws, 'close').catch(() => undefined);
        ws.destroy();
        await closed;
      }
      await rm(tmp, { force: true });
    }
  }
  return { path: o.out, features: patches.length, measurements: names, classes };
}
