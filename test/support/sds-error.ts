/** The SdsError a call throws or rejects with (the test fails when it returns, or throws anything else). */
import { expect } from 'vitest';
import { SdsError } from '../../core/errors.js';

export async function sdsError(f: (() => unknown) | Promise<unknown>): Promise<SdsError> {
  try {
    await (typeof f === 'function' ? f() : f);
  } catch (err) {
    expect(err).toBeInstanceOf(SdsError);
    return err as SdsError;
  }
  throw new Error('expected an SdsError');
}
