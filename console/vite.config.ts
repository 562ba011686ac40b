import { defineConfig } from 'vite';

// The gateway serves dist/ under /console/ (console.dir) with a strict CSP: the build must
// contain no inline script or style, so the module-preload polyfill (an inline helper in some
// setups) is off and every asset is a file.
export default defineConfig({
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 1200,
  },
  server: {
    // `npm run dev`: the API of a gateway on :8080 (scripts/demo.sh).
    proxy: { '/v1': 'http://127.0.0.1:8080', '/provider': 'http://127.0.0.1:8080', '/console/config.json': 'http://127.0.0.1:8080' },
  },
});
