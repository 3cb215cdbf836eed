/**
 * The sds HTTP server (server/API.md): slides and their Deep Zoom tiles, analyses with live overlay
 * tiles, models, analysis jobs with SSE progress, and the viewer. Bound to 127.0.0.1 by default.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import express, { type Express, type RequestHandler } from 'express';
import { parseServerConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { createContext, type ServerContext } from './context.js';
import { errorHandler, HttpError, notFoundHandler } from './http-error.js';
import { hostOfHeader, isLoopbackHost } from './loopback.js';
import { analysisRoutes } from './routes/analyses.js';
import { exportRoutes } from './routes/exports.js';
import { regionRoutes } from './routes/regions.js';
import { jobRoutes } from './routes/jobs.js';
import { slideRoutes } from './routes/slides.js';
import { viewerRoutes } from './routes/viewer.js';
import { viewerConfig } from '../contracts/index.js';
import { SEQUENTIAL_ANCHORS } from '../maps/index.js';
import { LocalQueue, type BatchQueue } from '../queue/index.js';
import { AnalysisJobs } from './jobs.js';

export interface SdsServer {
  app: Express;
  config: ServerConfig;
  context: ServerContext;
  /** Starts listening (config port / host unless given); resolves with the URL. */
  listen(port?: number, host?: string): Promise<{ url: string; port: number; host: string }>;
  /** Stops listening, ends open connections (event streams too), stops a running job, closes open slides. */
  close(): Promise<void>;
}

/**
 * When bound to loopback, only requests addressed to a loopback name are answered: a web page
 * elsewhere cannot reach this server through DNS rebinding. `active()` says whether the server is
 * bound to loopback (the address it listens on, however --host spelled it).
 */
function hostGuard(config: ServerConfig, active: () => boolean): RequestHandler {
  const allowed = new Set(config.allowedHosts.map((h) => h.toLowerCase()));
  return (req, _res, next) => {
    if (!active()) return next();
    const host = hostOfHeader(req.headers.host ?? '').toLowerCase();
    if (isLoopbackHost(host) || allowed.has(host) || allowed.has(host.replace(/^\[(.*)\]$/, '$1'))) return next();
    next(new HttpError(403, 'FORBIDDEN_HOST', `requests must be addressed to localhost or 127.0.0.1, not "${host.slice(0, 100)}"`, 'open the viewer at http://127.0.0.1:<port>/'));
  };
}

/**
 * Requests Node's HTTP parser refuses before express sees them (a request line or headers over
 * 16 KiB, bytes that are not HTTP, a request that never finishes arriving) get a JSON error too.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const busy = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || busy) {
    socket.destroy();
    return;
  }
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'the request line or headers are too large (16 KiB at most)']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'the request did not arrive in time']
    : [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: { code: 'BAD_ARGUMENT', message } });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export interface ServerParts {
  /**
   * Where analysis jobs go: by default a local queue worked in this process; a BullMQ queue
   * (`serve --queue`) hands them to `sds worker`s.
   */
  queue?: BatchQueue;
}

export function createServer(input: ServerConfigInput = {}, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`), parts: ServerParts = {}): SdsServer {
  const config = parseServerConfig(input);
  const ctx = createContext(config, log, ({ results }) =>
    new AnalysisJobs(parts.queue ?? new LocalQueue(), {
      workedBy: parts.queue ? 'workers' : 'here',
      workers: config.workers,
      errorMessage: (err) => (err instanceof Error ? err.message : String(err)),
      async analysisId(dir) {
        results.invalidate();
        const entry = (await results.list()).find((a) => a.dir === dir);
        if (!entry) throw new Error(`the analysis was written to ${dir} but its manifest cannot be read back`);
        return entry.id;
      },
    }),
  );
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', 'weak');
  app.use((_req, res, next) => {
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });
  // Guarded while the address it is bound to is loopback: before listening, the configured host
  // decides; once listening, the socket's own address (so `127.1`, `0:0:0:0:0:0:0:1` or a name from
  // /etc/hosts that resolves to loopback are guarded too).
  let loopback = isLoopbackHost(config.host);
  app.use(hostGuard(config, () => loopback));
  app.use(slideRoutes(ctx));
  app.use(analysisRoutes(ctx));
  app.use(regionRoutes(ctx));
  app.use(jobRoutes(ctx));
  app.use(exportRoutes(ctx));
  app.use(viewerRoutes(ctx));
  // the lists, defaults and colour maps the viewer offers: the same facts the CLI and tiles use
  app.get('/api/config', (_req, res) => res.json(viewerConfig(SEQUENTIAL_ANCHORS)));
  app.use(notFoundHandler);
  app.use(errorHandler(log));

  let server: Server | undefined;
  return {
    app,
    config,
    context: ctx,
    listen(port = config.port, host = config.host) {
      return new Promise((resolve, reject) => {
        const s = app.listen(port, host);
        s.once('error', reject);
        s.on('clientError', answerClientError);
        // Idle keep-alive connections stay open longer than clients keep them (browsers, undici: ~4 s
        // after the server's hint): a server that closes first races a client reusing the socket,
        // whose request then fails with ECONNRESET (seen at 1000 tiles in flight).
        s.keepAliveTimeout = 65_000;
        s.headersTimeout = 66_000;
        s.once('listening', () => {
          server = s;
          const addr = s.address() as AddressInfo;
          loopback = isLoopbackHost(addr.address);
          const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ url: `http://${shown}:${addr.port}/`, port: addr.port, host: addr.address });
        });
      });
    },
    async close() {
      const s = server;
      server = undefined;
      if (s) {
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeAllConnections();
        await closed;
      }
      await ctx.jobs.stop();
      await ctx.exports.stop();
      await ctx.slidePool.close();
      ctx.tiles.clear();
    },
  };
}
