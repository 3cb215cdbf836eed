/**
 * Export jobs: a finished analysis written for QuPath / OpenSlide from the browser (one overlay as a
 * pyramidal TIFF, or the patches as detection GeoJSON; results/export-*.ts, as `sds export` writes
 * them), with progress (count, rate, ETA) for the SSE stream and a cancel that stops the writer
 * between tiles or patches (its partial file removed). One export runs at a time (each is disk-
 * and CPU-bound; the rest wait in order). Files go to `<analysis folder>/exports/<export id>.<ext>`
 * only, under a name the server makes (never one a client gives); the download's name is given in
 * Content-Disposition. Exports are remembered while the server runs (the files stay on disk).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { ExportRequest, ExportStatus } from '../contracts/index.js';
import { SdsError } from '../core/errors.js';
import type { DziColormap } from '../maps/index.js';
import { exportDetections, exportOverlayTiff } from '../results/index.js';
import type { AnalysisEntry } from './results-catalog.js';

export type { ExportStatus };

/** The folder inside an analysis folder that holds its exports. */
export const EXPORTS_FOLDER = 'exports';

/** Progress events are sent at most this often (a TIFF has thousands of tiles), and at the end. */
const EMIT_MS = 100;

export interface ExportEvent {
  type: 'progress' | 'done' | 'failed' | 'cancelled';
  status: ExportStatus;
}

interface ExportJob {
  status: ExportStatus;
  request: ExportRequest;
  analysisDir: string;
  /** where the file is written (inside `<analysisDir>/exports/`) */
  path: string;
  stop: AbortController;
  started?: number;
  lastEmit: number;
  /** resolves when the job has ended (done, failed, cancelled) */
  ended: Promise<void>;
  end: () => void;
}

const isFinal = (s: ExportStatus) => s.state === 'done' || s.state === 'failed' || s.state === 'cancelled';

/** A file name for the download: the slide's stem and the overlay, in the characters ids use. */
function downloadName(a: AnalysisEntry, r: ExportRequest): string {
  const stem = basename(a.manifest.slide.name, extname(a.manifest.slide.name)).replace(/[^A-Za-z0-9._-]/g, '_') || 'slide';
  return r.kind === 'tiff' ? `${stem}_${r.overlay.replaceAll('/', '_')}.tif` : `${stem}_detections.geojson`;
}

export class ExportJobs {
  private readonly jobs = new Map<string, ExportJob>();
  private readonly events = new EventEmitter();
  /** the export running now, then the next: one at a time */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly o: { errorMessage(err: unknown): string; keep?: number }) {
    this.events.setMaxListeners(0);
  }

  /** Queues an export of analysis `a` (already checked: the overlay exists, the colour map is known). */
  start(a: AnalysisEntry, request: ExportRequest): ExportStatus {
    const id = randomUUID();
    const ext = request.kind === 'tiff' ? 'tif' : 'geojson';
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const job: ExportJob = {
      request,
      analysisDir: a.dir,
      path: join(a.dir, EXPORTS_FOLDER, `${id}.${ext}`),
      stop: new AbortController(),
      lastEmit: 0,
      ended,
      end,
      status: { id, analysis: a.id, kind: request.kind, ...(request.kind === 'tiff' ? { overlay: request.overlay } : {}), state: 'queued', done: 0, total: 0, unit: request.kind === 'tiff' ? 'tiles' : 'patches', rate: 0, eta: null, name: downloadName(a, request) },
    };
    this.jobs.set(id, job);
    this.forgetOld();
    this.tail = this.tail.then(() => this.run(job));
    return { ...job.status };
  }

  get(id: string): ExportStatus | undefined {
    const j = this.jobs.get(id);
    return j && { ...j.status };
  }

  /** The finished file of export `id`: its path and download name; undefined unless it is done. */
  file(id: string): { path: string; name: string } | undefined {
    const j = this.jobs.get(id);
    return j?.status.state === 'done' ? { path: j.path, name: j.status.name! } : undefined;
  }

  subscribe(id: string, listener: (e: ExportEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /**
   * Cancels export `id` (undefined when unknown): a queued one never runs, a running one stops
   * before its next tile or patch and its partial file is removed; answered once it has stopped.
   * A finished export is left as it is.
   */
  async cancel(id: string): Promise<ExportStatus | undefined> {
    const j = this.jobs.get(id);
    if (!j) return undefined;
    if (isFinal(j.status)) return { ...j.status };
    j.stop.abort();
    if (j.status.state === 'queued') this.finish(j, 'cancelled');
    await j.ended;
    return { ...j.status };
  }

  /** Stops every export (server shutdown). */
  async stop(): Promise<void> {
    for (const j of this.jobs.values()) if (!isFinal(j.status)) j.stop.abort();
    await this.tail;
  }

  private async run(j: ExportJob): Promise<void> {
    if (isFinal(j.status)) return;
    // stopped while it waited (server shutdown): it never starts
    if (j.stop.signal.aborted) return this.finish(j, 'cancelled');
    j.status.state = 'running';
    j.started = performance.now();
    this.emit(j, 'progress');
    const onProgress = (done: number, total: number) => this.progress(j, done, total);
    try {
      await mkdir(join(j.analysisDir, EXPORTS_FOLDER), { recursive: true });
      const r = j.request;
      if (r.kind === 'tiff') {
        await exportOverlayTiff(j.analysisDir, {
          overlay: r.overlay,
          out: j.path,
          colormap: r.colormap as DziColormap | undefined,
          range: r.range,
          fullResolution: r.fullResolution,
          compression: r.compression,
          quality: r.quality,
          tileSize: r.tileSize,
          signal: j.stop.signal,
          onProgress,
        });
      } else {
        await exportDetections(j.analysisDir, { out: j.path, signal: j.stop.signal, onProgress });
      }
      j.status.bytes = (await stat(j.path)).size;
      j.status.file = `/api/exports/${j.status.id}/file`;
      j.status.done = j.status.total;
      this.finish(j, 'done');
    } catch (err) {
      if (j.stop.signal.aborted || (err instanceof SdsError && err.code === 'ABORTED')) this.finish(j, 'cancelled');
      else this.finish(j, 'failed', this.o.errorMessage(err));
    }
  }

  private progress(j: ExportJob, done: number, total: number): void {
    const s = j.status;
    const secs = j.started === undefined ? 0 : (performance.now() - j.started) / 1000;
    s.done = done;
    s.total = total;
    s.rate = secs > 0 ? done / secs : 0;
    s.eta = s.rate > 0 ? Math.max(0, total - done) / s.rate : null;
    const now = performance.now();
    if (done === total || now - j.lastEmit >= EMIT_MS) {
      j.lastEmit = now;
      this.emit(j, 'progress');
    }
  }

  private finish(j: ExportJob, state: 'done' | 'failed' | 'cancelled', error?: string): void {
    if (isFinal(j.status)) return;
    j.status.state = state;
    j.status.eta = state === 'done' ? 0 : null;
    if (error) j.status.error = error;
    this.emit(j, state);
    j.end();
  }

  private emit(j: ExportJob, type: ExportEvent['type']): void {
    this.events.emit(j.status.id, { type, status: { ...j.status } });
  }

  /** Finished exports beyond `keep` are forgotten, oldest first (their files stay on disk). */
  private forgetOld(): void {
    const keep = this.o.keep ?? 200;
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= keep) break;
      if (isFinal(j.status)) this.jobs.delete(id);
    }
  }
}
