// Worker entry: TypeScript through tsx, like bin/sds.js. V8 flags (--no-wasm-dynamic-tiering)
// are process-wide, so workers inherit the launcher's.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
