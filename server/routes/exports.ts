/**
 * Export routes (server/API.md): start an export of a finished analysis (TIFF of one overlay for
 * QuPath / OpenSlide, or detection GeoJSON), follow it over SSE, cancel it, download the file.
 * The body is the contract's `exportRequestSchema` (the same options as `sds export`); the overlay
 * and colour map are checked here so a bad one is a 400 before any work starts.
 */
import express, { Router } from 'express';
import { exportRequestSchema, type ExportStatus } from '../../contracts/index.js';
import { DZI_COLORMAPS } from '../../maps/index.js';
import type { ServerContext } from '../context.js';
import type { ExportEvent } from '../exports.js';
import { badRequest, notFound } from '../http-error.js';
import { checkId } from '../ids.js';
import { regularFileInside } from '../safe-path.js';
import { parseWith } from '../schemas.js';
import { streamEvents, type SseFrame } from '../sse.js';

function exportFrame(s: ExportStatus): SseFrame {
  switch (s.state) {
    case 'done':
      return { event: 'done', data: { file: s.file, name: s.name, bytes: s.bytes, done: s.done, total: s.total }, final: true };
    case 'failed':
      return { event: 'failed', data: { error: s.error }, final: true };
    case 'cancelled':
      return { event: 'cancelled', data: { done: s.done, total: s.total }, final: true };
    default:
      return { event: 'progress', data: { state: s.state, done: s.done, total: s.total, unit: s.unit, rate: s.rate, eta: s.eta }, final: false };
  }
}

const WHERE = 'POST /api/analyses/<id>/exports returns the export id';

export function exportRoutes(ctx: ServerContext): Router {
  const r = Router();

  r.post('/api/analyses/:aid/exports', express.json({ limit: '16kb' }), async (req, res) => {
    const a = await ctx.analysis(req.params.aid);
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      throw badRequest('the body must be a JSON object (Content-Type: application/json)', 'e.g. {"kind": "tiff", "overlay": "original/grad/1_1"} or {"kind": "detections"}');
    }
    const body = parseWith(exportRequestSchema, req.body, 'export request');
    if (a.running) throw badRequest(`analysis ${a.id} is still running`, 'export it when it is done');
    if (body.kind === 'tiff') {
      const all = [...a.overlays, ...a.outputs];
      if (!all.some((o) => o.key === body.overlay)) throw badRequest(`overlay: analysis ${a.id} has no overlay "${body.overlay}"`, `it has: ${all.map((o) => o.key).join(', ') || 'none'}`);
      if (body.colormap !== undefined && !(DZI_COLORMAPS as readonly string[]).includes(body.colormap)) {
        throw badRequest(`colormap: "${body.colormap}" is not a colour map`, `choose one of: ${DZI_COLORMAPS.join(', ')}`);
      }
    }
    const status = ctx.exports.start(a, body);
    res.status(202).json({ export: status.id, events: `/api/exports/${status.id}/events`, status });
  });

  const status = (id: unknown) => {
    const s = ctx.exports.get(checkId(id, 'export'));
    if (!s) throw notFound(`no export "${String(id)}"`, WHERE);
    return s;
  };

  r.get('/api/exports/:id', (req, res) => {
    res.json(status(req.params.id));
  });

  r.get('/api/exports/:id/events', (req, res) => {
    streamEvents<ExportStatus>(res, { subscribe: (id, l) => ctx.exports.subscribe(id, (e: ExportEvent) => l(e)) }, status(req.params.id), exportFrame);
  });

  // queued: never runs; running: stops before its next tile or patch, its partial file removed
  r.delete('/api/exports/:id', async (req, res) => {
    status(req.params.id);
    res.json(await ctx.exports.cancel(req.params.id));
  });

  r.get('/api/exports/:id/file', async (req, res) => {
    const s = status(req.params.id);
    const file = ctx.exports.file(s.id);
    if (!file) throw notFound(`export ${s.id} has no file (${s.state})`, 'download it when its event stream says done');
    // written by this server under the analysis folder; still a regular file there (not swapped for a link out)
    const a = await ctx.analysis(s.analysis);
    const real = await regularFileInside(a.dir, file.path);
    if (!real) throw notFound(`the file of export ${s.id} is no longer on the server`, 'export it again');
    res.download(real.real, file.name, { dotfiles: 'allow', headers: { 'Cache-Control': 'no-store' } });
  });

  return r;
}
