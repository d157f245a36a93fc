import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs backends are global per process: isolate files in forks.
    pool: 'forks',
    maxWorkers: 2,
  },
});
