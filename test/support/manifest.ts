/** A complete manifest (contracts/manifest.ts) around the fields a test cares about. */
import type { Manifest } from '../../contracts/index.js';

export function syntheticManifest(m: Pick<Manifest, 'slide' | 'overlays'> & Partial<Manifest>): Manifest {
  return {
    version: 1,
    model: { weights: 'random:resnet18', arch: 'resnet18' },
    patches: { size: 256, level: 0, overlap: 0, count: 1 },
    tissueMask: 'tissue-mask.png',
    seconds: 0,
    created: '2026-01-01T00:00:00.000Z',
    ...m,
  };
}
