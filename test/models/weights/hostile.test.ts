/**
 * Issue #14: every hostile or malformed weights file gives an SdsError (code, message, remedy)
 * within 5 s and without resident memory growing more than 200 MB. The cases (and how each file
 * is built) are in test/support/hostile-cases.ts; they run in a child process that a watcher kills
 * when a case runs away, so a regression fails here instead of exhausting the machine.
 */
import { mkdtempSync, openSync, closeSync, ftruncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { loadWeights } from '../../../models/weights/load.js';
import { CASES, type Category, type HostileCase } from '../../support/hostile-cases.js';
import { runHostileCases, type CaseResult } from '../../support/hostile-harness.js';

const LIMIT_MS = 5000;
const LIMIT_MIB = 200;

let results: Map<string, CaseResult>;

beforeAll(async () => {
  results = await runHostileCases(
    CASES.map((c) => c.id),
    { timeoutS: 15, killMiB: 1024 },
  );
}, 600_000);

const categories = [...new Set(CASES.map((c) => c.category))];

function check(c: HostileCase): void {
  const r = results.get(c.id);
  expect(r, `${c.id}: no result`).toBeDefined();
  expect(r!.killed, `${c.id}: ${r!.killed}`).toBeUndefined();
  expect(r!.ms, `${c.id}: took ${r!.ms} ms`).toBeLessThan(LIMIT_MS);
  expect(r!.peakMiB, `${c.id}: resident memory grew by ${r!.peakMiB} MiB`).toBeLessThan(LIMIT_MIB);
  if (c.sideEffect) expect(r!.sideEffect, `${c.id}: the pickle's command ran`).toBe(false);
  if ('loads' in c.expect) {
    expect(r!.error, `${c.id}: ${r!.message}`).toBeUndefined();
    const got = r!.loaded!;
    expect(Object.keys(got).sort()).toEqual(Object.keys(c.expect.loads).sort());
    for (const [k, want] of Object.entries(c.expect.loads)) {
      expect(got[k]!.shape, `${c.id}: ${k}`).toEqual(want.shape);
      if (want.head) expect(got[k]!.head.slice(0, want.head.length), `${c.id}: ${k}`).toEqual(want.head);
    }
    return;
  }
  expect(r!.error, `${c.id}: ${r!.message ?? 'loaded without an error'}`).toBe('SdsError');
  expect(r!.code, `${c.id}: ${r!.message}`).toBe(c.expect.code);
  expect(r!.message).toMatch(c.expect.message);
  // what: the message names the file; remedy: a suggestion
  expect(r!.message).toContain(`${c.id}${c.ext}`);
  expect(r!.suggestion, `${c.id}: no suggestion for "${r!.message}"`).toMatch(/\w{3,}/);
}

describe('hostile weights files (issue #14): SdsError within 5 s and 200 MB', () => {
  for (const category of categories as Category[]) {
    describe(category, () => {
      it.each(CASES.filter((c) => c.category === category).map((c) => [c.id, c] as const))('%s', (_id, c) => check(c));
    });
  }
});

describe('a weights file past the size limit', () => {
  it('is refused by its size, before it is read (a sparse 3 GiB file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sds-huge-'));
    const path = join(dir, 'huge.pt');
    const fd = openSync(path, 'w');
    ftruncateSync(fd, 3 * 2 ** 30);
    closeSync(fd);
    try {
      const t0 = performance.now();
      const err = await loadWeights(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(performance.now() - t0).toBeLessThan(LIMIT_MS);
      expect(err).toBeInstanceOf(SdsError);
      expect((err as SdsError).code).toBe('WEIGHTS_TOO_LARGE');
      expect((err as SdsError).message).toMatch(/huge\.pt is 3 GiB; sds reads weights files up to 2 GiB/);
      expect((err as SdsError).suggestion).toBeTruthy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
