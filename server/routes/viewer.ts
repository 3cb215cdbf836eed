/** The viewer page and its assets, and OpenSeadragon from node_modules. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { Router } from 'express';
import type { ServerContext } from '../context.js';
import { notFound } from '../http-error.js';

/** node_modules/openseadragon/build/openseadragon, wherever npm put it. */
export function openSeadragonDir(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('openseadragon'));
  } catch {
    return undefined;
  }
}

export function viewerRoutes(ctx: ServerContext): Router {
  const r = Router();
  const dir = ctx.config.viewerDir;
  const statics = { dotfiles: 'ignore', index: false, fallthrough: true, redirect: false } as const;

  r.get('/', (_req, res, next) => {
    const index = join(dir, 'index.html');
    if (!existsSync(index)) throw notFound(`the viewer is not there (${index} is missing)`, 'the API is under /api/');
    res.set('Cache-Control', 'no-cache').sendFile(index, (err) => err && next(err));
  });
  r.use('/viewer', express.static(dir, statics));
  const osd = openSeadragonDir();
  if (osd) r.use('/vendor/openseadragon', express.static(osd, { ...statics, maxAge: '1d' }));
  return r;
}
