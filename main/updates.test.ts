import { createHash, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../test/pool';
import { DesktopUpdates, feedUrlOf, pinnedCertificateMatches, type Updater } from './updates';

/** electron-updater's AppUpdater as far as DesktopUpdates uses it (the real one needs a running Electron app). */
class RecordingUpdater extends EventEmitter implements Updater {
  autoDownload = false;
  autoInstallOnAppQuit = false;
  requestHeaders: OutgoingHttpHeaders | null = null;
  feeds: string[] = [];
  checks = 0;
  installs = 0;
  failWith: Error | null = null;
  setFeedURL(options: { provider: 'generic'; url: string }): void {
    this.feeds.push(options.url);
  }
  async checkForUpdates(): Promise<unknown> {
    this.checks++;
    if (this.failWith) throw this.failWith;
    return null;
  }
  quitAndInstall(): void {
    this.installs++;
  }
}

function setup(answer: boolean, upstream = { baseUrl: 'https://pool-pc:8787', token: 'cmdx_sub_x' }) {
  const updater = new RecordingUpdater();
  const questions: [string, number][] = [];
  const logged: string[] = [];
  const ticks: (() => void)[] = [];
  const updates = new DesktopUpdates(updater, {
    upstream: () => upstream,
    ask: async (version, running) => (questions.push([version, running]), answer),
    runningJobs: () => 2,
    log: { info: (m) => logged.push(m), warn: (m) => logged.push(`WARN ${m}`) },
    intervalMs: 1000,
    setInterval: (fn) => (ticks.push(fn), {}),
    clearInterval: () => ticks.splice(0),
  });
  return { updater, updates, questions, logged, ticks };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('desktop updates', () => {
  let pool: TestCoordinator | undefined;
  afterEach(() => pool?.stop());

  it("checks the pool's coordinator feed with this PC's token, now and on every tick", async () => {
    const { updater, updates, ticks } = setup(true);
    updates.start();
    await settle();
    expect(updater.feeds).toEqual(['https://pool-pc:8787/updates/']);
    expect(updater.requestHeaders).toEqual({ Authorization: 'Bearer cmdx_sub_x' });
    expect(updater.autoDownload && updater.autoInstallOnAppQuit).toBe(true);
    ticks[0]!();
    await settle();
    expect(updater.checks).toBe(2);
    updates.dispose();
    expect(ticks).toHaveLength(0);
    expect(updater.listenerCount('update-downloaded')).toBe(0);
  });

  it('asks the owner once per version before restarting, naming the jobs it would hand back', async () => {
    const yes = setup(true);
    yes.updater.emit('update-downloaded', { version: '1.4.0' });
    yes.updater.emit('update-downloaded', { version: '1.4.0' });
    await settle();
    expect(yes.questions).toEqual([['1.4.0', 2]]);
    expect(yes.updater.installs).toBe(1);

    const later = setup(false);
    later.updater.emit('update-downloaded', { version: '1.4.0' });
    await settle();
    expect(later.updater.installs).toBe(0);
    expect(later.logged).toContain('update 1.4.0 postponed: it installs when the app quits');
  });

  it('stays quiet when nothing is published or no pool is set up; warns on other failures', async () => {
    const { updater, updates, logged } = setup(true);
    updater.failWith = Object.assign(new Error('Cannot find channel "latest-linux.yml" update info: HttpError: 404'), { code: 'ERR_UPDATER_CHANNEL_FILE_NOT_FOUND' });
    await updates.check();
    updater.failWith = new Error('net::ERR_CONNECTION_REFUSED\n    at stack');
    await updates.check();
    expect(logged).toEqual(['WARN update check failed: net::ERR_CONNECTION_REFUSED']);

    const none = setup(true, { baseUrl: 'https://pool-pc:8787', token: '' });
    await none.updates.check();
    expect(none.updater.checks).toBe(0);
  });

  it('builds the feed URL beside the API, and matches the pinned certificate as Electron shows it', async () => {
    expect(feedUrlOf('http://pool-pc:8787')).toBe('http://pool-pc:8787/updates/');
    expect(feedUrlOf('https://pool.example/cmdx/')).toBe('https://pool.example/cmdx/updates/');
    // A real coordinator's self-signed certificate: its pin (hex) against Electron's `sha256/<base64>` of the same DER.
    pool = await startTestCoordinator({ tls: 'self-signed' });
    const pem = await readFile(join(pool.dataDir, 'tls', 'cert.pem'));
    const der = new X509Certificate(pem).raw;
    const electronView = `sha256/${createHash('sha256').update(der).digest('base64')}`;
    expect(pool.coordinator.fingerprint).not.toBeNull();
    expect(pinnedCertificateMatches(pool.coordinator.fingerprint!, electronView)).toBe(true);
    expect(pinnedCertificateMatches(pool.coordinator.fingerprint!.replace(/^../, '00'), electronView)).toBe(false);
  });
});
