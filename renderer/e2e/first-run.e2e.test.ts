// The desktop window's first screen, in Debian's Chromium with the preload's bridge stood in for by a page script
// of the same shape (`window.cmdx`, protocol/ipc.ts): until the app has a pool it lists the pools found on the LAN;
// a pasted invite link goes to the main process as it is; choosing a pool and typing the enrollment code saves
// exactly that address, certificate and code.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../protocol/ipc';
import type { DiscoveredPool } from '../../protocol/pool-record';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../..', import.meta.url));
const UI_WAIT_MS = 15_000;
const haveChromium = existsSync(CHROMIUM);
const suite = haveChromium ? describe : describe.skip;
const FP = Array.from({ length: 32 }, () => '3C').join(':');
const found: DiscoveredPool[] = [
  { name: 'Design team', version: '0.1.0', protocolVersion: 1, fingerprint: FP, scheme: 'https', url: 'https://192.168.1.20:8080' },
  { name: 'Old box', version: '0.0.9', protocolVersion: 1, fingerprint: null, scheme: 'http', url: 'http://192.168.1.30:8080' },
];

/** The bridge's methods the first screen uses, recording what they were called with. */
function fakeBridge({ settings, pools }: { settings: unknown; pools: DiscoveredPool[] }): void {
  const calls: unknown[] = [];
  const status = {
    contribution: { enabled: false, alwaysContribute: false, pausedUntil: null, action: 'stop', reason: 'off' },
    agent: { state: 'stopped', workerId: null, name: 'pc', connected: false, sandbox: null, jobs: [] },
    pool: null,
    connection: { coordinatorUrls: [], hosting: false, problem: null },
    notice: null,
  };
  Object.assign(window, {
    cmdxCalls: calls,
    cmdx: {
      getSettings: async () => settings,
      getStatus: async () => status,
      discoverPools: async () => pools,
      updateSettings: async (patch: object) => (calls.push(['updateSettings', patch]), { ...(settings as object), ...patch }),
      openInvite: async (link: string) => void calls.push(['openInvite', link]),
      onStatus: () => () => {},
      onSettings: () => () => {},
      onOpenJob: () => () => {},
      onOpenGroup: () => () => {},
      log: () => {},
    },
  });
}

suite(haveChromium ? 'the desktop app’s first screen (Chromium)' : `the desktop app’s first screen (skipped: ${CHROMIUM} is missing)`, () => {
  let tmp: string;
  let pool: TestCoordinator;
  let browser: Browser;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cmdx-first-run-e2e-'));
    const staticDir = path.join(tmp, 'ui');
    await build({ configFile: path.join(repo, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    pool = await startTestCoordinator({ staticDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  });

  afterAll(async () => {
    await browser?.close();
    await pool?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('lists the pools on the LAN; choosing one and typing the code saves that pool, its certificate and the code', async () => {
    const page = await browser.newPage();
    await page.addInitScript(fakeBridge, { settings: settingsSchema.parse({}), pools: found });
    await page.goto(pool.url);
    const list = page.getByRole('region', { name: 'Pools on this network' });
    await list.getByText('Design team').waitFor({ timeout: UI_WAIT_MS });
    expect(await list.getByText(`certificate ${FP}`).count()).toBe(1);
    // A pool without a certificate is listed but cannot be chosen: its traffic would cross the LAN readable.
    expect(await list.getByRole('button', { name: 'Use Old box' }).isDisabled()).toBe(true);

    await page.getByLabel('Or paste an invite link (cmdx://join?…)').fill('cmdx://join?url=https://x:1&code=c&fp=AB');
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await list.getByRole('button', { name: 'Use Design team' }).click();
    await page.getByLabel(/Enrollment code for “Design team”/).fill('cmdx_join_from_admin');
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    const calls = await page.waitForFunction(() => ((window as unknown as { cmdxCalls: unknown[] }).cmdxCalls.length === 2 ? (window as unknown as { cmdxCalls: unknown[] }).cmdxCalls : null), null, { timeout: UI_WAIT_MS });
    expect(await calls.jsonValue()).toEqual([
      ['openInvite', 'cmdx://join?url=https://x:1&code=c&fp=AB'],
      ['updateSettings', { hostPool: false, coordinatorUrls: ['https://192.168.1.20:8080'], coordinatorFingerprint: FP, joinToken: 'cmdx_join_from_admin' }],
    ]);
    // With a pool saved, the first screen gives way to the app.
    await page.getByRole('region', { name: 'Pools on this network' }).waitFor({ state: 'detached', timeout: UI_WAIT_MS });
    await page.close();
  });

  it('Settings holds the pool’s coordinator nodes one per line, names a bad address, and saves the list', async () => {
    const page = await browser.newPage();
    await page.addInitScript(fakeBridge, { settings: settingsSchema.parse({ coordinatorUrls: ['https://pool-a:8443'] }), pools: [] });
    await page.goto(`${pool.url}/#/settings`);
    const field = page.getByLabel('Coordinator addresses');
    await field.waitFor({ timeout: UI_WAIT_MS });
    expect(await field.inputValue()).toBe('https://pool-a:8443');

    await field.fill('https://pool-a:8443\npool-b:8443');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('"pool-b:8443" must be an http:// or https:// address').waitFor({ timeout: UI_WAIT_MS });
    expect(await page.evaluate(() => (window as unknown as { cmdxCalls: unknown[] }).cmdxCalls.length)).toBe(0);

    await field.fill('https://pool-a:8443\nhttps://pool-b:8443, https://pool-c:8443');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const calls = await page.waitForFunction(() => {
      const seen = (window as unknown as { cmdxCalls: [string, { coordinatorUrls?: string[] }][] }).cmdxCalls;
      return seen.length === 1 ? seen : null;
    }, null, { timeout: UI_WAIT_MS });
    expect(await calls.jsonValue()).toEqual([
      ['updateSettings', expect.objectContaining({ coordinatorUrls: ['https://pool-a:8443', 'https://pool-b:8443', 'https://pool-c:8443'] })],
    ]);
    await page.close();
  });
});
