import { SdsError } from '../../core/errors.js';
import { decodeBFloat16, decodeHalf } from './float16.js';
import type { DType, HostData } from './types.js';

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/**
 * Little-endian raw bytes -> HostData (floats as Float32Array). Copies, so the result never
 * aliases a file buffer and works at any byte alignment.
 */
export function decodeRaw(dtype: DType, bytes: Uint8Array, offset: number, count: number): HostData {
  const n = count * DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, n);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case 'F16':
      return decodeHalf(bytes, offset, count);
    case 'BF16':
      return decodeBFloat16(bytes, offset, count);
    case 'I64': {
      const out = new BigInt64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getBigInt64(i * 8, true);
      return out;
    }
    case 'I32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    case 'I16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      return out;
    }
    case 'I8':
      return new Int8Array(bytes.slice(offset, offset + n).buffer);
    case 'U8':
    case 'BOOL':
      return bytes.slice(offset, offset + n);
    default:
      throw new SdsError('WEIGHTS_UNSUPPORTED', `unsupported element type ${String(dtype)}`);
  }
}
