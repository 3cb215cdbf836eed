/**
 * Checking an analysis request against the catalogs (400 naming the bad field), and running it:
 * `analyzeSlideToDir` in this process (its worker pool fills the cores) into the results folder.
 */
import { analyzeSlideToDir } from '../pipeline/index.js';
import type { MethodName, Variant } from '../saliency/index.js';
import type { JobRequest, ServerContext } from './context.js';
import { badRequest } from './http-error.js';
import { realOrUndefined } from './safe-path.js';
import { analysisRequestSchema, parseWith } from './schemas.js';

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
  const { info, scales } = await ctx.models.describe(model);
  for (const l of b.layers) {
    if (!info.layers.includes(l)) throw badRequest(`layers: ${info.arch} has no layer "${l}"`, `use: ${info.layers.join(', ')}`);
  }
  if (b.variants.includes('surrogate') && !model.surrogatePath) {
    throw badRequest(`variants: model ${model.id} has no surrogate`, `put ${model.name.replace(/\.[^.]+$/, '')}.surrogate.safetensors beside it (sds train-surrogate), or leave out "surrogate"`);
  }
  if (b.overlap >= b.patch) throw badRequest(`overlap: ${b.overlap} must be smaller than patch ${b.patch}`);
  for (const l of b.layers) {
    const s = scales.get(l) ?? 1;
    // Each patch's map must land on whole overlay pixels.
    if (b.patch % s || (b.patch - b.overlap) % s) {
      throw badRequest(`patch: layer ${l} has one value per ${s} px; patch (${b.patch}) and patch - overlap (${b.patch - b.overlap}) must be multiples of ${s}`, 'e.g. patch 256, overlap 0');
    }
  }
  return { slide, model, body: b };
}

/** Runs one job; resolves with the id of the analysis it wrote. */
export async function runJob(r: JobRequest, ctx: ServerContext, onProgress: (done: number, total: number) => void, signal: AbortSignal): Promise<string> {
  const { dir } = await analyzeSlideToDir({
    slide: r.slide.path,
    model: r.model.spec,
    surrogate: r.body.variants.includes('surrogate') ? r.model.surrogatePath : undefined,
    layers: r.body.layers,
    methods: r.body.methods as MethodName[],
    variants: r.body.variants as Variant[],
    patch: r.body.patch,
    level: 0,
    overlap: r.body.overlap,
    batch: ctx.config.batch,
    workers: ctx.config.workers,
    out: ctx.config.results!,
    weightsLabel: r.model.label,
    signal,
    onProgress: (p) => onProgress(p.done, p.total),
  });
  ctx.results.invalidate();
  const real = await realOrUndefined(dir);
  const entry = (await ctx.results.list()).find((a) => a.dir === real);
  if (!entry) throw new Error(`the analysis was written to ${dir} but its manifest cannot be read back`);
  return entry.id;
}
