/**
 * Analysis routes: one analysis, its live overlay tiles (rendered from the float store), and the
 * static files of its folder.
 */
import { Router } from 'express';
import { dziXml } from '../../maps/index.js';
import type { ServerContext } from '../context.js';
import { dzGeometry, dzTile } from '../deep-zoom.js';
import { badRequest, notFound } from '../http-error.js';
import { OVERLAY_TILE_OVERLAP, OVERLAY_TILE_SIZE, encodePng, overlayTileRgba } from '../overlay-tiles.js';
import { overlayKey } from '../../contracts/index.js';
import type { AnalysisEntry, OverlayRef } from '../results-catalog.js';
import { clientGoneSignal } from '../render-queue.js';
import { sendResultsFile } from '../results-files.js';
import { overlayQuerySchema, parseWith, tileLevelSchema, tileNameSchema } from '../schemas.js';
import { analysisSummary, matchAnalyses } from '../summaries.js';
import { sendImage } from './slides.js';

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

export function findOverlay(a: AnalysisEntry, variant: string, method: string, layer: string): OverlayRef {
  for (const [what, v] of [['variant', variant], ['method', method], ['layer', layer]] as const) {
    if (!SEGMENT.test(v)) throw badRequest(`bad overlay ${what} "${v.slice(0, 100)}"`, 'use the overlay URLs listed by GET /api/analyses/<id>');
  }
  const key = overlayKey({ variant, method, layer });
  const ref = [...a.overlays, ...a.outputs].find((o) => o.key === key);
  if (!ref) throw notFound(`analysis ${a.id} has no overlay ${key}`, `it has: ${[...a.overlays, ...a.outputs].map((o) => o.key).join(', ') || 'none'}`);
  return ref;
}

export function analysisRoutes(ctx: ServerContext): Router {
  const r = Router();

  r.get('/api/analyses/:aid', async (req, res) => {
    const a = await ctx.analysis(req.params.aid);
    const owner = matchAnalyses(await ctx.slides.list(), [a]);
    res.json(analysisSummary(a, owner.get(a.id) ?? null));
  });

  r.get('/api/analyses/:aid/overlays/:variant/:method/:file', async (req, res) => {
    const a = await ctx.analysis(req.params.aid);
    const { file } = req.params;
    if (!file.endsWith('.dzi')) throw badRequest(`"${file.slice(0, 100)}" is not <layer>.dzi`);
    const o = findOverlay(a, req.params.variant, req.params.method, file.slice(0, -4));
    res.set('Cache-Control', 'no-cache').type('application/xml').send(dziXml(o.entry.width, o.entry.height, OVERLAY_TILE_SIZE, OVERLAY_TILE_OVERLAP, 'png'));
  });

  r.get('/api/analyses/:aid/overlays/:variant/:method/:dir/:level/:tile', async (req, res) => {
    const a = await ctx.analysis(req.params.aid);
    const { dir } = req.params;
    if (!dir.endsWith('_files')) throw badRequest(`"${dir.slice(0, 100)}" is not <layer>_files`);
    const o = findOverlay(a, req.params.variant, req.params.method, dir.slice(0, -6));
    const level = parseWith(tileLevelSchema, req.params.level, 'tile level');
    const [col, row] = parseWith(tileNameSchema('png'), req.params.tile, 'tile name');
    const query = parseWith(overlayQuerySchema, req.query, 'query', 'colormap=diverging|viridis|magma|gray, min and max: finite numbers');
    const range: [number, number] = [query.min ?? o.entry.range[0], query.max ?? o.entry.range[1]];
    if (range[0] > range[1]) throw badRequest(`min ${range[0]} is above max ${range[1]}`, 'give min <= max');
    const colormap = query.colormap ?? 'diverging';
    const g = dzGeometry(o.entry.width, o.entry.height, OVERLAY_TILE_SIZE, OVERLAY_TILE_OVERLAP);
    const t = dzTile(g, level, col, row);
    if (!t) throw notFound(`overlay ${o.key} has no tile ${level}/${col}_${row} (levels 0..${g.maxLevel})`);
    const key = `ov:${a.dir}@${a.version}:${o.key}:${level}/${col}_${row}:${colormap}:${range[0]}:${range[1]}`;
    const body = await ctx.tiles.render(key, async () => {
      let tile: { rgba: Uint8Array; empty: boolean };
      try {
        tile = await overlayTileRgba(await ctx.store(a, o), t, range, colormap);
      } catch (err) {
        // a running analysis' chunk caught while it is being written: transparent for now (the next version draws it)
        if (!a.running) throw err;
        tile = { rgba: new Uint8Array(t.width * t.height * 4), empty: true };
      }
      const { rgba, empty } = tile;
      // Most of a slide is empty: one transparent PNG per tile size serves them all.
      return empty ? ctx.tiles.get(`ov-empty:${t.width}x${t.height}`, () => encodePng(rgba, t.width, t.height)) : encodePng(rgba, t.width, t.height);
    }, clientGoneSignal(res));
    sendImage(res, 'image/png', body, 'overlay');
  });

  r.get('/results/:aid/*path', async (req, res) => {
    const a = await ctx.analysis(req.params.aid);
    const segments = (req.params as { path?: string[] }).path ?? [];
    await sendResultsFile(res, a.dir, segments);
  });

  return r;
}
