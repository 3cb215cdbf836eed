/** Element types as safetensors names them; .pt storages are mapped onto the same names. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export type HostData = Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/**
 * A tensor in host memory, PyTorch layout (row-major, shape as stored).
 * Floating types (F64/F32/F16/BF16) are always widened/narrowed to a Float32Array: the engine
 * computes in float32. `dtype` keeps the type the file stored.
 */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostData;
}

/** Tensor name -> tensor, in file order. */
export type StateDict = Map<string, HostTensor>;

export function isFloatDType(d: DType): boolean {
  return d === 'F64' || d === 'F32' || d === 'F16' || d === 'BF16';
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
