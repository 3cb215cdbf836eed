/**
 * The command-line face of the analysis spec (contracts/analysis.ts): one flag per spec field, each
 * validated by the contract's own field schema and defaulted by the contract (help texts quote
 * ANALYSIS_DEFAULTS), so `analyze`, `batch` and the queue agree with the server's form.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { ANALYSIS_DEFAULTS as D, analysisSpecSchema, defaultOverlap, layerListSchema, MAP_METHODS, mapMethodListSchema, parseContract, patchSchema, overlapSchema, slideAnalysisSchema, variantListSchema, type SlideAnalysisOptions } from '../contracts/index.js';
import { describeModel, isWsinferFolder, modelSpecFromArgs } from '../models/index.js';
import { readRoi } from '../slide/roi.js';
import { opt } from './args.js';
import { MODEL_OPTIONS } from './common-options.js';
import { splitList } from './list.js';

const spec = analysisSpecSchema.shape;
const commaList = <S extends z.ZodType<unknown, string[]>>(value: string, help: string, list: S) => opt.string(value, help).transform(splitList).pipe(list).optional();

/** The flags, in the order --help lists them; `out` and the run's own flags are the command's. */
export const ANALYSIS_OPTIONS = {
  ...MODEL_OPTIONS,
  surrogate: opt.string('FILE', 'surrogate paths, for --variants surrogate').optional(),
  layers: commaList('L,...', `layers (default ${D.layers.join(',')}, or the model's own: sds layers <weights>)`, layerListSchema),
  methods: commaList('M,...', `${MAP_METHODS.join(', ')} (default ${D.methods.join(',')})`, mapMethodListSchema),
  variants: commaList('V,...', `default ${D.variants.join(',')}`, variantListSchema),
  target: opt.int('T', 'class explained in every patch (default: each patch its own prediction)').pipe(spec.target.unwrap()).optional(),
  patch: opt.int('N', `patch side in level pixels (default ${D.patch})`).pipe(patchSchema).optional(),
  level: opt.int('L', `slide level patches are read at (default ${D.level})`).pipe(spec.level.unwrap()).optional(),
  mpp: opt.number('UM', 'analyse at this many microns per pixel instead of a level (read at the nearest finer level, resized)').pipe(spec.mpp.unwrap()).optional(),
  'no-outputs': opt.flag("skip the overlays of the model's own class probabilities"),
  overlap: opt.int('N', `pixels shared by neighbouring patches, blended; 0: side by side (default: patch/4 rounded down to a multiple of 32, ${defaultOverlap(D.patch)} at ${D.patch} px)`).pipe(overlapSchema).optional(),
  batch: opt.int('N', `patches per worker task (default ${D.batch})`).pipe(spec.batch.unwrap()).optional(),
  roi: opt.string('FILE', "GeoJSON regions (QuPath: Export objects as GeoJSON, level-0 pixels; holes allowed): analyse only the tissue patches whose centre lies inside them").optional(),
};

const flags = z.object(ANALYSIS_OPTIONS);
type AnalysisFlags = z.output<typeof flags>;

/**
 * The flags as the queue's slide analysis (defaults filled by the contract), with what the model
 * itself recommends where a flag is absent: its default layers (an imported graph has no `1_1`),
 * and a WSInfer model's patch size and resolution. The engine must be initialised.
 */
export async function slideAnalysisFromFlags(o: AnalysisFlags & { out: string }): Promise<SlideAnalysisOptions> {
  const { weights, arch, 'no-outputs': noOutputs, roi, ...rest } = o;
  const model = modelSpecFromArgs(weights, arch);
  // absolute, so queue workers elsewhere find it; read now so a bad file is refused before any slide is opened
  const roiPath = roi === undefined ? undefined : resolve(roi);
  if (roiPath) await readRoi(roiPath);
  // the model is only described (one probe pass) when it has something to add: default layers, or a
  // model folder's patch geometry
  const folder = model.kind === 'file' && (await isWsinferFolder(model.weights));
  const d = !o.layers || folder ? await describeModel(model) : undefined;
  const fromModel = d
    ? {
        ...(o.layers ? {} : { layers: d.defaultLayers }),
        ...(o.patch === undefined && d.recommended ? { patch: d.recommended.patch } : {}),
        ...(o.mpp === undefined && o.level === undefined && d.recommended?.mpp ? { mpp: d.recommended.mpp } : {}),
      }
    : {};
  return parseContract(slideAnalysisSchema, { ...rest, ...fromModel, model, outputs: !noOutputs, ...(roiPath ? { roi: roiPath } : {}) }, 'analysis');
}
