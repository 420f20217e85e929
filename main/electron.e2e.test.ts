// Smoke test of the real desktop app with Playwright's Electron driver: the window opens on app://cmdx with no Node
// in the page, the tray exists, and a job runs on this PC through the pool the app hosts. It needs Electron's binary
// (and a display: run it under xvfb-run on a headless Linux); where `npm install` skipped the download, the test
// reports a named skip.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { _electron as electron, type ElectronApplication } from 'playwright';
import { afterAll, describe, expect, it } from 'vitest';
import type { Job } from '../protocol/api';
import type { CmdxApi, DesktopStatus } from '../protocol/ipc';
import { waitFor } from '../test/wait';

const repo = path.resolve(import.meta.dirname, '..');

/**
 * The binary's path as the electron package records it (path.txt under its dist/ folder). Read by hand: requiring
 * `electron` from Node would start a download of the binary when it is missing.
 */
function electronBinary(): string | null {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  const pathFile = path.join(pkg, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const relative = readFileSync(pathFile, 'utf8').trim();
  const binary = process.env.ELECTRON_OVERRIDE_DIST_PATH
    ? path.join(process.env.ELECTRON_OVERRIDE_DIST_PATH, relative)
    : path.join(pkg, 'dist', relative);
  return existsSync(binary) ? binary : null;
}

const binary = electronBinary();
let app: ElectronApplication | null = null;
let userData: string | null = null;

afterAll(async () => {
  await app?.close();
  if (userData) await fs.rm(userData, { recursive: true, force: true });
});

describe('desktop app (Electron)', () => {
  if (!binary) {
    it.skip('skipped: Electron binary not installed (ELECTRON_SKIP_BINARY_DOWNLOAD)', () => {});
    return;
  }

  it('opens its window, shows the tray and runs a local job', async () => {
    if (!existsSync(path.join(repo, 'dist/renderer/index.html'))) execFileSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' });
    execFileSync('npm', ['run', 'build:electron'], { cwd: repo, stdio: 'inherit' });

    userData = await fs.mkdtemp(path.join(os.tmpdir(), 'cmdx-electron-'));
    // Host the pool on loopback and contribute always, so the app's own agent takes the job at once.
    await fs.writeFile(
      path.join(userData, 'settings.json'),
      JSON.stringify({ version: 1, hostPool: true, hostPort: 0, alwaysContribute: true, onlyOnAC: false }),
    );
    app = await electron.launch({
      executablePath: binary,
      args: [repo],
      cwd: repo,
      env: { ...process.env, CMDX_USER_DATA: userData, CMDX_POOL_HOST: '127.0.0.1', CMDX_E2E: '1' },
      timeout: 60_000,
    });
    const page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
    expect(page.url()).toMatch(/^app:\/\/cmdx\//);
    expect(await page.evaluate(() => [typeof (globalThis as { require?: unknown }).require, typeof (globalThis as { process?: unknown }).process])).toEqual([
      'undefined',
      'undefined',
    ]);
    expect(await app.evaluate(() => (globalThis as unknown as { cmdxDiagnostics: { trayExists(): boolean } }).cmdxDiagnostics.trayExists())).toBe(true);

    const cmdx = () => (globalThis as unknown as { cmdx: CmdxApi }).cmdx;
    const status = await waitFor(
      async () => {
        const s: DesktopStatus = await page.evaluate(() => cmdx().getStatus());
        return s.agent.connected && s.pool ? s : null;
      },
      { timeoutMs: 30_000, message: 'the app to host the pool and its agent to join' },
    );
    expect(status.connection.hosting).toBe(true);

    // Same path as the renderer: the app:// origin proxies /api/v1 to the hosted pool with this PC's token.
    const job: Job = await page.evaluate(async () => {
      const response = await fetch('/api/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ commands: ['echo smoke test'], name: 'smoke' }),
      });
      return ((await response.json()) as { job: Job }).job;
    });
    await waitFor(
      async () => (await page.evaluate(async (id) => ((await (await fetch(`/api/v1/jobs/${id}`)).json()) as { job: Job }).job.state, job.id)) === 'succeeded',
      { timeoutMs: 60_000, message: 'the job to succeed on this PC' },
    );
    expect(await page.evaluate(async (id) => (await fetch(`/api/v1/jobs/${id}/log`)).text(), job.id)).toContain('smoke test');
  });
});
