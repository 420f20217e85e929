// The browser UI end to end: the built renderer served by a real coordinator, two real agents running real
// commands, and Debian's Chromium clicking through it at 1024×700. Screenshots go to docs/screenshots/ (README)
// and test-results/.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import { chromium, type Browser, type Page } from 'playwright';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../main/agent';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { formatBytes } from '../src/lib/format';

const CHROMIUM = '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../..', import.meta.url));
const screenshotDirs = [path.join(repo, 'docs/screenshots'), path.join(repo, 'test-results/renderer-e2e')];
/** Each expectation on the page waits at most this long for its state. */
const UI_WAIT_MS = 15_000;

const haveChromium = existsSync(CHROMIUM);
const suite = haveChromium ? describe : describe.skip;
const suiteName = haveChromium
  ? 'the UI in Chromium against a real pool'
  : `the UI in Chromium (skipped: ${CHROMIUM} is missing; apt-get install -y chromium)`;

let tmp: string;
let pool: TestCoordinator;
let agents: Agent[] = [];
let browser: Browser;
let page: Page;
/** Every request the UI made that the coordinator answered 404 (a favicon, a missing asset). */
const notFound: string[] = [];

/** Controls a screen reader could not name: no text, no label, no aria-label(ledby). */
function unnamedControls(): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('button, input, select, textarea, a[href], [role="log"], [role="group"]')]
      .filter((element) => {
        const labelled = element.getAttribute('aria-label') || element.getAttribute('aria-labelledby') || element.title;
        const labels = 'labels' in element ? (element as HTMLInputElement).labels : null;
        const text = ['BUTTON', 'A'].includes(element.tagName) ? element.textContent?.trim() : '';
        return !labelled && !labels?.length && !text;
      })
      .map((element) => element.outerHTML.slice(0, 120)),
  );
}

/** Checks that the view fits 1024×700 without page scrolling and names every control, then keeps a screenshot. */
async function screenshot(name: string): Promise<void> {
  const overflow = await page.evaluate(() => ({
    width: document.documentElement.scrollWidth - window.innerWidth,
    height: document.documentElement.scrollHeight - window.innerHeight,
  }));
  expect(overflow, `${name}: the page must not scroll at 1024×700`).toEqual({ width: 0, height: 0 });
  expect(await unnamedControls(), `${name}: controls without an accessible name`).toEqual([]);
  const first = path.join(screenshotDirs[0] as string, `${name}.png`);
  await page.screenshot({ path: first });
  for (const dir of screenshotDirs.slice(1)) await copyFile(first, path.join(dir, `${name}.png`));
}

/** What the terminal shows now (xterm's DOM renderer draws non-breaking spaces). */
async function terminalText(): Promise<string> {
  const text = await page.locator('.terminal .xterm-rows').innerText();
  return text.replace(/\u00a0/g, ' ');
}

async function expectTerminalToShow(...parts: string[]): Promise<void> {
  await waitFor(async () => {
    const text = await terminalText();
    return parts.every((part) => text.includes(part));
  }, { timeoutMs: UI_WAIT_MS, message: `the terminal to show ${parts.join(', ')}` });
}

async function highestTick(): Promise<number> {
  const ticks = [...(await terminalText()).matchAll(/tick (\d+)/g)].map((match) => Number(match[1]));
  return ticks.length ? Math.max(...ticks) : -1;
}

const workerRow = (name: string) => page.locator(`tr[data-worker="${name}"]`);

