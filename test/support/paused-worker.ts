/**
 * `sds worker` that holds still after the first journalled batch of each chunk (for longer than any
 * test), so the queue's crash test can SIGKILL it mid-chunk deterministically. Same flags as
 * `sds worker`; run as `node --no-wasm-dynamic-tiering --import tsx test/support/paused-worker.ts ...`.
 */
import { parseCommandArgs } from '../../cli/args.js';
import { runQueueWorker, workerCommand } from '../../cli/commands/worker.js';

const HOLD_MS = 600_000;
const { options } = parseCommandArgs(workerCommand, process.argv.slice(2));
process.exitCode = await runQueueWorker(options, { chunk: { afterBatch: () => new Promise<void>((ok) => setTimeout(ok, HOLD_MS)) } });
