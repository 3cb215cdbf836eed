import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** ../shared beside the checkout: CI and developers have it, users' clones do not. */
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const FIXTURES = `${SHARED}fixtures/torch-reference/`;
export const hasFixtures = existsSync(`${FIXTURES}resnet18_c3.safetensors`);

if (!hasFixtures) {
  console.warn(`[sds tests] ${FIXTURES} is absent: tests against the PyTorch reference fixtures are skipped`);
}

/** max|a - b| / max|b|: the fixtures' relative-to-own-scale measure. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  if (m === 0) throw new Error('reference is all zeros: a relative tolerance means nothing here');
  return d / m;
}
