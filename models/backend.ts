import { existsSync } from 'node:fs';
import { SdsError } from '../core/errors.js';
import { registerConvGradients } from './conv-gradients.js';
import { shareWasmBuffers } from './wasm-sharing.js';
import { tf } from './tf.js';

/** User-facing engine names, in the order the default tries them; the tfjs backend behind each is in `TFJS_NAME`. */
export const ENGINES = ['node-gpu', 'webgpu', 'node', 'wasm', 'cpu'] as const;
export type Engine = (typeof ENGINES)[number];

const TFJS_NAME: Record<Engine, string> = { 'node-gpu': 'tensorflow', webgpu: 'webgpu', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };
const PACKAGE: Partial<Record<Engine, string>> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
};

let active: Engine | undefined;

export function isEngine(s: string): s is Engine {
  return (ENGINES as readonly string[]).includes(s);
}

async function tryEngine(engine: Engine, auto = false): Promise<string | undefined> {
  try {
    const pkg = PACKAGE[engine];
    if (engine === 'webgpu') {
      const why = await provideWebGpu(auto);
      if (why) return why;
    }
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

/**
 * WebGPU in Node: Dawn through the npm `webgpu` package (prebuilt binaries inside it) gives the
 * `navigator.gpu` that tfjs-backend-webgpu looks for. Undefined when an adapter was found, else why not.
 * The default engine tries it only where a GPU device node exists: asking Dawn for an adapter on a
 * machine without one costs time and prints the driver's complaints.
 */
async function provideWebGpu(auto = false): Promise<string | undefined> {
  if (auto && !['/dev/nvidiactl', '/dev/dri/renderD128', '/dev/kfd'].some((p) => existsSync(p))) return 'no GPU device';
  const name = 'webgpu'; // optional dependency: a variable keeps the compiler from requiring its types
  let mod: { create(options: string[]): { requestAdapter(o?: { powerPreference?: string }): Promise<unknown> }; globals: Record<string, unknown> };
  try {
    mod = (await import(name)) as typeof mod;
  } catch {
    return 'the webgpu package is not installed';
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  if (!(await gpu.requestAdapter({ powerPreference: 'high-performance' }))) return 'no WebGPU adapter (no GPU, or no driver Dawn accepts)';
  const nav = (globalThis as { navigator?: object }).navigator;
  Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu }, configurable: true, writable: true });
  return undefined;
}

/** Why the WebGPU engine cannot run here (undefined: it can), for tests and `sds info`-like reports. */
export function webGpuUnavailable(): Promise<string | undefined> {
  return provideWebGpu(false);
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
        suggestion: requested.startsWith('node') ? 'its native binary is missing; use --backend wasm (the default) or cpu' : requested === 'webgpu' ? 'use --backend wasm (the default); WebGPU needs a GPU with a Vulkan/Metal/D3D12 driver' : 'try --backend cpu',
      });
    }
    active = requested;
    announce(`engine ${requested} (requested)`);
    return active;
  }
  const skipped: string[] = [];
  for (const engine of ENGINES) {
    const why = await tryEngine(engine, true);
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
