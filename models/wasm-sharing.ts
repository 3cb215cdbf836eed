/**
 * On the WASM engine, Identity and same-type Cast copy their whole buffer; the CPU engine shares it
 * (reference count + the same data id). Every backward-hook point and every `tf.clone` is an
 * Identity, so sharing saves a copy of each hooked activation and of its gradient.
 */
import { tf } from './tf.js';

interface RefCounting {
  incRef(dataId: object): void;
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs?: Record<string, unknown> };

function share(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  (backend as RefCounting).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

let done = false;

export function shareWasmBuffers(): void {
  if (done) return;
  const identity = tf.getKernel('Identity', 'wasm');
  const cast = tf.getKernel('Cast', 'wasm');
  if (!identity || !cast) return;
  done = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend }: KernelArgs) => (inputs.x!.dtype === 'string' ? (identity.kernelFunc as (a: KernelArgs) => tf.TensorInfo)({ inputs, backend }) : share(inputs.x!, backend))) as unknown as tf.KernelFunc,
  });
  tf.unregisterKernel('Cast', 'wasm');
  tf.registerKernel({
    kernelName: 'Cast',
    backendName: 'wasm',
    kernelFunc: ((args: KernelArgs) => (args.attrs?.dtype === args.inputs.x!.dtype && args.inputs.x!.dtype !== 'string' ? share(args.inputs.x!, args.backend) : (cast.kernelFunc as (a: KernelArgs) => tf.TensorInfo)(args))) as unknown as tf.KernelFunc,
  });
}
