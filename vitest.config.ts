import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One GPU device per worker process; lavapipe already uses every core.
    pool: 'forks',
    maxWorkers: 2,
    // A cold Mesa shader cache compiles each GEMM variant in seconds on lavapipe: the conv tests need minutes then.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
  },
});
