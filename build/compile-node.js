// The coordinator and the command lines as plain JavaScript: dist/node/<name>.js, one bundle per command line,
// so starting one costs a module load instead of compiling TypeScript (tsx took 1–6 s per start).
// `npm ci` builds it (the `prepare` step), and so does `npm run build:node`. An entry point (bin/*.js) checks that
// no source changed since the build and compiles again first if one did, so an edited checkout never runs old code.
// Packages are bundled too (half the start-up time of importing them file by file), except the native ones,
// better-sqlite3 and koffi, which load their .node files from node_modules. What a command line imports on use
// (`await import()`: the server behind `node coordinator`'s flags) lands in chunks of its own, shared between
// the bundles, so `--help` loads only the flag parser.
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT_DIR = path.join(REPO_ROOT, 'dist/node');
/** Which sources went into the build and when it was made: what the freshness check reads. */
export const MANIFEST = path.join(OUT_DIR, 'manifest.json');
/** npm rewrites it on every install: packages changed, so the bundled copies may be old. */
const INSTALLED_PACKAGES = 'node_modules/.package-lock.json';

export const ENTRY_POINTS = {
  coordinator: 'coordinator/cli.ts',
  worker: 'main/agent/cli/worker.ts',
  submit: 'main/agent/cli/submit.ts',
};

/**
 * Every output lands directly in dist/node/, so a module's `import.meta.url` is rewritten to the place of its
 * source file: `new URL('../dist/renderer', import.meta.url)` and createRequire(import.meta.url) resolve as they
 * do when the TypeScript runs unbundled (tests, tsx).
 */
const sourcePlaceUrls = {
  name: 'source-place-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const fromOutput = path.relative(OUT_DIR, args.path).split(path.sep).join('/');
      return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromOutput)}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

/** Writes `contents` to `file` through a rename, so a process starting meanwhile reads the old file or the new one. */
async function replaceFile(file, contents) {
  const current = await readFile(file).catch(() => null);
  if (current && Buffer.compare(current, contents) === 0) return;
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, contents);
  await rename(temp, file);
}

/** A process started before a rebuild may still import the chunks of its build on use, in its first minutes. */
const OLD_CHUNK_AGE_MS = 3600 * 1000;

/** Chunks of earlier builds, once no process started from them can still need them. */
async function removeOldChunks(current) {
  for (const name of await readdir(OUT_DIR)) {
    if (!name.startsWith('chunk-') || current.has(name)) continue;
    const file = path.join(OUT_DIR, name);
    const { mtimeMs } = await stat(file).catch(() => ({ mtimeMs: Date.now() }));
    if (Date.now() - mtimeMs > OLD_CHUNK_AGE_MS) await rm(file, { force: true });
  }
}

/** Compiles every entry point into dist/node/ and records its sources in the manifest. */
export async function compileNode() {
  const { build } = await import('esbuild');
  const builtAt = Date.now();
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: ENTRY_POINTS,
    outdir: OUT_DIR,
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    external: ['better-sqlite3', 'koffi'],
    // Bundled CommonJS packages require() Node's own modules; an ES module has no `require` of its own.
    banner: { js: "import { createRequire as createRequireOfBundle } from 'node:module'; const require = createRequireOfBundle(import.meta.url);" },
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
    plugins: [sourcePlaceUrls],
  });
  await mkdir(OUT_DIR, { recursive: true });
  for (const file of result.outputFiles) await replaceFile(file.path, file.contents);
  await removeOldChunks(new Set(result.outputFiles.map((file) => path.basename(file.path))));
  const ours = Object.keys(result.metafile.inputs).filter((source) => !source.includes('node_modules/'));
  const sources = [...ours, INSTALLED_PACKAGES];
  // Last, so a build cut short leaves the manifest of the one before, and the next start compiles again.
  await replaceFile(MANIFEST, Buffer.from(`${JSON.stringify({ builtAt, sources }, null, 1)}\n`));
}

/** True when the build exists and no source it was made from changed (or vanished) since. */
export async function isFresh() {
  let manifest;
  try {
    manifest = JSON.parse(await readFile(MANIFEST, 'utf8'));
  } catch {
    return false;
  }
  const modified = await Promise.all(
    manifest.sources.map((source) => stat(path.join(REPO_ROOT, source)).then((s) => s.mtimeMs, () => Infinity)),
  );
  return modified.every((mtime) => mtime < manifest.builtAt);
}

/** Runs the compiled command line `name` (a key of ENTRY_POINTS), compiling it first if a source changed. */
export async function runCompiled(name) {
  if (!(await isFresh())) {
    try {
      await compileNode();
    } catch (err) {
      process.stderr.write(`error: could not compile ${ENTRY_POINTS[name]} (npm run build:node): ${err instanceof Error ? err.message : err}\n`);
      process.exit(1);
    }
  }
  await import(pathToFileURL(path.join(OUT_DIR, `${name}.js`)).href);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await compileNode();
