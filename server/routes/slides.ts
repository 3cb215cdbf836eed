/** Slide routes: the slide list, one slide, its Deep Zoom descriptor and tiles, thumbnail, associated images. */
import { Router, type Response } from 'express';
import { dziXml } from '../../maps/index.js';
import type { ServerContext } from '../context.js';
import { dzGeometry, dzTile } from '../deep-zoom.js';
import { badRequest, notFound } from '../http-error.js';
import { clientGoneSignal } from '../render-queue.js';
import { parseWith, tileLevelSchema, tileNameSchema } from '../schemas.js';
import { SLIDE_TILE_OVERLAP, SLIDE_TILE_SIZE, renderAssociated, renderSlideTile, renderThumbnail } from '../slide-tiles.js';
import type { AnalysisSummary } from '../../contracts/index.js';
import { analysisSummary, matchAnalyses, slideDetail, slideSummary } from '../summaries.js';
import type { SlideEntry } from '../slide-catalog.js';

/**
 * Slide pixels change only when the file is replaced: browsers may keep them a few minutes. Overlay
 * tiles change when an analysis is rerun under the same URL: browsers revalidate them (ETag, 304).
 */
export function sendImage(res: Response, type: 'image/jpeg' | 'image/png', body: Buffer, cache: 'slide' | 'overlay' = 'slide'): void {
  res.set('Cache-Control', cache === 'slide' ? 'public, max-age=300' : 'no-cache').type(type).send(body);
}

/** Analyses per slide id. */
async function analysesBySlide(ctx: ServerContext, slides: SlideEntry[]): Promise<Map<string, AnalysisSummary[]>> {
  const analyses = await ctx.analyses();
  const owner = matchAnalyses(slides, analyses);
  const out = new Map<string, AnalysisSummary[]>();
  for (const a of analyses) {
    const sid = owner.get(a.id);
    if (!sid) continue;
    const list = out.get(sid) ?? [];
    list.push(analysisSummary(a, sid));
    out.set(sid, list);
  }
  return out;
}

function slideGeometry(s: SlideEntry) {
  const l0 = s.info.levels[0]!;
  return dzGeometry(l0.width, l0.height, SLIDE_TILE_SIZE, SLIDE_TILE_OVERLAP);
}

export function slideRoutes(ctx: ServerContext): Router {
  const r = Router();
  const q = ctx.config.jpegQuality;

  r.get('/api/slides', async (_req, res) => {
    const slides = await ctx.slides.list();
    const byslide = await analysesBySlide(ctx, slides);
    res.json(slides.map((s) => slideSummary(s, byslide.get(s.id) ?? [])));
  });

  r.get('/api/slides/:id', async (req, res) => {
    const s = await ctx.slide(req.params.id);
    const byslide = await analysesBySlide(ctx, await ctx.slides.list());
    res.json(slideDetail(s, byslide.get(s.id) ?? []));
  });

  r.get('/slides/:file', async (req, res) => {
    const file = req.params.file;
    if (!file.endsWith('.dzi')) throw badRequest(`"${file.slice(0, 100)}" is not <slide id>.dzi`, 'GET /api/slides gives each slide\'s dzi URL');
    const s = await ctx.slide(file.slice(0, -4));
    const g = slideGeometry(s);
    res.set('Cache-Control', 'no-cache').type('application/xml').send(dziXml(g.width, g.height, g.tileSize, g.overlap, 'jpeg'));
  });

  r.get('/slides/:id/thumbnail.jpg', async (req, res) => {
    const s = await ctx.slide(req.params.id);
    const body = await ctx.tiles.render(`thumb:${s.path}@${s.version}`, () => ctx.slidePool.use(s.path, s.version, (slide) => renderThumbnail(slide, q)), clientGoneSignal(res));
    sendImage(res, 'image/jpeg', body);
  });

  r.get('/slides/:id/associated/:file', async (req, res) => {
    const s = await ctx.slide(req.params.id);
    const m = /^(thumbnail|label|macro)\.jpg$/.exec(req.params.file);
    if (!m) throw badRequest(`associated image "${req.params.file.slice(0, 100)}": expected thumbnail.jpg, label.jpg or macro.jpg`);
    const name = m[1]!;
    if (!s.info.associated.some((a) => a.name === name)) {
      throw notFound(`slide ${s.id} has no ${name} image`, s.info.associated.length ? `it has: ${s.info.associated.map((a) => a.name).join(', ')}` : 'it has no associated images');
    }
    const body = await ctx.tiles.render(`assoc:${s.path}@${s.version}:${name}`, () => ctx.slidePool.use(s.path, s.version, (slide) => renderAssociated(slide, name, q)), clientGoneSignal(res));
    sendImage(res, 'image/jpeg', body);
  });

  r.get('/slides/:dir/:level/:tile', async (req, res) => {
    const { dir } = req.params;
    if (!dir.endsWith('_files')) throw badRequest(`"${dir.slice(0, 100)}" is not <slide id>_files`);
    const s = await ctx.slide(dir.slice(0, -6));
    const level = parseWith(tileLevelSchema, req.params.level, 'tile level');
    const [col, row] = parseWith(tileNameSchema('jpeg'), req.params.tile, 'tile name');
    const g = slideGeometry(s);
    const t = dzTile(g, level, col, row);
    if (!t) throw notFound(`slide ${s.id} has no tile ${level}/${col}_${row} (levels 0..${g.maxLevel}; level ${Math.min(level, g.maxLevel)} has ${g.levels[Math.min(level, g.maxLevel)]!.cols}x${g.levels[Math.min(level, g.maxLevel)]!.rows} tiles)`);
    const body = await ctx.tiles.render(`slide:${s.path}@${s.version}:${level}/${col}_${row}`, () => ctx.slidePool.use(s.path, s.version, (slide) => renderSlideTile(slide, t, q)), clientGoneSignal(res));
    sendImage(res, 'image/jpeg', body);
  });

  return r;
}
