import { z } from 'zod';
import { EXPORT_COMPRESSIONS, EXPORT_DEFAULTS, exportQualitySchema, exportRangeSchema, exportTileSizeSchema } from '../../contracts/index.js';
import { SdsError } from '../../core/errors.js';
import { DZI_COLORMAPS } from '../../maps/index.js';
import { exportDetections, exportOverlayTiff } from '../../results/index.js';
import { defineCommand, opt } from '../args.js';
import { Progress } from '../progress.js';

/** `auto` (the analysis' own range, as the viewer draws it) or `lo,hi`. */
function parseRange(s: string): [number, number] | undefined {
  if (s === 'auto') return undefined;
  const parts = s.split(',').map((p) => p.trim());
  const v = parts.map(Number);
  if (parts.length !== 2 || parts.some((p) => p === '') || !exportRangeSchema.safeParse(v).success) {
    throw new SdsError('BAD_ARGUMENT', `--range "${s}" is not auto or lo,hi with lo < hi`, { suggestion: 'e.g. --range -0.01,0.01 or --range auto' });
  }
  return [v[0]!, v[1]!];
}

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'An analysis for QuPath: one overlay as a pyramidal TIFF (--tiff), the patches as detection tiles with measurements (--detections).',
  usage: 'sds export <analysis-dir> [--overlay variant/method/layer --tiff OUT.tif [--colormap C] [--range auto|lo,hi] [--full-resolution] [--compression deflate|jpeg]] [--detections OUT.geojson] [--force]',
  schema: z.object({
    overlay: opt.string('KEY', 'the overlay for --tiff: variant/method/layer, or model/output/<class> (as listed in manifest.json)').optional(),
    tiff: opt.string('FILE', 'write the overlay as a tiled pyramidal TIFF with the slide\'s MPP x the overlay\'s downsample').optional(),
    colormap: opt.enum(DZI_COLORMAPS, 'C', `${DZI_COLORMAPS.join(', ')} (default: as the analysis drew it: diverging for saliency, viridis for outputs)`).optional(),
    range: opt.string('R', 'auto (the analysis\' range, as the viewer) or lo,hi: values mapped to the colour map\'s ends').default('auto'),
    'full-resolution': opt.flag('write the TIFF at the slide\'s level-0 size (nearest upsampling), so its pixels are the slide\'s'),
    // the option schemas the server's export request uses too (contracts/export.ts)
    compression: opt.enum(EXPORT_COMPRESSIONS, 'C', 'deflate (default: lossless, no data transparent) or jpeg (smaller, no data white)').default(EXPORT_DEFAULTS.compression),
    quality: opt.int('Q', `JPEG quality 1..100 (default ${EXPORT_DEFAULTS.quality})`).pipe(exportQualitySchema).default(EXPORT_DEFAULTS.quality),
    'tile-size': opt.int('N', `TIFF tile side, a multiple of 16 (default ${EXPORT_DEFAULTS.tileSize})`).pipe(exportTileSizeSchema).default(EXPORT_DEFAULTS.tileSize),
    detections: opt.string('FILE', 'write the analysed patches as QuPath detections (GeoJSON) with per-overlay mean/max and class probabilities').optional(),
    force: opt.flag('replace output files that exist'),
  }),
  async run(o, positionals) {
    const [dir, ...extra] = positionals;
    if (!dir || extra.length) throw new SdsError('BAD_ARGUMENT', 'give exactly one analysis folder', { suggestion: 'sds export DIR/<slide name> --overlay V/M/L --tiff OUT.tif (a folder with manifest.json, written by sds analyze)' });
    if (!o.tiff && !o.detections) throw new SdsError('BAD_ARGUMENT', 'nothing to export', { suggestion: 'give --tiff OUT.tif (with --overlay) and/or --detections OUT.geojson' });
    if (o.tiff && !o.overlay) throw new SdsError('BAD_ARGUMENT', '--tiff needs --overlay variant/method/layer', { suggestion: 'the overlays are listed in the analysis\' manifest.json; an unknown one is answered with the list' });
    if (o.overlay && !o.tiff) throw new SdsError('BAD_ARGUMENT', '--overlay is for --tiff', { suggestion: 'add --tiff OUT.tif' });
    const range = parseRange(o.range);
    if (o.tiff && o.overlay) {
      let bar: Progress | undefined;
      const r = await exportOverlayTiff(dir, {
        overlay: o.overlay,
        out: o.tiff,
        colormap: o.colormap,
        range,
        fullResolution: o['full-resolution'] ?? false,
        compression: o.compression,
        quality: o.quality,
        tileSize: o['tile-size'],
        force: o.force ?? false,
        onProgress: (done, total) => (bar ??= new Progress('tiles', total)).update(done),
      });
      bar?.done();
      const top = r.levels[0]!;
      const mpp = r.mpp ? `${r.mpp.x.toPrecision(4)} µm/px` : 'no MPP (the slide states none)';
      process.stderr.write(`sds: ${r.path}: ${top.width}x${top.height} px, ${r.levels.length} levels, ${mpp}, ${r.colormap} [${r.range.map((v) => v.toPrecision(4)).join(', ')}], ${(r.bytes / 1e6).toFixed(1)} MB\n`);
    }
    if (o.detections) {
      let bar: Progress | undefined;
      const r = await exportDetections(dir, { out: o.detections, force: o.force ?? false, onProgress: (done, total) => (bar ??= new Progress('patches', total)).update(done) });
      bar?.done();
      const cls = Object.entries(r.classes).map(([k, n]) => `${k} ${n}`).join(', ');
      process.stderr.write(`sds: ${r.features} detection tiles, ${r.measurements.length} measurements each${cls ? ` (${cls})` : ''} -> ${r.path}\n`);
    }
    return 0;
  },
});
