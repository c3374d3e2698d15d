// The dashboard's build: `npm run build:dashboard` (run by `npm install` / `npm ci` through `prepare`).
// Output: dashboard/dist/ (index.html and hashed files under assets/), served from memory by the
// admin listener (src/admin/dashboard-assets.ts). No inline script or style: the page runs under a
// strict Content-Security-Policy.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
});
