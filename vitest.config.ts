import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    include: [
      'apps/*/src/**/*.test.ts',
      'packages/*/src/**/*.test.ts',
      'infra/dev/src/**/*.test.ts',
      'tests/**/*.test.ts',
      'bench/**/*.test.ts',
    ],
    globalSetup: ['./infra/dev/src/vitest-global-setup.ts'],
    setupFiles: ['./infra/dev/src/vitest-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Temporal servers and workers are heavy on 2 cores: run test files one or two at a time.
    maxWorkers: 2,
    pool: 'forks',
  },
});
