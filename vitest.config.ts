import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default (one worker fewer than the CPUs) runs the files one at a time on a 2-core
    // machine: 8.5–9 minutes with both databases and the console's browser tests, close to CI's
    // 10-minute budget. Most of a file's time is spent waiting on a database, a child gateway, a
    // provider or Chromium, so two files at once took 6.6–7.8 minutes there (three full runs).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    reporters: ['default'],
  },
});
