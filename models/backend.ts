import { SdsError } from '../core/errors.js';
import { registerConvGradients } from './conv-gradients.js';
import { shareWasmBuffers } from './wasm-sharing.js';
import { tf } from './tf.js';

/** User-facing engine names; the tfjs backend behind each is in `TFJS_NAME`. */
export const ENGINES = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type Engine = (typeof ENGINES)[number];

const TFJS_NAME: Record<Engine, string> = { 'node-gpu': 'tensorflow', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };
const PACKAGE: Partial<Record<Engine, string>> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
};

let active: Engine | undefined;

export function isEngine(s: string): s is Engine {
  return (ENGINES as readonly string[]).includes(s);
}

async function tryEngine(engine: Engine): Promise<string | undefined> {
  try {
    const pkg = PACKAGE[engine];
    // Optional packages: a failed native install leaves them absent or unloadable; that is not an error.
    if (pkg) await import(pkg);
    if (!(await tf.setBackend(TFJS_NAME[engine]))) return 'backend did not initialise';
    await tf.ready();
    registerConvGradients();
    // on by default (all fixture suites pass with it); SDS_WASM_COPY=1 restores the engine's copying kernels
    if (engine === 'wasm' && process.env.SDS_WASM_COPY !== '1') shareWasmBuffers();
    return undefined;
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    return msg.split('\n')[0];
  }
}

export interface EngineOptions {
  /** Engine name; default: $SDS_BACKEND, else the fastest that loads. */
  engine?: string;
  /** Print the choice to stderr (once per process). Default true. */
  announce?: boolean;
}

/**
 * Picks the engine once per process: tfjs-node-gpu, tfjs-node, WASM, CPU, in that order,
 * unless `--backend` / SDS_BACKEND names one (then it must load, or we stop with a clear error).
 */
export async function initEngine(options: EngineOptions = {}): Promise<Engine> {
  const requested = options.engine ?? process.env.SDS_BACKEND ?? undefined;
  if (active && (!requested || requested === active)) return active;
  const announce = (line: string) => {
    if (options.announce !== false) process.stderr.write(`sds: ${line}\n`);
  };
  if (requested) {
    if (!isEngine(requested)) {
      throw new SdsError('BAD_ARGUMENT', `unknown engine "${requested}"`, { suggestion: `use one of: ${ENGINES.join(', ')}` });
    }
    const why = await tryEngine(requested);
    if (why) {
      throw new SdsError('BACKEND_UNAVAILABLE', `engine ${requested} could not be loaded: ${why}`, {
        suggestion: requested.startsWith('node') ? 'its native binary is missing; use --backend wasm (the default) or cpu' : 'try --backend cpu',
      });
    }
    active = requested;
    announce(`engine ${requested} (requested)`);
    return active;
  }
  const skipped: string[] = [];
  for (const engine of ENGINES) {
    const why = await tryEngine(engine);
    if (!why) {
      active = engine;
      announce(`engine ${engine}${skipped.length ? ` (${skipped.join('; ')})` : ''}`);
      return active;
    }
    if (!engine.startsWith('node')) skipped.push(`${engine}: ${why}`);
    else skipped.push(`${engine}: not installed`);
  }
  throw new SdsError('BACKEND_UNAVAILABLE', `no TensorFlow.js engine could be loaded (${skipped.join('; ')})`);
}

export function activeEngine(): Engine | undefined {
  return active;
}
