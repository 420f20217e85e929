// The trust features in the browser: the one-time sign-in link, the secrets field that never shows a value back,
// the invite flow in the Workers view, the Audit view, and the security headers on the UI's responses.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../main/agent';
import { ApiClient, ApiError } from '../../protocol/client';
import { CONTENT_SECURITY_POLICY } from '../../protocol/web-security';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../..', import.meta.url));
const UI_WAIT_MS = 15_000;
const SECRET = 'e2e-secret-value-42';

const haveChromium = existsSync(CHROMIUM);
const suite = haveChromium ? describe : describe.skip;
const suiteName = haveChromium ? 'trust in the UI (Chromium)' : `trust in the UI (skipped: ${CHROMIUM} is missing)`;

let tmp: string;
let pool: TestCoordinator;
let agent: Agent;
let browser: Browser;
let page: Page;

suite(suiteName, () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cmdx-trust-e2e-'));
    const staticDir = path.join(tmp, 'ui');
    await build({ configFile: path.join(repo, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    pool = await startTestCoordinator({ staticDir });
    agent = new Agent({ server: pool.url, joinToken: pool.joinToken, name: 'trust-agent', workDir: path.join(tmp, 'agent'), claimWaitMs: 5000 });
    await agent.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.stop({ graceMs: 1000 });
    await pool?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('signs in with the one-time link (no admin token in it), with security headers on the page', async () => {
    const link = await pool.coordinator.signInLink();
    expect(link).not.toContain(pool.adminToken);
    const response = await page.goto(link);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['referrer-policy']).toBe('no-referrer');
    await page.getByRole('group', { name: /Bundle/ }).waitFor({ timeout: UI_WAIT_MS });
    expect(page.url()).not.toContain('code=');
    const again = await browser.newPage();
    try {
      await again.goto(link);
      await again.getByLabel('Token').waitFor({ timeout: UI_WAIT_MS });
    } finally {
      await again.close();
    }
  });

  it('takes a secret by name and value, shows only its name, and the job output masks it', async () => {
    await page.getByLabel('Commands (one per line)').fill('echo "the key is $DEPLOY_KEY"');
    await page.getByLabel('Secret variable').fill('DEPLOY_KEY');
    await page.getByLabel('Secret value').fill(SECRET);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByTestId('secret-names').getByText('DEPLOY_KEY').waitFor({ timeout: UI_WAIT_MS });
    expect(await page.getByLabel('Secret value').inputValue()).toBe('');
    expect(await page.content()).not.toContain(SECRET);
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForURL(/#\/jobs\/job_/, { timeout: UI_WAIT_MS });
    const jobId = decodeURIComponent(page.url().split('#/jobs/')[1]!);
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    await waitFor(async () => (await admin.getLog(jobId)).includes('the key is ***'), { timeoutMs: UI_WAIT_MS, message: 'the masked output' });
    await waitFor(async () => (await page.locator('.terminal .xterm-rows').innerText()).includes('the key is ***'), {
      timeoutMs: UI_WAIT_MS,
      message: 'the terminal to show the masked line',
    });
    expect(await page.content()).not.toContain(SECRET);
  });

  it('invites a worker from the Workers view with the exact command, and the code enrolls one worker', async () => {
    await page.getByRole('link', { name: 'Workers' }).click();
    await page.getByRole('button', { name: 'Invite a worker' }).click();
    const command = await page.getByLabel('Command to run on the new worker').innerText();
    expect(command).toMatch(new RegExp(`^CMDX_JOIN_TOKEN=cmdx_join_\\S+ npm run -s worker -- --server ${pool.url.replace(/\./g, '\\.')}$`));
    const code = /CMDX_JOIN_TOKEN=(\S+)/.exec(command)![1]!;
    await registerTestWorker(pool.url, code, { name: 'invited-box' });
    await page.locator('tr[data-worker="invited-box"]').waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('button', { name: 'Pause invited-box' }).click();
    await page.getByRole('button', { name: 'Resume invited-box' }).waitFor({ timeout: UI_WAIT_MS });
  });

  it('shows the audit log, filterable by action', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.locator('tr[data-action="invite.create"]').waitFor({ timeout: UI_WAIT_MS });
    await page.locator('tr[data-action="job.submit"]').first().waitFor({ timeout: UI_WAIT_MS });
    await page.getByLabel('Action').fill('worker.pause');
    await waitFor(async () => (await page.locator('tbody tr').count()) === 1 && (await page.locator('tr[data-action="worker.pause"]').count()) === 1, {
      timeoutMs: UI_WAIT_MS,
      message: 'only the pause to be listed',
    });
  });

  it('signs out: the page forgets the session and the coordinator refuses its token', async () => {
    const token = await page.evaluate(() => window.localStorage.getItem('cmdx.token'));
    expect(token).toMatch(/^cmdx_session_/);
    const browserToken = new ApiClient({ baseUrl: pool.url, token: token! });
    expect((await browserToken.whoAmI()).role).toBe('admin');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').waitFor({ timeout: UI_WAIT_MS });
    await waitFor(() => browserToken.whoAmI().then(() => undefined, (e: unknown) => e instanceof ApiError && e.status === 401), {
      timeoutMs: UI_WAIT_MS,
      message: 'the signed-out session to be refused',
    });
  });
});
