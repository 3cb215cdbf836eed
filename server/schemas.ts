/**
 * zod schemas for everything a client sends (path segments, query strings, bodies) and one helper
 * that turns a failed parse into a 400 naming each bad field.
 */
import { z } from 'zod';
import { DZI_COLORMAPS } from '../maps/index.js';
import { badRequest } from './http-error.js';

/** Parses or throws 400 "<where>: field: problem; ...". */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string, suggestion?: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
  throw badRequest(`${where}: ${issues}`, suggestion);
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

export const METHOD_NAMES = ['grad', 'deeplift', 'ig'] as const;
export const VARIANT_NAMES = ['original', 'backward-hook', 'forward-hook', 'surrogate'] as const;
const idString = z.string().regex(/^[A-Za-z0-9._-]{1,512}$/, 'must be an id (letters, digits, . _ -)').refine((s) => s !== '.' && s !== '..', 'must be an id');

export const analysisRequestSchema = z.strictObject({
  slide: idString,
  model: idString,
  layers: z.array(z.string().regex(/^[A-Za-z0-9_]{1,32}$/, 'must be a layer name such as 1_1')).min(1, 'give at least one layer').max(64),
  methods: z.array(z.enum(METHOD_NAMES)).min(1, 'give at least one method'),
  variants: z.array(z.enum(VARIANT_NAMES)).min(1, 'give at least one variant'),
  patch: z.number().int().min(32).max(4096).default(256),
  overlap: z.number().int().min(0).max(4095).default(0),
});

export type AnalysisRequest = z.infer<typeof analysisRequestSchema>;
