// Bundles the Electron main process and the preload for packaging: `npm run build:electron` runs it twice.
//   --mode main    main/index.ts    -> dist/electron/main.js     (ESM; the app's own code bundled, npm dependencies
//                                     stay external and ship in node_modules, so better-sqlite3's native build and
//                                     electron itself are loaded as installed)
//   --mode preload preload/index.ts -> dist/electron/preload.cjs (CommonJS: sandboxed preloads cannot be ES modules)
// Both are SSR builds: Vite's Node target, with everything under node_modules left external.
import { defineConfig } from 'vite';

export default defineConfig(({ mode }) => {
  if (mode !== 'main' && mode !== 'preload') throw new Error('build with --mode main or --mode preload');
  const preload = mode === 'preload';
  return {
    publicDir: false,
    build: {
      ssr: preload ? 'preload/index.ts' : 'main/index.ts',
      outDir: 'dist/electron',
      emptyOutDir: false,
      target: 'node22',
      sourcemap: true,
      minify: false,
      rolldownOptions: {
        output: { format: preload ? 'cjs' : 'es', entryFileNames: preload ? 'preload.cjs' : 'main.js' },
      },
    },
    ssr: { target: 'node' },
  };
});
