import { defineConfig } from 'vitest/config';

// The browser tests: one real stack (Postgres, anvil with the contracts, mock-llm, the built
// `tollgate` serving console/dist), headless Debian Chromium driven by playwright-core.
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['verbose'],
  },
});
