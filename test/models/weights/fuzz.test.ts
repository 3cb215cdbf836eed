/**
 * Issue #14: damaged copies of valid hand-built files (deflated entries with data descriptors,
 * ZIP64, shared storages, expanded views, checkpoints, safetensors) either load or give an
 * SdsError that names what is wrong: never an engine error, never "is corrupt: <engine message>".
 */
import { describe, expect, it } from 'vitest';
import { SdsError } from '../../../core/errors.js';
import { parseSafetensors } from '../../../models/weights/safetensors.js';
import { parseTorchZip } from '../../../models/weights/torch-pickle.js';
import { caseById } from '../../support/hostile-cases.js';
import { floatArchive } from '../../support/hostile-weights.js';

const pt = (b: Uint8Array) => parseTorchZip(b, 'fuzz.pt');
const BASES: [string, () => Uint8Array, (b: Uint8Array) => unknown][] = [
  ['deflated entries with data descriptors', () => caseById('control-deflated-with-descriptors').build(), pt],
  ['ZIP64 with data descriptors', () => caseById('control-zip64-stored-descriptors').build(), pt],
  ['tensors sharing a storage', () => caseById('control-tied-weights').build(), pt],
  ['a checkpoint with opaque objects', () => caseById('control-checkpoint-with-opaque-objects').build(), pt],
  ['an expanded view', () => caseById('control-small-expanded-view').build(), pt],
  ['all entries deflated', () => floatArchive({ a: { shape: [3, 4], values: Array.from({ length: 12 }, (_, i) => i) }, b: { shape: [2], values: [1, 2] } }, { entries: { deflate: true } }), pt],
  ['safetensors', () => caseById('control-safetensors-with-hole').build(), (b) => parseSafetensors(b, 'fuzz.safetensors')],
];

describe('damaged copies of valid weights files (issue #14)', () => {
  it.each(BASES)('%s: 400 damaged copies load or give an SdsError', (_label, make, parse) => {
    const base = make();
    let seed = 20240614;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 400; trial++) {
      const b = base.slice(0, trial % 4 === 0 ? Math.floor(rand() * base.length) : base.length);
      for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
        const r = rand();
        b[Math.floor(rand() * b.length)] = r < 0.3 ? 0xff : r < 0.5 ? 0 : Math.floor(rand() * 256);
      }
      try {
        parse(b);
      } catch (err) {
        if (!(err instanceof SdsError)) throw err;
        expect(err.message).not.toMatch(/is corrupt:/);
        expect(err.suggestion).toBeTruthy();
      }
    }
  });
});
