/**
 * zod schemas for everything a client sends (path segments, query strings, bodies) and one helper
 * that turns a failed parse into a 400 naming each bad field.
 */
import { z } from 'zod';
import { describeIssues } from '../contracts/index.js';
import { DZI_COLORMAPS } from '../maps/index.js';
import { badRequest } from './http-error.js';

/** Parses or throws 400 "<where>: field: problem; ...". */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string, suggestion?: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw badRequest(describeIssues(r.error, where), suggestion);
}

/** A whole number written in decimal digits, 0..2^31-1. */
const index = z
  .string()
  .regex(/^\d{1,10}$/, 'must be a whole number')
  .transform(Number)
  .refine((n) => n <= 2 ** 31 - 1, 'is too large');

/** `<col>_<row>.<ext>` of a Deep Zoom tile. */
export function tileNameSchema(ext: 'jpeg' | 'png') {
  return z
    .string()
    .regex(new RegExp(`^\\d{1,10}_\\d{1,10}\\.${ext}$`), `must be <col>_<row>.${ext}`)
    .transform((s) => s.slice(0, -(ext.length + 1)).split('_').map(Number) as [number, number])
    .refine(([c, r]) => c <= 2 ** 31 - 1 && r <= 2 ** 31 - 1, 'is too large');
}

export const tileLevelSchema = index;

const finiteNumber = z
  .string()
  .regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'must be a number')
  .transform(Number)
  .refine(Number.isFinite, 'must be finite');

export const overlayQuerySchema = z.object({
  colormap: z.enum(DZI_COLORMAPS).optional(),
  min: finiteNumber.optional(),
  max: finiteNumber.optional(),
});
