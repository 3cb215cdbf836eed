/**
 * What the server needs from an analysis manifest (pipeline/outputs.ts `Manifest`), checked with zod
 * so a half-written or foreign manifest.json is skipped rather than served. Unknown fields pass.
 */
import { z } from 'zod';

export const overlayEntrySchema = z.looseObject({
  variant: z.string(),
  method: z.string().optional(),
  layer: z.string(),
  downsample: z.number().positive(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  range: z.tuple([z.number(), z.number()]),
  store: z.string(),
  dzi: z.string(),
});

export const manifestSchema = z.looseObject({
  version: z.number(),
  slide: z.looseObject({ path: z.string(), name: z.string(), width: z.number(), height: z.number() }),
  model: z.looseObject({ weights: z.string(), arch: z.string(), surrogate: z.string().optional() }),
  patches: z.looseObject({ size: z.number(), level: z.number(), overlap: z.number(), count: z.number() }),
  tissueMask: z.string(),
  overlays: z.array(overlayEntrySchema),
  outputs: z.array(overlayEntrySchema).optional(),
  seconds: z.number(),
  created: z.string(),
});

export type ManifestData = z.infer<typeof manifestSchema>;
export type OverlayEntryData = z.infer<typeof overlayEntrySchema>;
