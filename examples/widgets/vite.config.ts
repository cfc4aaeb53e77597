// Built by `make widgets` (and the browser tests) with the stack's URLs in VITE_SERVICE_URL and
// VITE_EMULATOR_URL; src/config.ts falls back to `make run`'s defaults.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  // WorkOS's widgets and Radix Themes are one ~650 kB chunk; splitting is not this example's point.
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  preview: { host: '127.0.0.1', port: 5173, strictPort: true },
});
