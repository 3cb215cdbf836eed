/** Everything the routes share: catalogs, open slides and stores, tile caches, the job queue. */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { SlideTask } from '../contracts/index.js';
import { SdsError } from '../core/errors.js';
import { FloatStore } from '../maps/index.js';
import type { ServerConfig } from './config.js';
import { checkId } from './ids.js';
import { notFound } from './http-error.js';
import { ExportJobs } from './exports.js';
import type { AnalysisJobs } from './jobs.js';
import { Lru } from './lru.js';
import { ModelCatalog } from './model-catalog.js';
import { ResultsCatalog, type AnalysisEntry, type OverlayRef } from './results-catalog.js';
import { regularFileInside } from './safe-path.js';
import { SlideCatalog, type SlideEntry } from './slide-catalog.js';
import { SlidePool } from './slide-pool.js';
import { EncodedTileCache } from './tile-cache.js';
import { RenderQueue } from './render-queue.js';
import { RunningAnalyses } from './running-analyses.js';
import type { ModelEntry } from './model-catalog.js';

/** A validated job: the catalog entries it names and the queue task it becomes. */
export interface JobRequest {
  slide: SlideEntry;
  model: ModelEntry;
  task: SlideTask;
}

export interface ServerContext {
  config: ServerConfig;
  log: (line: string) => void;
  slides: SlideCatalog;
  results: ResultsCatalog;
  models: ModelCatalog;
  slidePool: SlidePool;
  /** Encoded tiles; `tiles.render` waits in `renderQueue`. */
  tiles: EncodedTileCache;
  /** Every tile render (slide, overlay, thumbnail, associated image) waits here, newest first. */
  renderQueue: RenderQueue;
  jobs: AnalysisJobs;
  /** Exports of finished analyses made from the browser (server/exports.ts). */
  exports: ExportJobs;
  /** Finished analyses (the results catalog), then those this server's jobs are writing now. */
  analyses(): Promise<AnalysisEntry[]>;
  /** The slide with this URL id, or 404. */
  slide(id: unknown): Promise<SlideEntry>;
  /** The analysis with this URL id, or 404. */
  analysis(id: unknown): Promise<AnalysisEntry>;
  /** The float store behind an overlay, opened once per manifest version. */
  store(a: AnalysisEntry, o: OverlayRef): Promise<FloatStore>;
}

/**
 * Twice the cores: a tile render waits on file reads and on libuv's threads (sharp) as well as
 * computing, so one per core leaves cores idle. Measured on 2 cores, 1000 cold slide tiles in
 * flight: 94 tiles/s at 2, 143 at 4, 135 at 8 (the burst: 10.1 s, 7.5 s, 10.0 s).
 */
const DEFAULT_RENDER_CONCURRENCY = () => 2 * availableParallelism();

export function createContext(config: ServerConfig, log: (line: string) => void, jobs: (catalogs: { results: ResultsCatalog }) => AnalysisJobs): ServerContext {
  const slides = new SlideCatalog({ folders: config.slides, rescanMs: config.rescanMs, log });
  const results = new ResultsCatalog({ folder: config.results, rescanMs: config.rescanMs, log });
  const models = new ModelCatalog({ folder: config.models, rescanMs: config.rescanMs, log });
  const renderQueue = new RenderQueue(config.renderConcurrency ?? DEFAULT_RENDER_CONCURRENCY());
  // Open float stores, each with a 32-chunk cache (32 MiB with the default 512 px chunks): newest-first
  // rendering interleaves the newest view's tiles with older ones, and with 8 chunks every switch
  // re-read its chunk (17.4 CPU ms per cold overlay tile at 256 in flight against 14.2 with 32).
  // At most 8 stores: 256 MiB of chunks in the worst case.
  const stores = new Lru<Promise<FloatStore>>({ capacity: 8 });
  const analysisJobs = jobs({ results });
  const running = new RunningAnalyses({ root: () => results.root(), slides: () => slides.list(), running: () => analysisJobs.running() });
  const analyses = async () => {
    const done = await results.list();
    const ids = new Set(done.map((a) => a.id));
    // a job's manifest may be on disk a moment before the job says it is done: listed once
    return [...done, ...(await running.list()).filter((a) => !ids.has(a.id))];
  };
  const ctx: ServerContext = {
    config,
    log,
    slides,
    results,
    models,
    slidePool: new SlidePool({ maxOpen: config.maxOpenSlides, cacheBytes: config.slideCacheBytes }),
    tiles: new EncodedTileCache(config.tileCacheBytes, renderQueue),
    renderQueue,
    jobs: analysisJobs,
    // an export's own refusals (SdsError) are told as they are; anything else only in the log (no paths to clients)
    exports: new ExportJobs({ errorMessage: (err) => (err instanceof SdsError ? err.message.split('\n')[0]! : (log(`export failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`), 'the export failed; see the server log')) }),
    analyses,
    async slide(id) {
      const entry = await slides.get(checkId(id, 'slide'));
      if (!entry) throw notFound(`no slide "${String(id)}"`, 'GET /api/slides lists the slides');
      return entry;
    },
    async analysis(id) {
      const aid = checkId(id, 'analysis');
      const entry = (await results.get(aid)) ?? (await running.list()).find((a) => a.id === aid);
      if (!entry) throw notFound(`no analysis "${String(id)}"`, "a slide's analyses are listed by GET /api/slides/<id>");
      return entry;
    },
    store(a, o) {
      const key = `${a.id}@${a.version}:${o.key}`;
      let s = stores.get(key);
      if (!s) {
        s = (async () => {
          // The manifest names the store; it must still lie inside the analysis folder.
          const dir = await regularFileInside(a.dir, join(a.dir, o.entry.store, '.zattrs'));
          if (!dir) throw notFound(`the float store of overlay ${o.key} is missing from analysis ${a.id}`, 'run the analysis again');
          return FloatStore.open(join(dir.real, '..'), { cacheChunks: 32 });
        })();
        s.catch(() => stores.get(key) === s && stores.delete(key));
        stores.set(key, s);
      }
      return s;
    },
  };
  return ctx;
}
