import { SdsError } from '../core/errors.js';

/** The one positional the slide commands (info, region) take. */
export function slidePath(positionals: string[], command: string): string {
  const [path, ...extra] = positionals;
  if (!path || extra.length) {
    throw new SdsError('BAD_ARGUMENT', `${command}: expected one slide path, got ${positionals.length ? positionals.map((p) => `"${p}"`).join(' ') : 'none'}`, {
      suggestion: `usage: sds ${command} <slide> ...`,
    });
  }
  return path;
}
