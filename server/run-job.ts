/**
 * Checking an analysis request against the catalogs and the model (400 naming the bad field), and
 * turning it into the queue's slide task: the same AnalysisSpec `sds analyze` builds, with the
 * server's batch size and results folder.
 */
import { analysisRequestSchema, parseAnalysisSpec, type SlideTask } from '../contracts/index.js';
import { SdsError } from '../core/errors.js';
import { describeModel } from '../models/index.js';
import { checkSpec } from '../pipeline/index.js';
import type { JobRequest, ServerContext } from './context.js';
import { badRequest } from './http-error.js';
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
  try {
    checkSpec(await describeModel(model.spec), spec);
  } catch (err) {
    // the spec's own words, as a 400: the request named something the model cannot do
    if (err instanceof SdsError && err.code === 'BAD_ARGUMENT') throw badRequest(err.message, err.suggestion);
    throw badRequest(`model: ${model.name} cannot be loaded: ${(err as Error).message}`, 'fix or remove the weights file; GET /api/models lists the models that load');
  }
  const task: SlideTask = { slide: slide.path, options: { ...spec, out: ctx.config.results, weightsLabel: model.label } };
  return { slide, model, task };
}
