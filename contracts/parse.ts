/** One way to check a value against a contract: a zod parse whose failure names every bad field. */
import type { z } from 'zod';
import { SdsError, type SdsErrorCode } from '../core/errors.js';

/** "<where>: field: problem; ..." for each issue. */
export function describeIssues(error: z.ZodError, where: string): string {
  return `${where}: ${error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}`;
}

/** Parses or throws an SdsError naming each bad field. */
export function parseContract<S extends z.ZodType>(schema: S, value: unknown, where: string, o: { code?: SdsErrorCode; suggestion?: string } = {}): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new SdsError(o.code ?? 'BAD_ARGUMENT', describeIssues(r.error, where), { suggestion: o.suggestion });
}
