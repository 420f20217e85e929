// What the UI offers by role, in Debian's Chromium against a real coordinator (jobs visible to the team): a member
// sees no admin control (worker pause/drain/remove, invites, the audit log) and no cancel or re-run on a
// colleague's job, only on their own; an admin sees them all. Each hidden control is one the API answers 403.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../..', import.meta.url));
const UI_WAIT_MS = 15_000;
const haveChromium = existsSync(CHROMIUM);
const suite = haveChromium ? describe : describe.skip;

suite(haveChromium ? 'what the UI offers by role (Chromium)' : `what the UI offers by role (skipped: ${CHROMIUM} is missing)`, () => {
  let tmp: string;
  let pool: TestCoordinator;
  let browser: Browser;
  let memberToken: string;
  let adminsJob: Job;
  let membersJob: Job;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cmdx-roles-e2e-'));
    const staticDir = path.join(tmp, 'ui');
    await build({ configFile: path.join(repo, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    pool = await startTestCoordinator({ staticDir, jobVisibility: 'team' });
    memberToken = await pool.coordinator.createToken('bob', 'submit');
    await registerTestWorker(pool.url, pool.joinToken, { name: 'build-box' });
    // Queued (the worker never claims): each stays cancellable.
    adminsJob = await new ApiClient({ baseUrl: pool.url, token: pool.adminToken }).submitJob({ name: 'admins-job', commands: ['true'] });
    membersJob = await new ApiClient({ baseUrl: pool.url, token: memberToken }).submitJob({ name: 'bobs-job', commands: ['true'] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  });

  afterAll(async () => {
    await browser?.close();
    await pool?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** Signed in with `token`; the Workers view once its worker is listed. */
  async function workersPageAs(token: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${pool.url}/#token=${encodeURIComponent(token)}`);
    await page.getByRole('link', { name: 'Workers' }).click();
    await page.getByRole('cell', { name: 'build-box', exact: true }).first().waitFor({ timeout: UI_WAIT_MS });
    return page;
  }

  async function openJob(page: Page, job: Job): Promise<void> {
    await page.evaluate((hash) => (window.location.hash = hash), `#/jobs/${job.id}`);
    await page.getByRole('heading', { name: job.name! }).waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('button', { name: 'Download log' }).waitFor({ timeout: UI_WAIT_MS });
  }

  const count = (page: Page, role: 'button' | 'link' | 'columnheader' | 'region', name: string) => page.getByRole(role, { name, exact: true }).count();

  it('a member sees no admin control, and cancel and re-run only on their own job', async () => {
    const page = await workersPageAs(memberToken);
    expect(await count(page, 'button', 'Pause build-box')).toBe(0);
    expect(await count(page, 'button', 'Drain build-box')).toBe(0);
    expect(await count(page, 'button', 'Remove build-box')).toBe(0);
    expect(await count(page, 'button', 'Invite a worker')).toBe(0);
    expect(await count(page, 'columnheader', 'Admin')).toBe(0);
    expect(await count(page, 'link', 'Audit')).toBe(0);

    await openJob(page, adminsJob);
    expect(await count(page, 'button', 'Cancel')).toBe(0);
    expect(await count(page, 'button', 'Re-run')).toBe(0);
    await openJob(page, membersJob);
    await page.getByRole('button', { name: 'Cancel', exact: true }).waitFor({ timeout: UI_WAIT_MS });
    expect(await count(page, 'button', 'Re-run')).toBe(1);
    await page.close();
  });

  it('an admin sees the worker controls, invites, the audit log, and cancel on anyone’s job', async () => {
    const page = await workersPageAs(pool.adminToken);
    await page.getByRole('button', { name: 'Pause build-box', exact: true }).waitFor({ timeout: UI_WAIT_MS });
    expect(await count(page, 'button', 'Drain build-box')).toBe(1);
    expect(await count(page, 'button', 'Remove build-box')).toBe(1);
    expect(await count(page, 'button', 'Invite a worker')).toBe(1);
    expect(await count(page, 'columnheader', 'Admin')).toBe(1);
    expect(await count(page, 'link', 'Audit')).toBe(1);

    await openJob(page, membersJob);
    await page.getByRole('button', { name: 'Cancel', exact: true }).waitFor({ timeout: UI_WAIT_MS });
    expect(await count(page, 'button', 'Re-run')).toBe(1);
    await page.close();
  });
});
