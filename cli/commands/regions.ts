import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { exportSaliencyGeoJson } from '../../results/index.js';
import { defineCommand } from '../args.js';
import { printTable } from './predict.js';

export const regionsCommand = defineCommand({
  name: 'regions',
  summary: 'The strongest saliency regions of an analysis at one layer as GeoJSON polygons (QuPath: File > Import objects).',
  usage: 'sds regions <analysis-dir> --layer L [--variant backward-hook] [--method grad] [--quantile 0.99 | --threshold T] [--sign positive] [--out F.geojson]',
  options: {
    layer: { type: 'string', value: 'L', help: 'layer of the overlay (as in manifest.json)' },
    variant: { type: 'string', value: 'V', help: 'variant of the overlay (default backward-hook)' },
    method: { type: 'string', value: 'M', help: 'method of the overlay (default grad)' },
    quantile: { type: 'string', value: 'Q', help: 'threshold at this quantile of |value| over tissue (default 0.99)' },
    threshold: { type: 'string', value: 'T', help: 'fixed threshold on the magnitude instead of a quantile' },
    sign: { type: 'string', value: 'S', help: 'positive (v >= T, default), negative (v <= -T) or abs (|v| >= T)' },
    'min-area': { type: 'string', value: 'A', help: 'drop regions smaller than A level-0 px² (default: 4 map pixels)' },
    tolerance: { type: 'string', value: 'P', help: 'outline simplification tolerance in map pixels (default 0.7; 0 keeps pixel edges)' },
    out: { type: 'string', value: 'FILE', help: 'output (default <analysis-dir>/regions/<variant>/<method>/<layer>.geojson)' },
  },
  schema: z.object({
    layer: z.string({ error: 'is required' }),
    variant: z.string().default('backward-hook'),
    method: z.string().default('grad'),
    quantile: z.coerce.number().gt(0).lt(1).optional(),
    threshold: z.coerce.number().min(0).optional(),
    sign: z.enum(['positive', 'negative', 'abs']).default('positive'),
    'min-area': z.coerce.number().min(0).optional(),
    tolerance: z.coerce.number().min(0).default(0.7),
    out: z.string().optional(),
  }),
  async run(o, positionals) {
    const [dir, ...extra] = positionals;
    if (!dir || extra.length) throw new SdsError('BAD_ARGUMENT', 'give exactly one analysis folder', { suggestion: 'sds regions DIR/<slide name> --layer L (a folder with manifest.json, written by sds analyze)' });
    if (o.quantile !== undefined && o.threshold !== undefined) throw new SdsError('BAD_ARGUMENT', 'give --quantile or --threshold, not both');
    const r = await exportSaliencyGeoJson(dir, { layer: o.layer, variant: o.variant, method: o.method, quantile: o.quantile, threshold: o.threshold, sign: o.sign, minArea: o['min-area'], tolerance: o.tolerance, out: o.out });
    const feats = r.collection.features;
    const um2 = feats.every((f) => f.properties.measurements.area_um2 !== undefined) && feats.length > 0;
    const area = um2 ? `${(feats.reduce((s, f) => s + f.properties.measurements.area_um2!, 0) / 1e6).toPrecision(4)} mm²` : `${r.totalArea.toPrecision(4)} px²`;
    printTable(
      ['overlay', 'threshold', 'regions', 'total area', 'max value'],
      [[`${o.variant} ${o.method} ${o.layer}`, `${o.sign === 'negative' ? '<= -' : o.sign === 'abs' ? '|v| >= ' : '>= '}${r.threshold.toPrecision(4)}`, String(feats.length), area, Number.isFinite(r.max) ? r.max.toPrecision(4) : '-']],
    );
    process.stderr.write(`sds: ${feats.length} regions -> ${r.path}\n`);
    return 0;
  },
});