/** Fills the Submit form as a person would (every field it sets, the others as the form offers them) and runs it. */
async function submitFromForm(fields: { commands: string; name: string; labels?: string; viaKeyboard?: boolean }): Promise<string> {
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByLabel('Commands (one per line)').fill(fields.commands);
  await page.getByLabel('Name').fill(fields.name);
  if (fields.labels !== undefined) await page.getByLabel('Required labels').fill(fields.labels);
  if (fields.viaKeyboard) await page.getByLabel('Commands (one per line)').press('Control+Enter');
  else await page.getByRole('button', { name: 'Run' }).click();
  await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: UI_WAIT_MS });
  return decodeURIComponent(page.url().replace(/^.*#\/jobs\//, ''));
}

suite(suiteName, () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cmdx-ui-e2e-'));
    for (const dir of screenshotDirs) await mkdir(dir, { recursive: true });
    const staticDir = path.join(tmp, 'ui');
    // The production build, as `npm run build` makes it: React's development build (StrictMode's doubled
    // effects) hid bugs users saw. Vitest has set NODE_ENV=test, which would pick the development build.
    const testEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({ configFile: path.join(repo, 'vite.config.ts'), mode: 'production', logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    } finally {
      process.env.NODE_ENV = testEnv;
    }

    pool = await startTestCoordinator({ staticDir, heartbeatIntervalSec: 1 });
    agents = ['e2e-alpha', 'e2e-beta'].map(
      (name) =>
        new Agent({ server: pool.url, joinToken: pool.joinToken, name, workDir: path.join(tmp, name), killGraceMs: 1000, claimWaitMs: 5000 }),
    );
    await Promise.all(agents.map((agent) => agent.start()));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    page.on('response', (response) => {
      if (response.status() === 404) notFound.push(response.url());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all(agents.map((agent) => agent.stop({ graceMs: 1000 })));
    await pool?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('signs in from the coordinator’s link and strips the token from the address bar', async () => {
    await page.goto(`${pool.url}/#token=${encodeURIComponent(pool.adminToken)}`);
    await page.getByRole('group', { name: /Bundle/ }).waitFor({ timeout: UI_WAIT_MS });
    expect(page.url()).not.toContain(pool.adminToken);
    expect(await page.evaluate(() => window.location.hash)).toBe('#/');
    expect(notFound, 'requests answered 404 (a favicon?)').toEqual([]);
    // Desktop-only controls are not offered in a browser.
    await expect(page.getByRole('group', { name: 'Run on' }).count()).resolves.toBe(0);
    await expect(page.getByRole('link', { name: 'Settings' }).count()).resolves.toBe(0);
  });

  it('asks for the token again after signing out, and refuses a wrong one', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').fill('wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'did not accept this token' }).waitFor({ timeout: UI_WAIT_MS });
    await screenshot('sign-in');
    await page.getByLabel('Token').fill(pool.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('group', { name: /Bundle/ }).waitFor({ timeout: UI_WAIT_MS });
  });

  it('takes a dropped ZIP, runs its commands and shows the output live, stderr in red', async () => {
    const zip = zipSync({
      'greet.sh': new TextEncoder().encode(
        "printf '\\033[35mhello from the bundle\\033[0m\\n'\necho 'to stderr' 1>&2\necho artifact-content > out.txt\n",
      ),
    });
    const dataTransfer = await page.evaluateHandle((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'greet.zip', { type: 'application/zip' }));
      return transfer;
    }, Array.from(zip));
    const dropZone = page.getByRole('group', { name: /Bundle/ });
    await dropZone.dispatchEvent('dragover', { dataTransfer });
    await dropZone.dispatchEvent('drop', { dataTransfer });
    await dropZone.getByText('greet.zip').waitFor({ timeout: UI_WAIT_MS });
    await expect(dropZone.locator('.bundle-size').innerText()).resolves.toBe(formatBytes(zip.length));

    await page.getByLabel('Commands (one per line)').fill('sh greet.sh\necho second-command');
    await page.getByLabel('Name').fill('greeting');
    await page.getByLabel('Outputs to keep (globs)').fill('out.txt');
    await screenshot('submit');
    await page.getByRole('button', { name: 'Run' }).click();

    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: UI_WAIT_MS });
    await expectTerminalToShow('[1/2] $ sh greet.sh', 'hello from the bundle', 'to stderr', '[2/2] $ echo second-command', 'second-command');
    await page.getByTestId('job-state').filter({ hasText: 'succeeded' }).waitFor({ timeout: UI_WAIT_MS });
    await expectTerminalToShow('✔ exit 0', '● succeeded');
    // ANSI colours reach the screen: the program's magenta, and our red for stderr.
    await expect(page.locator('.xterm-rows span.xterm-fg-1', { hasText: 'to stderr' }).count()).resolves.toBe(1);
    await expect(page.locator('.xterm-rows span.xterm-fg-5', { hasText: 'hello from the bundle' }).count()).resolves.toBe(1);
    await expect(page.locator('.job-facts').innerText()).resolves.toMatch(/worker e2e-(alpha|beta)/);
    await screenshot('job-finished');

    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: UI_WAIT_MS }),
      page.getByRole('button', { name: 'Download artifacts' }).click(),
    ]);
    const saved = await readFile(await download.path());
    expect(new TextDecoder().decode(unzipSync(saved)['out.txt'])).toBe('artifact-content\n');

    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: pool.url });
    await page.getByRole('button', { name: 'Copy as CLI command' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor({ timeout: UI_WAIT_MS });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toMatch(/^npm run submit -- --server http:\/\/127\.0\.0\.1:\d+ --token "\$CMDX_TOKEN" --name greeting .*--output out\.txt 'sh greet\.sh' 'echo second-command'$/);
    expect(copied).not.toContain(pool.adminToken);
  });

  it('shows each job only its own output: two jobs in a row in one tab, then each opened from the list', async () => {
    // The browser's Notification API, recorded: headless Chromium shows none.
    await page.evaluate(() => {
      const shown: { title: string; body?: string }[] = [];
      Object.assign(window, {
        shownNotices: shown,
        Notification: class {
          static permission = 'default';
          static async requestPermission() {
            this.permission = 'granted';
            return 'granted';
          }
          onclick: (() => void) | null = null;
          constructor(title: string, options?: { body?: string }) {
            shown.push({ title, ...(options?.body ? { body: options.body } : {}) });
          }
        },
      });
    });
    await submitFromForm({ commands: 'echo FIRST-OUTPUT', name: 'first of two' });
    await expectTerminalToShow('FIRST-OUTPUT', '● succeeded');
    await waitFor(
      async () => {
        const shown = await page.evaluate(() => (window as unknown as { shownNotices: { title: string }[] }).shownNotices);
        return shown.some((notice) => notice.title === 'Job finished: first of two');
      },
      { timeoutMs: UI_WAIT_MS, message: 'the browser notification that my job ended' },
    );
    await submitFromForm({ commands: 'echo SECOND-OUTPUT', name: 'second of two', viaKeyboard: true });
    await expectTerminalToShow('SECOND-OUTPUT', '● succeeded');
    expect(await terminalText()).not.toContain('FIRST-OUTPUT');
    await waitFor(async () => (await page.title()) === 'succeeded · second of two · cmd-executor', {
      timeoutMs: UI_WAIT_MS,
      message: 'the tab title to show the state',
    });
    const icon = () => page.locator('link[rel="icon"]').getAttribute('href');
    await expect(icon()).resolves.toContain(encodeURIComponent("fill='#17803d'"));
    await page.getByRole('link', { name: 'Jobs' }).click();
    await expect(icon(), 'the page’s own icon again off the job page').resolves.not.toContain('circle');

    const rows = page.getByRole('table', { name: 'Jobs' }).locator('tbody tr');
    for (const [name, own, other] of [
      ['first of two', 'FIRST-OUTPUT', 'SECOND-OUTPUT'],
      ['second of two', 'SECOND-OUTPUT', 'FIRST-OUTPUT'],
      ['first of two', 'FIRST-OUTPUT', 'SECOND-OUTPUT'],
    ] as const) {
      await page.getByRole('link', { name: 'Jobs' }).click();
      await rows.filter({ hasText: name }).first().getByRole('link', { name }).click();
      await expectTerminalToShow(own, '● succeeded');
      expect(await terminalText(), `${name} shows another job's output`).not.toContain(other);
    }
  });

  it('runs an executable script from a folder picked in the browser', async () => {
    const folder = path.join(tmp, 'scripts');
    await mkdir(folder);
    await writeFile(path.join(folder, 'hello.sh'), '#!/bin/sh\necho "hello from an executable"\n', { mode: 0o755 });
    await page.getByRole('link', { name: 'Submit' }).click();
    await page.getByLabel('Folder', { exact: true }).setInputFiles(folder);
    await page.getByText('zipped from the folder scripts').waitFor({ timeout: UI_WAIT_MS });
    await page.getByLabel('Commands (one per line)').fill('./hello.sh');
    await page.getByLabel('Name').fill('executable script');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: UI_WAIT_MS });
    await expectTerminalToShow('hello from an executable', '✔ exit 0', '● succeeded');
  });

  it('says why a job waits, shows its spec, and does not carry its labels into the next job', async () => {
    await submitFromForm({ commands: 'echo needs-a-gpu', name: 'gpu job', labels: 'gpu' });
    const waiting = page.getByTestId('waiting-reason');
    await waiting.filter({ hasText: 'no connected worker has the label gpu' }).waitFor({ timeout: UI_WAIT_MS });
    await expect(waiting.innerText()).resolves.toMatch(/2 workers are online: e2e-(alpha|beta)\b.*, e2e-(alpha|beta)\b/);
    const spec = page.getByRole('region', { name: 'Job spec' });
    await expect(spec.innerText()).resolves.toMatch(/Labels\s+gpu/);
    await expect(spec.innerText()).resolves.toMatch(/Submitted by\s+\S+/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('job-state').filter({ hasText: 'cancelled' }).waitFor({ timeout: UI_WAIT_MS });

    await page.getByRole('link', { name: 'Submit' }).click();
    for (const field of ['Commands (one per line)', 'Name', 'Required labels', 'Timeout (s)', 'Priority', 'Retries', 'Outputs to keep (globs)']) {
      await expect(page.getByLabel(field, { exact: true }).inputValue(), `${field} after Run`).resolves.toBe('');
    }
    await expect(page.getByRole('button', { name: 'Remove' }).count(), 'the last bundle after Run').resolves.toBe(0);
    await submitFromForm({ commands: 'echo no-labels-needed', name: 'after the gpu job' });
    await expectTerminalToShow('no-labels-needed', '● succeeded');
  });

  it('stops following when scrolled up, follows again on request, and searches the output', async () => {
    await submitFromForm({ commands: 'seq 1 400; sleep 1; echo tail-line', name: 'long output' });
    await expectTerminalToShow('400');
    const follow = page.getByRole('button', { name: /^Follow/ });
    await expect(follow.getAttribute('aria-pressed')).resolves.toBe('true');
    await page.getByRole('log', { name: 'Job output' }).hover();
    await page.mouse.wheel(0, -2000);
    await follow.filter({ hasText: /^Follow$/ }).waitFor({ timeout: UI_WAIT_MS });
    await page.getByTestId('job-state').filter({ hasText: 'succeeded' }).waitFor({ timeout: UI_WAIT_MS });
    expect(await terminalText(), 'the view stays where the reader scrolled').not.toContain('tail-line');
    await follow.click();
    await expectTerminalToShow('tail-line', '● succeeded');
    await expect(follow.getAttribute('aria-pressed')).resolves.toBe('true');

    const search = page.getByRole('searchbox', { name: 'Search the output' });
    await search.fill('no-such-text');
    await search.press('Enter');
    await page.getByText('not found').waitFor({ timeout: UI_WAIT_MS });
    await search.fill('123');
    await search.press('Enter');
    await expectTerminalToShow('123');
    await expect(page.getByText('not found').count()).resolves.toBe(0);
  });

  it('zips a picked folder, resumes the terminal after a reload, shows suspension and worker states, and cancels', async () => {
    const folder = path.join(tmp, 'ticker');
    await mkdir(folder);
    await writeFile(
      path.join(folder, 'tick.sh'),
      'echo started-long\ni=0\nwhile [ $i -lt 200 ]; do echo "tick $i"; i=$((i+1)); sleep 0.3; done\n',
    );
    await page.getByRole('link', { name: 'Submit' }).click();
    await page.getByLabel('Folder', { exact: true }).setInputFiles(folder);
    await page.getByText('zipped from the folder ticker').waitFor({ timeout: UI_WAIT_MS });
    await page.getByLabel('Commands (one per line)').fill('sh tick.sh');
    await page.getByLabel('Name').fill('long ticker');
    await page.getByLabel('Outputs to keep (globs)').fill('');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: UI_WAIT_MS });
    const jobUrl = page.url();

    await expectTerminalToShow('started-long', 'tick 2');
    await page.reload();
    await expectTerminalToShow('[1/1] $ sh tick.sh', 'started-long', 'tick 2');
    const afterReload = await highestTick();
    await waitFor(async () => (await highestTick()) >= afterReload + 2, { timeoutMs: UI_WAIT_MS, message: 'new ticks after the reload' });
    expect(page.url()).toBe(jobUrl);
    await page.getByTestId('elapsed').filter({ hasText: /^running for \d+ (ms|s)$/ }).waitFor({ timeout: UI_WAIT_MS });
    await screenshot('job-running');

    const busy = await waitFor(() => agents.find((agent) => agent.status().jobs.length > 0), { message: 'the agent running it' });
    const other = agents.find((agent) => agent !== busy) as Agent;
    await busy.suspend();
    await page.getByTestId('job-state').filter({ hasText: "paused on the owner's PC" }).waitFor({ timeout: UI_WAIT_MS });
    await expectTerminalToShow(`paused on the owner's PC (${busy.status().name})`);

    await page.getByRole('link', { name: 'Workers' }).click();
    const busyRow = workerRow(busy.status().name);
    const otherRow = workerRow(other.status().name);
    await busyRow.getByTestId('worker-state').filter({ hasText: 'owner is using it' }).waitFor({ timeout: UI_WAIT_MS });
    await busyRow.getByRole('link', { name: 'long ticker' }).waitFor({ timeout: UI_WAIT_MS });
    await otherRow.getByTestId('worker-state').filter({ hasText: 'idle' }).waitFor({ timeout: UI_WAIT_MS });
    other.setPaused(true);
    await otherRow.getByTestId('worker-state').filter({ hasText: 'paused' }).waitFor({ timeout: UI_WAIT_MS });
    await screenshot('workers');
    other.setPaused(false);
    await busy.resume();
    await busyRow.getByTestId('worker-state').filter({ hasText: 'busy' }).waitFor({ timeout: UI_WAIT_MS });
    await otherRow.getByTestId('worker-state').filter({ hasText: 'idle' }).waitFor({ timeout: UI_WAIT_MS });

    await busyRow.getByRole('link', { name: 'long ticker' }).click();
    await page.getByTestId('job-state').filter({ hasText: 'running' }).waitFor({ timeout: UI_WAIT_MS });
    await expectTerminalToShow('started-long');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('job-state').filter({ hasText: 'cancelled' }).waitFor({ timeout: UI_WAIT_MS });
    await expectTerminalToShow('● cancelled');
    await expect(page.getByRole('button', { name: 'Cancel' }).count()).resolves.toBe(0);
  });

  it('lists the jobs live and filters them by state', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click();
    const rows = page.getByRole('table', { name: 'Jobs' }).locator('tbody tr');
    await rows.filter({ hasText: 'long ticker' }).filter({ hasText: 'cancelled' }).waitFor({ timeout: UI_WAIT_MS });
    await rows.filter({ hasText: 'greeting' }).filter({ hasText: 'succeeded' }).waitFor({ timeout: UI_WAIT_MS });
    // Fair share: everyone's recent use of the pool, above the list (only the admin submitted here).
    await expect(page.getByLabel('Pool share').innerText()).resolves.toBe('Pool share: admin 100%');
    await screenshot('jobs');
    await page.getByLabel('State').selectOption('cancelled');
    await waitFor(async () => (await rows.allInnerTexts()).map((row) => row.split('\t')[0]).sort().join('|') === 'gpu job|long ticker', {
      timeoutMs: UI_WAIT_MS,
      message: 'only the cancelled jobs',
    });

    // Search by a command; then a click anywhere on the row opens the job.
    await page.getByLabel('State').selectOption('all');
    await page.getByRole('searchbox', { name: 'Search jobs' }).fill('echo FIRST');
    await waitFor(async () => (await rows.allInnerTexts()).map((row) => row.split('\t')[0]).join('|') === 'first of two', {
      timeoutMs: UI_WAIT_MS,
      message: 'only the job whose command matches',
    });
    await expect(rows.first().innerText()).resolves.toMatch(/first of two\tsucceeded\tadmin\t/);
    await rows.first().getByRole('cell').last().click();
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: UI_WAIT_MS });
    await expectTerminalToShow('FIRST-OUTPUT');

    // A 760 px window still shows every column it keeps.
    await page.setViewportSize({ width: 760, height: 700 });
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('searchbox', { name: 'Search jobs' }).fill('');
    const lastHeader = await page.getByRole('columnheader', { name: 'Exit' }).boundingBox();
    expect(lastHeader!.x + lastHeader!.width).toBeLessThanOrEqual(760);
    await page.setViewportSize({ width: 1024, height: 700 });
    expect(notFound, 'requests answered 404').toEqual([]);
  });

  it('the matrix flow: one submission × a list of values, shown as one group with its summary', async () => {
    await page.getByRole('link', { name: 'Submit' }).click();
    await page.getByLabel('Commands (one per line)').fill('echo "matrix value $CMDX_MATRIX_n"');
    await page.getByLabel('Name').fill('fan out');
    await page.getByLabel('Matrix (one job per value)').fill('n=1,2,3');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForURL(/#\/groups\/grp_[^/]+$/, { timeout: UI_WAIT_MS });
    await page.getByTestId('group-state').filter({ hasText: 'succeeded' }).waitFor({ timeout: UI_WAIT_MS });
    await expect(page.getByTestId('group-summary').innerText()).resolves.toBe('3 succeeded of 3');
    const rows = page.getByRole('table', { name: 'Jobs of the group' }).locator('tbody tr');
    await expect(rows.allInnerTexts()).resolves.toEqual([
      expect.stringMatching(/^1\tsucceeded\te2e-(alpha|beta)\t/),
      expect.stringMatching(/^2\tsucceeded\te2e-(alpha|beta)\t/),
      expect.stringMatching(/^3\tsucceeded\te2e-(alpha|beta)\t/),
    ]);
    await screenshot('group');

    // One job of it, opened from the group: its own value in its output, and the way back to the group.
    await rows.nth(1).getByRole('link', { name: '2', exact: true }).click();
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: UI_WAIT_MS });
    await expectTerminalToShow('matrix value 2', '● succeeded');
    expect(await terminalText()).not.toContain('matrix value 1');
    await page.getByRole('link', { name: 'its matrix group' }).click();
    await page.waitForURL(/#\/groups\/grp_[^/]+$/, { timeout: UI_WAIT_MS });

    // The jobs list marks each job of a group, one click from the group.
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('searchbox', { name: 'Search jobs' }).fill('fan out');
    const listed = page.getByRole('table', { name: 'Jobs' }).locator('tbody tr');
    await waitFor(async () => (await listed.count()) === 3, { timeoutMs: UI_WAIT_MS, message: 'the three jobs of the group' });
    await expect(listed.first().innerText()).resolves.toMatch(/^fan out \(n=3\)\s*matrix\tsucceeded/);
    await listed.first().getByRole('link', { name: 'matrix' }).click();
    await page.getByTestId('group-summary').waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('searchbox', { name: 'Search jobs' }).fill('');
  });

  it("opens a worker's page (slots, recent jobs, admin controls) and shows the pool's CPU-hours", async () => {
    await page.getByRole('link', { name: 'Workers' }).click();
    const usage = page.getByRole('table', { name: 'Contributed per PC' });
    await usage.getByRole('rowheader', { name: 'e2e-alpha' }).waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('table', { name: 'Used per person' }).getByRole('rowheader', { name: 'admin' }).waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('img', { name: 'Queued and running jobs over time' }).waitFor({ timeout: UI_WAIT_MS });
    await expect(page.locator('.activity figcaption').innerText()).resolves.toMatch(/^Jobs over the last 6 hours: queued and running \(now \d+ queued, \d+ running; peak \d+\)$/);
    await workerRow('e2e-alpha').getByRole('link', { name: 'e2e-alpha' }).click();
    await page.waitForURL(/#\/workers\/wkr_[^/]+$/, { timeout: UI_WAIT_MS });
    const facts = page.getByRole('region', { name: 'Worker facts' });
    await expect(facts.innerText()).resolves.toMatch(/Slots in use\s+0 of 1/);
    await expect(page.getByRole('table', { name: 'Recent jobs' }).locator('tbody tr').count()).resolves.toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Pause e2e-alpha' }).click();
    await facts.filter({ hasText: 'paused by an admin' }).waitFor({ timeout: UI_WAIT_MS });
    await screenshot('worker');
    await page.getByRole('button', { name: 'Resume e2e-alpha' }).click();
    await page.getByRole('button', { name: 'Pause e2e-alpha' }).waitFor({ timeout: UI_WAIT_MS });
  });

  it('follows the system into dark mode', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    try {
      await page.getByRole('link', { name: 'Jobs' }).click();
      await page.getByRole('searchbox', { name: 'Search jobs' }).fill('');
      const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
      await expect(background()).resolves.toBe('rgb(17, 19, 24)');
      await page.getByRole('table', { name: 'Jobs' }).locator('tbody tr').filter({ hasText: 'greeting' }).waitFor({ timeout: UI_WAIT_MS });
      await screenshot('jobs-dark');
      await page.getByRole('link', { name: 'greeting' }).click();
      await expectTerminalToShow('hello from the bundle', '● succeeded');
      await screenshot('job-finished-dark');
    } finally {
      await page.emulateMedia({ colorScheme: 'light' });
    }
  });
});
