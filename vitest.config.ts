import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Model tests run real ResNets on the WASM engine: give them time, and one file per core.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
