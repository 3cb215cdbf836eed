/**
 * Progress as Server-Sent Events: the current state at once, then every change until the work
 * ends (done, failed or cancelled). Analysis jobs and export jobs share the stream; each says how
 * its state reads as an event.
 */
import type { Response } from 'express';
import type { AnalysisJobs, JobEvent, JobStatus } from './jobs.js';

const HEARTBEAT_MS = 15_000;

/** One event: its name, its JSON data, and whether the stream ends after it. */
export interface SseFrame {
  event: string;
  data: unknown;
  final: boolean;
}

/** Anything whose work can be followed by id. */
export interface Followable<S> {
  subscribe(id: string, listener: (e: { status: S }) => void): () => void;
}

function jobFrame(status: JobStatus): SseFrame {
  switch (status.state) {
    case 'done':
      return { event: 'done', data: { analysis: status.analysis }, final: true };
    case 'failed':
      return { event: 'failed', data: { error: status.error }, final: true };
    case 'cancelled':
      return { event: 'cancelled', data: { done: status.done, total: status.total }, final: true };
    default:
      return { event: 'progress', data: { done: status.done, total: status.total, rate: status.rate, eta: status.eta, state: status.state }, final: false };
  }
}

/** Streams `status` and its later changes as `frame` reads them, until a final frame or the client leaves. */
export function streamEvents<S extends { id: string }>(res: Response, source: Followable<S>, status: S, frame: (s: S) => SseFrame): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  const write = (f: SseFrame) => res.write(`event: ${f.event}\ndata: ${JSON.stringify(f.data)}\n\n`);
  const first = frame(status);
  write(first);
  if (first.final) {
    res.end();
    return;
  }
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const stop = () => {
    clearInterval(heartbeat);
    unsubscribe();
  };
  const unsubscribe = source.subscribe(status.id, (e) => {
    const f = frame(e.status);
    write(f);
    if (f.final) {
      stop();
      res.end();
    }
  });
  // the response's close is the client going away (the request's close only means its body was read)
  res.on('close', stop);
}

export function streamJob(res: Response, jobs: AnalysisJobs, status: JobStatus): void {
  streamEvents<JobStatus>(res, { subscribe: (id, l) => jobs.subscribe(id, (e: JobEvent) => l(e)) }, status, jobFrame);
}
