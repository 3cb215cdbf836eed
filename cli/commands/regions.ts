import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { exportSaliencyGeoJson } from '../../results/index.js';
import { defineCommand, opt } from '../args.js';
import { printTable } from '../table.js';

export const regionsCommand = defineCommand({
  name: 'regions',
  summary: 'The strongest saliency regions of an analysis at one layer as GeoJSON polygons (QuPath: File > Import objects).',
  usage: 'sds regions <analysis-dir> --layer L [--variant backward-hook] [--method grad] [--quantile 0.99 | --threshold T] [--sign positive] [--out F.geojson]',
  schema: z.object({
    layer: opt.required('L', 'layer of the overlay (as in manifest.json)'),
    variant: opt.string('V', 'variant of the overlay (default backward-hook)').default('backward-hook'),
    method: opt.string('M', 'method of the overlay (default grad)').default('grad'),
    quantile: opt.number('Q', 'threshold at this quantile of |value| over tissue (default 0.99)').gt(0).lt(1).optional(),
    threshold: opt.number('T', 'fixed threshold on the magnitude instead of a quantile').min(0).optional(),
    sign: opt.enum(['positive', 'negative', 'abs'], 'S', 'positive (v >= T, default), negative (v <= -T) or abs (|v| >= T)').default('positive'),
    'min-area': opt.number('A', 'drop regions smaller than A level-0 px² (default: 4 map pixels)').min(0).optional(),
    tolerance: opt.number('P', 'outline simplification tolerance in map pixels (default 0.7; 0 keeps pixel edges)').min(0).default(0.7),
    out: opt.string('FILE', 'output (default <analysis-dir>/regions/<variant>/<method>/<layer>.geojson)').optional(),
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
