import { defineConfig } from 'vitest/config';

// Unit tests of the console's pure logic (money formatting, chart data).
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
