// Builds the admin console (src/console, Preact) into dist/console/, which the server serves at /admin.
// Two pages: index.html (operators) and setup.html (customers' IT admins, opened from a setup link), so the setup
// page ships none of the operator console's code. No inline script or style is emitted (the CSP forbids them).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/admin/',
  publicDir: false,
  logLevel: 'warn',
  clearScreen: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../../dist/console/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be injected as an inline script; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    // Fonts and images are never inlined as data: URLs, so the CSP needs no data: source.
    assetsInlineLimit: 0,
    sourcemap: true,
    rollupOptions: {
      input: { index: `${here}index.html`, setup: `${here}setup.html` },
      // The code both pages share (Preact, the UI helpers).
      output: { chunkFileNames: 'assets/shared-[hash].js' },
    },
  },
});
