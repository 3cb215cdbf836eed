/** Server settings, checked once at start (zod), with their defaults. */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SdsError } from '../core/errors.js';

export const DEFAULT_VIEWER_DIR = fileURLToPath(new URL('../viewer/', import.meta.url));

export const serverConfigSchema = z.object({
  /** Folders scanned for slides (.svs, .tif, .tiff). */
  slides: z.array(z.string().min(1)).default([]),
  /** Where analyses are read from and written to. */
  results: z.string().min(1).optional(),
  /** Folder of model weights. */
  models: z.string().min(1).optional(),
  /** Served at / and /viewer/. */
  viewerDir: z.string().min(1).default(DEFAULT_VIEWER_DIR),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(3000),
  /** Worker threads per analysis job (default: the number of cores). */
  workers: z.number().int().min(1).max(256).optional(),
  /** Patches per worker task in jobs. */
  batch: z.number().int().min(1).max(256).default(8),
  /**
   * Tiles rendered at once (slide and overlay tiles, thumbnails; the rest wait, newest first).
   * Default: twice the number of cores.
   */
  renderConcurrency: z.number().int().min(1).max(256).optional(),
  /** Encoded tiles kept in memory, bytes. */
  tileCacheBytes: z.number().int().min(0).default(128 << 20),
  /** Slides kept open at once. */
  maxOpenSlides: z.number().int().min(1).max(1024).default(8),
  /** Decoded TIFF tiles kept per open slide, bytes. */
  slideCacheBytes: z.number().int().min(1 << 20).default(64 << 20),
  /** How often the folders are re-stat'ed to notice new files, ms. */
  rescanMs: z.number().int().min(0).default(1000),
  jpegQuality: z.number().int().min(1).max(100).default(85),
  /** Extra Host header names accepted (besides localhost and loopback addresses) when bound to loopback. */
  allowedHosts: z.array(z.string()).default([]),
});

export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type ServerConfig = z.output<typeof serverConfigSchema>;

export function parseServerConfig(input: ServerConfigInput): ServerConfig {
  const r = serverConfigSchema.safeParse(input);
  if (!r.success) {
    throw new SdsError('BAD_ARGUMENT', `server settings: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}
