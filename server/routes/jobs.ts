/** Models and jobs: the model list, starting an analysis, a job's state, its event stream, cancelling it. */
import express, { Router } from 'express';
import type { ServerContext } from '../context.js';
import { notFound } from '../http-error.js';
import { checkId } from '../ids.js';
import { validateJob } from '../run-job.js';
import { streamJob } from '../sse.js';
import type { ModelInfo } from '../../contracts/index.js';

export function jobRoutes(ctx: ServerContext): Router {
  const r = Router();

  r.get('/api/models', async (_req, res) => {
    const out: ModelInfo[] = [];
    for (const m of await ctx.models.list()) {
      try {
        out.push((await ctx.models.describe(m)).info);
      } catch (err) {
        // One unreadable weights file should not hide the others.
        ctx.log(`sds serve: model ${m.name} cannot be loaded: ${(err as Error).message}`);
      }
    }
    res.json(out);
  });

  // 1 MiB: room for the regions of interest a request may carry inline (QuPath's GeoJSON)
  r.post('/api/analyses', express.json({ limit: '1mb' }), async (req, res) => {
    const job = await validateJob(ctx, req.body);
    const status = await ctx.jobs.submit(job.slide.id, job.task);
    res.status(202).json({ job: status.id, events: `/api/jobs/${status.id}/events` });
  });

  const job = (id: unknown) => {
    const status = ctx.jobs.get(checkId(id, 'job'));
    if (!status) throw notFound(`no job "${String(id)}"`, 'POST /api/analyses returns the job id');
    return status;
  };

  r.get('/api/jobs', (_req, res) => {
    res.json(ctx.jobs.list());
  });

  r.get('/api/jobs/:job', (req, res) => {
    res.json(job(req.params.job));
  });

  r.get('/api/jobs/:job/events', (req, res) => {
    streamJob(res, ctx.jobs, job(req.params.job));
  });

  // queued: never runs; running here: stops at its next batch (journalled, so starting it again resumes)
  r.delete('/api/jobs/:job', (req, res, next) => {
    // an unknown or malformed id is refused before anything is awaited
    job(req.params.job);
    ctx.jobs
      .cancel(checkId(req.params.job, 'job'))
      .then((status) => {
        if (!status) throw notFound(`no job "${String(req.params.job)}"`, 'POST /api/analyses returns the job id');
        res.status(status.state === 'cancelled' || status.state === 'done' || status.state === 'failed' ? 200 : 202).json(status);
      })
      .catch(next);
  });

  return r;
}
