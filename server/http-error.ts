/**
 * Errors as the API returns them: `{ error: { code, message, suggestion } }` with 400 / 403 / 404 /
 * 500. SdsErrors from the reader and the pipeline map to a status by their code; anything else is a
 * 500 whose message is generic, so internals (stacks, paths in library messages) never reach a client.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { SdsError } from '../core/errors.js';

export type HttpErrorCode = 'BAD_ARGUMENT' | 'NOT_FOUND' | 'FORBIDDEN_HOST' | 'INTERNAL';

export class HttpError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 500,
    readonly code: HttpErrorCode | string,
    message: string,
    readonly suggestion?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Work dropped because no client waits for it any more (it disconnected while its tile waited to be
 * rendered). Nothing is sent and nothing is logged: there is no one to answer.
 */
export class ClientGone extends Error {
  constructor() {
    super('the client disconnected before its tile was rendered');
    this.name = 'ClientGone';
  }
}

export const badRequest = (message: string, suggestion?: string): HttpError => new HttpError(400, 'BAD_ARGUMENT', message, suggestion);
export const notFound = (message: string, suggestion?: string): HttpError => new HttpError(404, 'NOT_FOUND', message, suggestion);

export interface ErrorBody {
  error: { code: string; message: string; suggestion?: string };
}

const INTERNAL = { status: 500, body: { error: { code: 'INTERNAL', message: 'internal server error', suggestion: 'see the server log' } } } as const;

/**
 * Status and body for any thrown value. SdsErrors that reach a route: BAD_ARGUMENT is the client's
 * (contract checks of what it sent: 400 with the message); a file that vanished after it was listed
 * is a 404 without its path; anything else (BAD_INPUT: a corrupt slide, store or manifest on the
 * server's disk; engine failures) is the server's: a logged 500 that says nothing of paths.
 */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...(err.suggestion ? { suggestion: err.suggestion } : {}) } } };
  }
  if (err instanceof SdsError) {
    if (err.code === 'BAD_ARGUMENT') return { status: 400, body: { error: { code: err.code, message: err.message, ...(err.suggestion ? { suggestion: err.suggestion } : {}) } } };
    if (err.code === 'FILE_NOT_FOUND') return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'a file behind this resource is no longer on the server (moved or deleted)', suggestion: 'reload the slide list' } } };
    return INTERNAL;
  }
  // express / body-parser / router errors carry a 4xx status (malformed JSON, bad %-encoding, body too large).
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (err as { type?: unknown }).type;
    const message =
      type === 'entity.parse.failed' ? 'the request body is not valid JSON'
      : type === 'entity.too.large' ? 'the request body is too large'
      : err instanceof URIError || /URI/.test(String((err as Error).message)) ? 'the URL has a malformed %-escape'
      : 'bad request';
    return { status: status === 404 ? 404 : 400, body: { error: { code: status === 404 ? 'NOT_FOUND' : 'BAD_ARGUMENT', message } } };
  }
  return INTERNAL;
}

/** The last middleware: JSON errors, logged once when they are the server's fault. */
export function errorHandler(log: (line: string) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (err instanceof ClientGone || res.destroyed) {
      // the client went away: nobody to answer; a server fault still goes to the log
      if (!(err instanceof ClientGone) && errorResponse(err).status >= 500) log(`${req.method} ${req.path} (client gone): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (!res.destroyed) res.destroy();
      return;
    }
    const { status, body } = errorResponse(err);
    if (status >= 500) log(`${req.method} ${req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).type('application/json').send(JSON.stringify(body));
  };
}

/** Unmatched routes: a JSON 404 rather than express's HTML page. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(notFound(`no such resource: ${req.method} ${req.path.slice(0, 200)}`, 'see server/API.md for the routes'));
};
