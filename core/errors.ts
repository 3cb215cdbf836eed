/**
 * One error type for everything a user can cause (bad file, bad flag, unknown layer).
 * `code` is stable for scripts and for HTTP mapping; `suggestion` tells the user what to do.
 */
export interface SdsErrorOptions {
  suggestion?: string;
  context?: Record<string, unknown>;
  cause?: unknown;
}

export type SdsErrorCode =
  | 'BAD_ARGUMENT'
  | 'FILE_NOT_FOUND'
  | 'NOT_A_WEIGHTS_FILE'
  | 'WEIGHTS_TRUNCATED'
  | 'WEIGHTS_UNSUPPORTED'
  | 'WEIGHTS_MISMATCH'
  /** A weights file asks for more memory or work than any supported model needs (a bomb, or a limit in models/weights/limits.ts). */
  | 'WEIGHTS_TOO_LARGE'
  | 'UNKNOWN_ARCHITECTURE'
  | 'BAD_INPUT'
  | 'BACKEND_UNAVAILABLE'
  | 'SLIDE_UNREADABLE'
  | 'SLIDE_UNSUPPORTED'
  /** A slide's image, tile or associated image declares more pixels than sds decodes at once. */
  | 'SLIDE_TOO_LARGE'
  | 'ABORTED'
  | 'QUEUE_UNAVAILABLE'
  | 'OUT_OF_MEMORY';

export class SdsError extends Error {
  readonly code: SdsErrorCode;
  readonly suggestion?: string;
  readonly context?: Record<string, unknown>;

  constructor(code: SdsErrorCode, message: string, options: SdsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SdsError';
    this.code = code;
    this.suggestion = options.suggestion;
    this.context = options.context;
  }
}

/** Text for people: the message, then what to do. */
export function formatError(err: unknown): string {
  if (err instanceof SdsError) {
    return err.suggestion ? `error: ${err.message}\n  hint: ${err.suggestion}` : `error: ${err.message}`;
  }
  if (err instanceof Error) {
    // The WASM engine reports exhausted memory this way; say what it means.
    if (/memory access out of bounds|out of memory|Array buffer allocation failed/i.test(err.message)) {
      return `error: out of memory (${err.message})\n  hint: use smaller patches or a smaller --batch; whole slides go through the tiled pipeline`;
    }
    return `error: ${err.message}`;
  }
  return `error: ${String(err)}`;
}
