/**
 * Checking an analysis request against the catalogs and the model (400 naming the bad field), and
 * turning it into the queue's slide task: the same AnalysisSpec `sds analyze` builds, with the
 * server's batch size (fewer patches per task when that many would not fit one engine) and results
 * folder. A patch whose single-image engine memory would not fit is refused (models/engine-memory.ts).
 * Regions sent with the request (`roi`) are checked against the slide and stored as the file the
 * spec names (server/request-roi.ts), the way `sds analyze --roi` names one.
 */
import { dirname } from 'node:path';
import { analysisRequestSchema, parseAnalysisSpec, type SlideTask } from '../contracts/index.js';
import { SdsError } from '../core/errors.js';
import { describeModel, ENGINE_BUDGET_MIB, engineMiB, fittingBatch, initEngine, largestPatch } from '../models/index.js';
import { checkSpec } from '../pipeline/index.js';
import type { JobRequest, ServerContext } from './context.js';
import { badRequest } from './http-error.js';
import { checkRequestRoi, storeRequestRoi } from './request-roi.js';
import { parseWith } from './schemas.js';

export async function validateJob(ctx: ServerContext, body: unknown): Promise<JobRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the body must be a JSON object (Content-Type: application/json)', 'e.g. {"slide": "<id>", "model": "random-resnet18", "layers": ["2_1"], "methods": ["grad"], "variants": ["original"]}');
  }
  const b = parseWith(analysisRequestSchema, body, 'analysis request');
  if (!ctx.config.results) throw badRequest('this server has no results folder, so it cannot run analyses', 'start it with --results DIR');
  const slide = await ctx.slides.get(b.slide);
  if (!slide) throw badRequest(`slide: no slide "${b.slide}"`, 'GET /api/slides lists the slides');
  const model = await ctx.models.get(b.model);
  if (!model) throw badRequest(`model: no model "${b.model}"`, 'GET /api/models lists the models');
  if (b.variants.includes('surrogate') && !model.surrogatePath) {
    throw badRequest(`variants: model ${model.id} has no surrogate`, `put ${model.name.replace(/\.[^.]+$/, '')}.surrogate.safetensors beside it (sds train-surrogate), or leave out "surrogate"`);
  }
  const spec = parseAnalysisSpec({
    model: model.spec,
    surrogate: b.variants.includes('surrogate') ? model.surrogatePath : undefined,
    layers: b.layers,
    methods: b.methods,
    variants: b.variants,
    patch: b.patch,
    overlap: b.overlap,
    batch: ctx.config.batch,
  });
  let description: Awaited<ReturnType<typeof describeModel>>;
  try {
    // the engine the catalog measures with (the process's, once chosen); not tfjs's slow default
    await initEngine({ announce: false });
    description = await describeModel(model.spec);
    // a WSInfer model is analysed at the resolution it was trained at
    if (description.recommended?.mpp !== undefined) spec.mpp = description.recommended.mpp;
    checkSpec(description, spec);
  } catch (err) {
    // the spec's own words, as a 400: the request named something the model cannot do
    if (err instanceof SdsError && err.code === 'BAD_ARGUMENT') throw badRequest(err.message, err.suggestion);
    // the loader's words, without the server's folders
    const why = model.spec.kind === 'file' ? (err as Error).message.split(model.spec.weights).join(model.name).split(dirname(model.spec.weights)).join('<models>') : (err as Error).message;
    throw badRequest(`model: ${model.name} cannot be loaded: ${why}`, 'fix or remove the weights file; GET /api/models lists the models that load');
  }
  // what one engine (a WASM instance: 4 GiB) can hold: the patch for one image, then how many per task
  const memory = { arch: description.arch, ...(description.memory ? { calibration: description.memory } : {}), layers: spec.layers, methods: spec.methods, variants: spec.variants, patch: spec.patch };
  const need = engineMiB(memory, 1);
  if (need > ENGINE_BUDGET_MIB) {
    const largest = largestPatch(memory);
    const what = `${description.arch}, ${spec.methods.join('+')}, layers ${spec.layers.join(',')}, variants ${spec.variants.join(',')}`;
    throw badRequest(
      largest
        ? `patch: ${spec.patch} px needs about ${(need / 1024).toFixed(1)} GiB of engine memory for one patch (${what}); a worker's engine has 4 GiB: the largest patch that fits is ${largest}`
        : `patch: no patch size fits one worker's engine (4 GiB) with ${what}`,
      largest ? `use patch ${largest} or smaller` : 'explain a layer above "input", or use grad rather than ig',
    );
  }
  const batch = fittingBatch(memory, spec.batch);
  let roi: string | undefined;
  if (b.roi !== undefined) {
    const level0 = slide.info.levels[0]!;
    checkRequestRoi(b.roi, level0.width, level0.height);
    roi = await storeRequestRoi(ctx.config.results, b.roi);
  }
  const task: SlideTask = { slide: slide.path, options: { ...spec, batch, out: ctx.config.results, weightsLabel: model.label, ...(roi ? { roi } : {}) } };
  return { slide, model, task };
}
