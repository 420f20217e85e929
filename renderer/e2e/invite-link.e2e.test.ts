// The web UI's invite dialog on an HTTPS coordinator (its own certificate), in Debian's Chromium: it shows the
// invite link and its QR code, and the link's https page shows them too.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJoinLink } from '../../protocol/join-link';
import { qrPath } from '../../protocol/qr';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../..', import.meta.url));
const UI_WAIT_MS = 15_000;
const haveChromium = existsSync(CHROMIUM);
const suite = haveChromium ? describe : describe.skip;

suite(haveChromium ? 'invite links in the UI (Chromium)' : `invite links in the UI (skipped: ${CHROMIUM} is missing)`, () => {
  let tmp: string;
  let pool: TestCoordinator;
  let browser: Browser;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cmdx-invite-e2e-'));
    const staticDir = path.join(tmp, 'ui');
    await build({ configFile: path.join(repo, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    pool = await startTestCoordinator({ staticDir, tls: 'self-signed', name: 'Design team' });
    // The browser has no way to pin: it is told to accept the coordinator's own certificate, as a person would.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--ignore-certificate-errors'] });
  });

  afterAll(async () => {
    await browser?.close();
    await pool?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('the invite dialog shows the cmdx:// link with its QR code, and the invite page shows the same', async () => {
    const page = await browser.newPage({ ignoreHTTPSErrors: true });
    await page.goto(await pool.coordinator.signInLink());
    await page.getByRole('link', { name: 'Workers' }).click();
    await page.getByRole('button', { name: 'Invite a worker' }).click();
    const link = await page.getByLabel('Invite link', { exact: true }).innerText({ timeout: UI_WAIT_MS });
    expect(parseJoinLink(link)).toMatchObject({ url: pool.url, fingerprint: pool.coordinator.fingerprint });
    const drawn = await page.getByRole('img', { name: 'QR code of the invite link' }).locator('path').getAttribute('d');
    expect(drawn).toBe(qrPath(link).d);

    // Listen before the click: on a fast run the new tab opens before a listener added after it.
    const opened = page.context().waitForEvent('page', { timeout: UI_WAIT_MS });
    await page.getByRole('link', { name: /\/join\// }).click();
    const invitePage = await opened;
    await invitePage.waitForLoadState();
    expect(await invitePage.locator('#link').innerText()).toBe(link);
    expect(await invitePage.getByRole('img', { name: 'QR code of the invite link' }).locator('path').getAttribute('d')).toBe(qrPath(link).d);
    await page.close();
  });
});
