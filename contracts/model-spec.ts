/**
 * Which model: a weights file (architecture inferred from its keys or metadata unless named), or a
 * seeded random model for trying the pipeline without weights. Plain JSON: it crosses machines in
 * queue jobs and worker threads. models/ opens and describes it (`openModel`, `describeModel`).
 */
import { z } from 'zod';

export const modelSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('file'), weights: z.string().min(1), arch: z.string().min(1).optional() }),
  z.strictObject({ kind: z.literal('random'), arch: z.string().min(1), classes: z.number().int().min(1).max(1000), seed: z.number().int() }),
]);

export type ModelSpec = z.infer<typeof modelSpecSchema>;
