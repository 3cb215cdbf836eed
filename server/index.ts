/** The sds HTTP server: slides, Deep Zoom tiles, analyses, live overlays, models and jobs (server/API.md). */
export { createServer, type SdsServer } from './app.js';
export { parseServerConfig, serverConfigSchema, DEFAULT_VIEWER_DIR, type ServerConfig, type ServerConfigInput } from './config.js';
export type { AnalysisSummary, OverlayInfo, SlideSummary, SlideDetail, JobStatus, JobState, ModelInfo, ViewerConfig } from '../contracts/index.js';
export { RANDOM_MODEL_ID } from './model-catalog.js';
export type { ErrorBody } from './http-error.js';
export { idFromRelative, ID_PATTERN } from './ids.js';
export { isLoopbackHost } from './loopback.js';
