// The renderer build. base './' makes every asset URL relative, so one build works from file:// in the
// Electron window and from the coordinator, which serves dist/renderer/ at `/`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./renderer'),
  base: './',
  plugins: [react()],
  build: {
    outDir: here('./dist/renderer'),
    emptyOutDir: true,
    // The desktop app loads these files locally and the coordinator serves them on a LAN: size warnings don't help.
    chunkSizeWarningLimit: 2048,
  },
});
