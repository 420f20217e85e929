// The command lines run from the bundle in dist/node/ (build/compile-node.js), never TypeScript at run time;
// a bundle older than its sources is compiled again before it runs; the bundle finds the files next to its
// sources (the UI in dist/renderer/) as the unbundled code does.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MANIFEST } from '../build/compile-node.js';
import { makeTempDir } from './pool';
import { waitFor } from './wait';

const repo = fileURLToPath(new URL('../', import.meta.url));
const ENTRY_POINTS = ['coordinator/index.js', 'bin/coordinator.js', 'bin/worker.js', 'bin/submit.js'];

/** An --import module that registers `hooks` (the source of a module.register hooks module). */
const withHooks = (hooks: string) =>
  `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`)}`;

/** Its resolve hook refuses TypeScript and tsx: a start that needs either fails. */
const NO_TYPESCRIPT = withHooks(`export async function resolve(specifier, context, next) {
  if (/\\.tsx?$|^tsx(\\/|$)/.test(specifier)) throw new Error("TypeScript loaded at run time: " + specifier);
  return next(specifier, context);
}`);

/**
 * Its load hook refuses any module over 100 KB: the server, the HTTP client and the schema library are each
 * several hundred KB bundled, so a --help that loads one of them fails.
 */
const SMALL_MODULES_ONLY = withHooks(`export async function load(url, context, next) {
  const loaded = await next(url, context);
  if (url.startsWith("file:") && loaded.source && loaded.source.length > 100000) throw new Error("a big module loaded: " + url);
  return loaded;
}`);

describe('compiled command lines', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it.each(ENTRY_POINTS)('%s --help runs without TypeScript', (entry) => {
    const run = spawnSync(process.execPath, ['--import', NO_TYPESCRIPT, entry, '--help'], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/Usage: /);
  });

  // Flags are parsed before the rest is imported: --help costs a Node start and little more (bench case 7).
  it.each(ENTRY_POINTS)('%s --help loads none of the server, the HTTP client or the schemas', (entry) => {
    const run = spawnSync(process.execPath, ['--import', SMALL_MODULES_ONLY, entry, '--help'], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('the load hook does refuse a big module (the test above can fail)', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const args = ['--import', SMALL_MODULES_ONLY, 'coordinator', '--port', '0', '--data-dir', dataDir];
    const run = spawnSync(process.execPath, args, { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toMatch(/a big module loaded: /);
  });

  it('the resolve hook does refuse TypeScript (the test above can fail)', () => {
    const run = spawnSync(process.execPath, ['--import', NO_TYPESCRIPT, '--import', 'tsx', '-e', '0'], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/TypeScript loaded at run time: tsx/);
  });

  it('compiles again before running when a source changed after the build', async () => {
    const manifest = JSON.parse(await readFile(MANIFEST, 'utf8')) as { builtAt: number; sources: string[] };
    // As if every source had been edited after the build.
    await writeFile(MANIFEST, JSON.stringify({ ...manifest, builtAt: 0 }));
    const run = spawnSync(process.execPath, ['bin/submit.js', '--help'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const rebuilt = JSON.parse(await readFile(MANIFEST, 'utf8')) as { builtAt: number; sources: string[] };
    expect(rebuilt.builtAt).toBeGreaterThan(0);
    expect(rebuilt.sources).toContain('main/agent/cli/submit.ts');
  });

  it('the bundled coordinator serves the UI from dist/renderer/', async () => {
    if (!existsSync(path.join(repo, 'dist/renderer/index.html'))) spawnSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' });
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const child = spawn(process.execPath, ['coordinator', '--port', '0', '--data-dir', dataDir], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      const url = await waitFor(() => /serving (http:\/\/\S+)/.exec(out)?.[1], { timeoutMs: 30_000, message: 'the coordinator to serve' });
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<div id="root">/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
