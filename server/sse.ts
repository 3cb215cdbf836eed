/** A job's progress as Server-Sent Events: the current state at once, then every change until done or failed. */
import type { Response } from 'express';
import type { AnalysisJobs, JobEvent, JobStatus } from './jobs.js';

const HEARTBEAT_MS = 15_000;

function frame(status: JobStatus): string {
  const event = status.state === 'done' ? 'done' : status.state === 'failed' ? 'failed' : 'progress';
  const data =
    event === 'done' ? { analysis: status.analysis }
    : event === 'failed' ? { error: status.error }
    : { done: status.done, total: status.total, rate: status.rate, eta: status.eta, state: status.state };
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function streamJob(res: Response, jobs: AnalysisJobs, status: JobStatus): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write(frame(status));
  if (status.state === 'done' || status.state === 'failed') {
    res.end();
    return;
  }
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const stop = () => {
    clearInterval(heartbeat);
    unsubscribe();
  };
  const unsubscribe = jobs.subscribe(status.id, (e: JobEvent) => {
    res.write(frame(e.status));
    if (e.type !== 'progress') {
      stop();
      res.end();
    }
  });
  // the response's close is the client going away (the request's close only means its body was read)
  res.on('close', stop);
}
