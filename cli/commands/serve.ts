import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { SdsError } from '../../core/errors.js';
import { initEngine } from '../../models/index.js';
import type { BatchQueue } from '../../queue/index.js';
import { createServer, isLoopbackHost } from '../../server/index.js';
import { defineCommand, opt } from '../args.js';
import { BACKEND_OPTION } from '../common-options.js';
import { handleInterrupts } from '../interrupt.js';
import { connectQueue, QUEUE_OPTIONS } from '../queue-options.js';

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'Serve slides, analyses and live overlays to the web viewer; start analyses from it.',
  usage: 'sds serve [--slides DIR]... [--results DIR] [--models DIR] [--port 3000] [--host 127.0.0.1] [--queue redis://HOST:PORT]',
  schema: z.object({
    slides: opt.list('DIR', 'folder of .svs/.tif/.tiff slides, searched recursively (repeatable)'),
    results: opt.string('DIR', 'analyses are read from and written to DIR/<slide name>/ (default ./sds-results)').default('sds-results'),
    models: opt.string('DIR', 'folder of .safetensors/.pt weights (a <stem>.surrogate.safetensors beside one is its surrogate)').optional(),
    port: opt.int('N', 'port (default 3000; 0: any free port)').min(0).max(65535).default(3000),
    host: opt.string('H', 'address to listen on (default 127.0.0.1: this machine only)').min(1).default('127.0.0.1'),
    workers: opt.int('N', 'worker threads per analysis (default: the number of cores)').min(1).max(256).optional(),
    ...QUEUE_OPTIONS,
    ...BACKEND_OPTION,
  }),
  async run(o, positionals) {
    if (positionals.length) throw new SdsError('BAD_ARGUMENT', `serve takes no positional arguments (got ${positionals.join(' ')})`, { suggestion: 'give slide folders with --slides DIR' });
    for (const [flag, dir] of [...o.slides.map((d) => ['--slides', d] as const), ...(o.models ? [['--models', o.models] as const] : [])]) {
      const s = await stat(dir).catch(() => undefined);
      if (!s?.isDirectory()) throw new SdsError('FILE_NOT_FOUND', `${flag} ${dir}: no such folder`, { suggestion: 'give an existing folder' });
    }
    await mkdir(o.results, { recursive: true });
    // with --queue the viewer's analyses go to the lab's `sds worker`s (the results folder must be one they share)
    const queue: BatchQueue | undefined = o.queue ? await connectQueue({ ...o, queue: o.queue }) : undefined;
    await initEngine({ engine: o.backend });
    const server = createServer({ slides: o.slides.map((d) => resolve(d)), results: resolve(o.results), models: o.models && resolve(o.models), host: o.host, port: o.port, workers: o.workers }, undefined, { queue });
    let url: string;
    try {
      ({ url } = await server.listen());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new SdsError('BAD_ARGUMENT', `port ${o.port} is already in use`, { suggestion: 'pass another --port, or --port 0 for any free one' });
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new SdsError('BAD_ARGUMENT', `cannot listen on --host ${o.host}: no such address here`, { suggestion: 'use 127.0.0.1' });
      throw err;
    }
    const slides = await server.context.slides.list();
    process.stderr.write(`sds: ${slides.length} slide(s) in ${o.slides.length} folder(s); results in ${resolve(o.results)}\n`);
    if (!o.slides.length) process.stderr.write('sds: no slide folders: pass --slides DIR\n');
    if (queue) process.stderr.write(`sds: analyses go to the queue at ${o.queue} (run sds worker --queue ${o.queue} where the slides and results folders are at the same paths)\n`);
    if (!isLoopbackHost(o.host)) process.stderr.write(`sds: warning: listening on ${o.host}: anyone who can reach this address can read the slides and start analyses\n`);
    process.stdout.write(`sds viewer: ${url}\n`);

    // one Ctrl-C is one interruption, though it reaches the launcher and this process both
    const stop = handleInterrupts({ stopping: 'stopping the server (a running analysis keeps its journalled batches)', exitNow: 'a running analysis resumes from its journal when started again' });
    await new Promise<void>((done) => stop.signal.addEventListener('abort', () => done(), { once: true }));
    await server.close();
    stop.dispose();
    // A stopped analysis' worker threads may take a moment; do not hang on them.
    setTimeout(() => process.exit(0), 2000).unref();
    return 0;
  },
});
