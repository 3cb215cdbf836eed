/** Assertions the slide-format tests share: a refusal is an SdsError with a code, a message and a remedy, and comes quickly. */
import { expect } from 'vitest';
import { SdsError, type SdsErrorCode } from '../../core/errors.js';
import { openSlide, type OpenSlideOptions, type Slide } from '../../slide/index.js';

/** `p` rejects, within 5 s, with an SdsError of `code` whose message matches and which names a remedy. */
export async function expectSdsError(p: Promise<unknown>, code: SdsErrorCode, message: RegExp): Promise<SdsError> {
  const t0 = performance.now();
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').toBeInstanceOf(SdsError);
  const e = err as SdsError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(message);
  expect(e.suggestion).toBeTruthy();
  expect(performance.now() - t0).toBeLessThan(5000);
  return e;
}

/** `fn` on the slide at `path` with its stored levels only (no virtual ones, unless `options` say so), closed after. */
export async function withStoredLevels<T>(path: string, fn: (s: Slide) => Promise<T>, options: OpenSlideOptions = {}): Promise<T> {
  const slide = await openSlide(path, { smallestLevelSize: 0, ...options });
  try {
    return await fn(slide);
  } finally {
    await slide.close();
  }
}
