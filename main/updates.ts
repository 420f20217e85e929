// Keeping the desktop app current from the pool's own coordinator: electron-updater's generic provider reads the
// feed `node coordinator publish-update` made (GET /updates/latest*.yml with this PC's token), downloads the
// installer in the background (sha512-checked by electron-updater), and the owner is asked before the app restarts
// into it; an owner who says "later" gets it at the next quit. Electron-free so it is tested under Node; main/index.ts
// hands it electron-updater's autoUpdater and a dialog.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Upstream } from './app-protocol';

/** The part of electron-updater's AppUpdater this uses. */
export interface Updater {
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  setFeedURL(options: { provider: 'generic'; url: string }): void;
  requestHeaders: OutgoingHttpHeaders | null;
  checkForUpdates(): Promise<unknown>;
  quitAndInstall(): void;
  on(event: 'update-downloaded', listener: (info: { version: string }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'update-downloaded', listener: (info: { version: string }) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
}

export interface UpdateOptions {
  /** The coordinator this PC uses now (null when none is set up). */
  upstream: () => Pick<Upstream, 'baseUrl' | 'token'> | null;
  /** Asks the owner whether to restart into `version` now; `runningJobs` are colleagues' jobs it would hand back. */
  ask: (version: string, runningJobs: number) => Promise<boolean>;
  runningJobs: () => number;
  log: { info(message: string): void; warn(message: string): void };
  /** How often to look for an update. */
  intervalMs: number;
  setInterval?: (fn: () => void, ms: number) => { unref?(): void };
  clearInterval?: (timer: unknown) => void;
}

export const UPDATE_CHECK_INTERVAL_MS = 4 * 3600 * 1000;

/** The feed of a coordinator: /updates/ beside its API. */
export const feedUrlOf = (baseUrl: string): string => new URL('updates/', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;

/**
 * Whether Electron's view of a certificate (`sha256/<base64>`) is the one the pool pins (`AB:CD:…`): electron-updater
 * downloads through its own session, which must trust the pool's self-signed certificate exactly as the app does.
 */
export function pinnedCertificateMatches(pinned: string, electronFingerprint: string): boolean {
  const expected = Buffer.from(pinned.replace(/:/g, ''), 'hex').toString('base64');
  return electronFingerprint === `sha256/${expected}`;
}

export class DesktopUpdates {
  private timer: unknown = null;
  private asked: string | null = null;
  private checking: Promise<void> | null = null;

  constructor(
    private readonly updater: Updater,
    private readonly options: UpdateOptions,
  ) {
    updater.autoDownload = true;
    // "Later" still updates: at the next quit, without asking again.
    updater.autoInstallOnAppQuit = true;
    updater.on('update-downloaded', this.onDownloaded);
    updater.on('error', this.onError);
  }

  start(): void {
    const every = this.options.setInterval ?? setInterval;
    const timer = every(() => void this.check(), this.options.intervalMs);
    timer.unref?.();
    this.timer = timer;
    void this.check();
  }

  /** Looks for an update at the pool's coordinator now (one check at a time). */
  check(): Promise<void> {
    this.checking ??= this.checkOnce().finally(() => (this.checking = null));
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const upstream = this.options.upstream();
    if (!upstream?.token) return;
    this.updater.setFeedURL({ provider: 'generic', url: feedUrlOf(upstream.baseUrl) });
    this.updater.requestHeaders = { Authorization: `Bearer ${upstream.token}` };
    try {
      await this.updater.checkForUpdates();
    } catch (err) {
      this.onError(err as Error);
    }
  }

  dispose(): void {
    (this.options.clearInterval ?? clearInterval)(this.timer as NodeJS.Timeout);
    this.updater.removeListener('update-downloaded', this.onDownloaded);
    this.updater.removeListener('error', this.onError);
  }

  private readonly onDownloaded = (info: { version: string }): void => {
    // Once per version: a later check finding the same download does not ask again.
    if (this.asked === info.version) return;
    this.asked = info.version;
    this.options.log.info(`update ${info.version} downloaded; asking the owner before restarting`);
    void this.options.ask(info.version, this.options.runningJobs()).then((now) => {
      if (now) this.updater.quitAndInstall();
      else this.options.log.info(`update ${info.version} postponed: it installs when the app quits`);
    });
  };

  private readonly onError = (err: Error): void => {
    // No feed published yet is the normal state of a pool: not worth a warning.
    if (/ERR_UPDATER_CHANNEL_FILE_NOT_FOUND|404/.test(`${(err as { code?: string }).code ?? ''} ${err.message}`)) return;
    this.options.log.warn(`update check failed: ${err.message.split('\n')[0]}`);
  };
}
