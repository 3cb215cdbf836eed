/**
 * The viewer tools' routes (server/API.md "Viewer tools"): the `sds regions` files of an analysis,
 * the same regions computed on demand for one overlay (results/ `saliencyRegions`, so the viewer
 * needs no CLI), and the saliency statistics inside a shape drawn over the slide
 * (results/ `regionStats`, which reads only the chunks under the shape).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { Router, type Request } from 'express';
import { regionStats, saliencyRegions, type SaliencyRegions } from '../../results/index.js';
import { REGION_TOOL_LIMITS, regionsQuerySchema, regionStatsRequestSchema, type RegionFeatureJson, type RegionsFileInfo, type RegionsResponse, type RegionStatsResponse } from '../../contracts/api.js';
import type { ServerContext } from '../context.js';
import { badRequest } from '../http-error.js';
import { Lru } from '../lru.js';
import type { AnalysisEntry, OverlayRef } from '../results-catalog.js';
import { regularFileInside } from '../safe-path.js';
import { parseWith } from '../schemas.js';
import { findOverlay } from './analyses.js';

/** A regions file larger than this is listed without its feature count (it is not parsed to count). */
const COUNT_BYTES = 16 * 1024 * 1024;

async function overlayOf(ctx: ServerContext, req: Request): Promise<{ a: AnalysisEntry; o: OverlayRef }> {
  const a = await ctx.analysis(req.params.aid);
  const p = req.params as Record<string, string>;
  return { a, o: findOverlay(a, p.variant!, p.method!, p.layer!) };
}

async function countFeatures(path: string, size: number): Promise<number | null> {
  if (size > COUNT_BYTES) return null;
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as { features?: unknown };
    return Array.isArray(doc.features) ? doc.features.length : null;
  } catch {
    return null;
  }
}

export function regionRoutes(ctx: ServerContext): Router {
  const r = Router();
  // Tracing a whole map costs a pass over its store: the last few answers are kept (finished analyses only).
  const traced = new Lru<Promise<SaliencyRegions>>({ capacity: 16 });

  r.get('/api/analyses/:aid/regions', async (req, res) => {
    const a = await ctx.analysis(req.params.aid);
    const out: RegionsFileInfo[] = [];
    for (const o of a.overlays) {
      const rel = ['regions', o.variant, o.method, `${o.layer}.geojson`];
      // the file must be a regular file inside the analysis folder (no link out of it)
      const file = await regularFileInside(a.dir, join(a.dir, ...rel));
      if (!file) continue;
      out.push({ key: o.key, variant: o.variant, method: o.method, layer: o.layer, url: `/results/${encodeURIComponent(a.id)}/${rel.map(encodeURIComponent).join('/')}`, count: await countFeatures(file.real, file.size) });
    }
    res.set('Cache-Control', 'no-cache').json(out);
  });

  r.get('/api/analyses/:aid/overlays/:variant/:method/:layer/regions', async (req, res) => {
    const { a, o } = await overlayOf(ctx, req);
    if (o.kind !== 'overlay') throw badRequest(`${o.key} is a model output, not a saliency overlay`, 'regions are traced on saliency overlays');
    const q = parseWith(regionsQuerySchema, req.query, 'query', 'quantile in (0, 1) or threshold >= 0, and sign=positive|negative|abs');
    const sign = q.sign ?? 'positive';
    const key = `${a.id}@${a.version}:${o.key}:${q.quantile ?? ''}:${q.threshold ?? ''}:${sign}`;
    let job = a.running ? undefined : traced.get(key);
    if (!job) {
      job = (async () => saliencyRegions(await ctx.store(a, o), o.entry, a.manifest.slide.mpp, { layer: o.layer, variant: o.variant, method: o.method, quantile: q.quantile, threshold: q.threshold, sign }))();
      job.catch(() => traced.get(key) === job && traced.delete(key));
      if (!a.running) traced.set(key, job);
    }
    const found = await job;
    const all = found.collection.features;
    // the strongest first, until the count or the vertex budget is spent: a bounded answer
    const features: RegionFeatureJson[] = [];
    let vertices = 0;
    for (const f of all) {
      vertices += f.geometry.coordinates.reduce((n, ring) => n + ring.length, 0);
      if (features.length === REGION_TOOL_LIMITS.regions || vertices > REGION_TOOL_LIMITS.regionVertices) break;
      features.push(f);
    }
    const body: RegionsResponse = { key: o.key, threshold: found.threshold, sign, count: all.length, truncated: features.length < all.length, features };
    res.set('Cache-Control', 'no-cache').json(body);
  });

  r.post('/api/analyses/:aid/overlays/:variant/:method/:layer/stats', express.json({ limit: REGION_TOOL_LIMITS.bodyBytes }), async (req, res) => {
    if (!req.is('application/json')) throw badRequest('the body must be JSON (Content-Type: application/json)', 'send { "geometry": { "type": "Polygon", "coordinates": [...] }, "threshold": T }');
    const { a, o } = await overlayOf(ctx, req);
    const body = parseWith(regionStatsRequestSchema, req.body, 'body', `a GeoJSON Polygon in level-0 pixels, at most ${REGION_TOOL_LIMITS.vertices} vertices`);
    // default threshold: the overlay's upper colour-range value (saliency: the 99th percentile of |value|)
    const threshold = body.threshold ?? o.entry.range[1];
    const s = await regionStats(await ctx.store(a, o), body.geometry.coordinates, { downsample: o.entry.downsample, threshold, mpp: a.manifest.slide.mpp });
    const out: RegionStatsResponse = { key: o.key, ...s };
    res.json(out);
  });

  return r;
}
