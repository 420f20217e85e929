// The Electron main process: glue only. Every decision lives in a plain module (idle-policy, contribution, runtime,
// tray-menu, settings, ipc, app-protocol) tested under Node; this file wires Electron's events and objects to them.
// Security settings are explained point by point in main/SECURITY.md.
import path from 'node:path';
import {
  BrowserWindow,
  Menu,
  Notification,
  Tray,
  app,
  clipboard,
  dialog,
  ipcMain,
  nativeTheme,
  powerMonitor,
  protocol,
  screen,
  safeStorage,
  session,
  shell,
} from 'electron';
import electronUpdater from 'electron-updater';
import type { Job, JobGroup } from '../protocol/api';
import { APP_ORIGIN } from '../protocol/ipc';
import { CONTENT_SECURITY_POLICY, createAppProtocolHandler } from './app-protocol';
import { CpuSampler } from './cpu-usage';
import { DISCOVERY_TIMEOUT_MS } from '../protocol/pool-record';
import { JOIN_LINK_SCHEME } from '../protocol/join-link';
import { discoverPools } from './agent/discovery';
import { IpcRouter, IpcUserError, isAppUrl, push } from './ipc';
import { confirmation, joinLinkIn, joinPatch, prepareJoin } from './join-invite';
import { finishedNotice, groupFinishedNotice } from './job-watcher';
import { setupLogging } from './logging';
import { readPickedFile, readPickedFolder } from './picked-files';
import { DesktopRuntime } from './runtime';
import { redirectionOf, SettingsStore, withoutTokens } from './settings';
import { TrayService } from './tray';
import type { TrayCommand } from './tray-menu';
import { DesktopUpdates, pinnedCertificateMatches, UPDATE_CHECK_INTERVAL_MS } from './updates';
import { initialBounds } from './window-bounds';

const SAMPLE_INTERVAL_MS = 1000;
const APP_SCHEME = new URL(APP_ORIGIN).protocol.slice(0, -1);
const QUIT_GRACE_MS = 15_000;

// Must happen before `ready`: app:// behaves like https (secure context, fetch, streaming responses).
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
]);
// A second profile for tests and portable use.
if (process.env.CMDX_USER_DATA) app.setPath('userData', path.resolve(process.env.CMDX_USER_DATA));
app.enableSandbox();

// Invite links (cmdx://join?…): macOS hands them over with open-url, possibly before `ready`; Windows and Linux start
// the app (or a second instance, below) with the link among the arguments. Kept until main() can ask the owner.
const waitingLinks: string[] = [];
let openJoinLink = (link: string): void => void waitingLinks.push(link);
app.on('open-url', (event, url) => {
  event.preventDefault();
  openJoinLink(url);
});
const linkAtStart = joinLinkIn(process.argv);
if (linkAtStart) waitingLinks.push(linkAtStart);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app
    .whenReady()
    .then(main)
    .catch((err: Error) => {
      dialog.showErrorBox('cmd-executor could not start', err.message);
      app.exit(1);
    });
}

async function main(): Promise<void> {
  const root = app.getAppPath();
  const rendererDir = path.join(root, 'dist', 'renderer');
  const logging = setupLogging();
  const log = logging.loggers.main;
  log.info(`cmd-executor ${app.getVersion()} starting (Electron ${process.versions.electron}, ${process.platform})`);
  if (process.platform === 'win32') app.setAppUserModelId('com.cmd-executor.app');

  // Tokens rest sealed by the OS key store where it has one (on Linux without a keyring they stay in the clear).
  const sealer = safeStorage.isEncryptionAvailable()
    ? {
        seal: (plain: string) => safeStorage.encryptString(plain).toString('base64'),
        unseal: (sealed: string) => safeStorage.decryptString(Buffer.from(sealed, 'base64')),
      }
    : null;
  if (!sealer) log.warn('no OS key store: tokens are kept in the settings file unsealed (readable by this user only)');
  const { store: settings, notice } = await SettingsStore.open(path.join(app.getPath('userData'), 'settings.json'), undefined, sealer);
  if (notice) log.warn(notice);

  let mainWindow: BrowserWindow | null = null;
  const notifications = new Set<Notification>();
  const showWindow = () => {
    mainWindow ??= createWindow();
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.show();
    mainWindow.focus();
  };

  /** A notification that opens what it is about when clicked. */
  const showNotice = (notice: { title: string; body: string }, open: (window: BrowserWindow) => void) => {
    if (!Notification.isSupported()) return;
    const notification = new Notification(notice);
    notifications.add(notification); // held until it is dealt with, or it may be collected before a click
    const forget = () => notifications.delete(notification);
    notification.on('click', () => {
      forget();
      showWindow();
      if (mainWindow) open(mainWindow);
    });
    notification.on('close', forget);
    notification.show();
  };
  const runtime = new DesktopRuntime({
    settings,
    dataDir: app.getPath('userData'),
    // "Host the pool on this PC" serves the LAN; CMDX_POOL_HOST narrows it (the smoke test binds 127.0.0.1).
    hostAddress: process.env.CMDX_POOL_HOST ?? '0.0.0.0',
    staticDir: rendererDir,
    version: app.getVersion(),
    loggers: logging.loggers,
    agentOptions: { version: app.getVersion() },
    notice,
    notify: (job: Job) => showNotice(finishedNotice(job), (window) => push(window.webContents, 'job:open', { jobId: job.id })),
    notifyGroup: (group: JobGroup) => showNotice(groupFinishedNotice(group), (window) => push(window.webContents, 'group:open', { groupId: group.id })),
  });

  // ---- security defaults for every page the app could ever show ----
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, permission, callback) => {
    log.warn(`denied a permission request: ${permission}`);
    callback(false);
  });
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onHeadersReceived((details, callback) => {
    const isDocument = details.resourceType === 'mainFrame' || details.resourceType === 'subFrame';
    callback({
      responseHeaders: isDocument
        ? { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] }
        : details.responseHeaders,
    });
  });
  ses.protocol.handle(APP_SCHEME, createAppProtocolHandler({ rendererDir, upstream: () => runtime.upstream() }));
  app.on('web-contents-created', (_event, contents) => {
    const stayInApp = (event: { preventDefault(): void }, url: string) => {
      if (!isAppUrl(url)) {
        event.preventDefault();
        log.warn(`blocked navigation to ${url}`);
      }
    };
    contents.on('will-navigate', stayInApp);
    contents.on('will-redirect', stayInApp);
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      log.warn(`blocked a new window for ${url}`);
      return { action: 'deny' };
    });
  });

  // ---- window ----
  let quitting = false;
  function createWindow(): BrowserWindow {
    const bounds = initialBounds(
      settings.get().windowBounds,
      screen.getAllDisplays().map((display) => display.workArea),
    );
    const win = new BrowserWindow({
      ...(bounds.position ?? {}),
      width: bounds.width,
      height: bounds.height,
      minWidth: 900,
      minHeight: 600,
      show: false,
      title: 'cmd-executor',
      icon: path.join(root, 'build', 'icons', '512x512.png'),
      webPreferences: {
        preload: path.join(root, 'dist', 'electron', 'preload.cjs'),
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        nodeIntegrationInSubFrames: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        experimentalFeatures: false,
        webviewTag: false,
        navigateOnDragDrop: false,
        devTools: !app.isPackaged,
      },
    });
    if (bounds.maximized) win.maximize();
    win.once('ready-to-show', () => win.show());
    let saveTimer: NodeJS.Timeout | undefined;
    const saveBounds = () => {
      clearTimeout(saveTimer);
      saveTimer = setTimeout(() => {
        if (win.isDestroyed() || win.isMinimized()) return;
        const { x, y, width, height } = win.getNormalBounds();
        void settings
          .update({ windowBounds: { x, y, width, height, maximized: win.isMaximized() } })
          .catch((err: Error) => log.warn(`could not save the window size: ${err.message}`));
      }, 500);
    };
    win.on('resize', saveBounds);
    win.on('move', saveBounds);
    win.on('maximize', saveBounds);
    win.on('unmaximize', saveBounds);
    win.on('close', (event) => {
      if (quitting) return;
      // Closing the window keeps the app (and its contribution) running in the tray.
      event.preventDefault();
      win.hide();
    });
    win.on('closed', () => {
      clearTimeout(saveTimer);
      mainWindow = null;
    });
    void win.loadURL(`${APP_ORIGIN}/index.html`);
    return win;
  }

  // ---- tray ----
  const onTrayCommand = (command: TrayCommand) => {
    const failed = (err: Error) => log.error(`tray ${command} failed: ${err.message}`);
    switch (command) {
      case 'toggle-contribute':
        void runtime.contribution.setEnabled(!settings.get().contributeWhenIdle).catch(failed);
        break;
      case 'pause-hour':
        void runtime.contribution.pause(60).catch(failed);
        break;
      case 'resume':
        void runtime.contribution.pause(0).catch(failed);
        break;
      case 'open':
        showWindow();
        break;
      case 'open-logs':
        void shell.openPath(logging.logDir);
        break;
      case 'quit':
        app.quit();
        break;
    }
  };
  const tray = new TrayService<Menu>({
    createTray: (icon) => {
      const created = new Tray(icon);
      created.on('click', showWindow);
      return created;
    },
    buildMenu: (items, onClick) =>
      Menu.buildFromTemplate(
        items.map((item) =>
          item.type === 'separator'
            ? { type: 'separator' as const }
            : {
                type: item.type,
                label: item.label,
                enabled: item.enabled,
                ...(item.type === 'checkbox' ? { checked: item.checked } : {}),
                ...(item.id ? { click: () => onClick(item.id!) } : {}),
              },
        ),
      ),
    iconPath: (state, theme) => path.join(root, 'build', 'tray', `tray-${state}-${theme}.png`),
    theme: () => (nativeTheme.shouldUseDarkColors ? 'dark' : 'light'),
    onCommand: onTrayCommand,
  });
  nativeTheme.on('updated', () => tray.render(runtime.status()));
  runtime.on('status', (status) => {
    tray.render(status);
    if (mainWindow && !mainWindow.isDestroyed()) push(mainWindow.webContents, 'status:changed', status);
  });
  tray.render(runtime.status());
  if (process.env.CMDX_E2E === '1') {
    // Read by main/electron.e2e.test.ts through electronApp.evaluate: Electron offers no way to list trays.
    (globalThis as { cmdxDiagnostics?: unknown }).cmdxDiagnostics = { trayExists: () => tray.exists };
  }

  // ---- IPC: the preload's API, nothing else ----
  const ipc = new IpcRouter(ipcMain, { warn: (m) => log.warn(m), error: (m) => log.error(m) });
  const parentWindow = () => mainWindow ?? BrowserWindow.getFocusedWindow();
  const ask = (options: Electron.MessageBoxOptions) => {
    const window = parentWindow();
    return window ? dialog.showMessageBox(window, options) : dialog.showMessageBox(options);
  };
  settings.onChange((next) => {
    if (mainWindow && !mainWindow.isDestroyed()) push(mainWindow.webContents, 'settings:changed', withoutTokens(next));
  });
  ipc.handle('settings:get', () => withoutTokens(settings.get()));
  ipc.handle('settings:set', async (patch) => {
    const redirection = redirectionOf(settings.get(), patch);
    if (redirection) {
      const answer = await ask({
        type: 'warning',
        buttons: ['Change', 'Cancel'],
        defaultId: 1,
        cancelId: 1,
        message: 'Change where this PC sends its work?',
        detail: `${redirection} Only confirm a change you just made yourself.`,
      });
      if (answer.response !== 0) throw new IpcUserError('cancelled', 'the change was not confirmed; nothing was saved');
    }
    try {
      return withoutTokens(await settings.update(patch));
    } catch (err) {
      throw new IpcUserError('invalid_settings', (err as Error).message);
    }
  });
  ipc.handle('status:get', () => runtime.status());
  ipc.handle('contribution:set', async ({ enabled }) => {
    await runtime.contribution.setEnabled(enabled);
    return runtime.status();
  });
  ipc.handle('contribution:pause', async ({ minutes }) => {
    await runtime.contribution.pause(minutes);
    return runtime.status();
  });
  ipc.handle('dialog:pick-file', async () => {
    const options = { title: 'Choose a ZIP', properties: ['openFile' as const], filters: [{ name: 'ZIP archives', extensions: ['zip'] }] };
    const parent = parentWindow();
    const picked = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
    return picked.canceled || !picked.filePaths[0] ? null : readPickedFile(picked.filePaths[0]);
  });
  ipc.handle('dialog:pick-folder', async () => {
    const options = { title: 'Choose a folder to send', properties: ['openDirectory' as const] };
    const parent = parentWindow();
    const picked = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
    return picked.canceled || !picked.filePaths[0] ? null : readPickedFolder(picked.filePaths[0]);
  });
  ipc.handle('logs:open', async () => {
    const failure = await shell.openPath(logging.logDir);
    if (failure) throw new IpcUserError('open_failed', `could not open ${logging.logDir}: ${failure}`);
  });
  ipc.handle('pools:discover', () =>
    discoverPools({ timeoutMs: DISCOVERY_TIMEOUT_MS, onError: (err) => log.warn(`looking for pools on the LAN: ${err.message}`) }),
  );
  ipc.handle('clipboard:write-text', ({ text }) => clipboard.writeText(text));
  ipc.handle('jobs:watch', ({ jobId }) => {
    try {
      runtime.watchJob(jobId);
    } catch (err) {
      throw new IpcUserError('not_connected', (err as Error).message);
    }
  });
  ipc.handle('groups:watch', ({ groupId }) => {
    try {
      runtime.watchGroup(groupId);
    } catch (err) {
      throw new IpcUserError('not_connected', (err as Error).message);
    }
  });
  ipc.handle('log:write', ({ level, message }) => logging.renderer[level](message));

  // ---- invite links: checked against the pool (its certificate pinned), confirmed by the owner, then joined ----
  // The link carries an enrollment code: it is never logged.
  const joinFromLink = async (raw: string): Promise<void> => {
    showWindow();
    try {
      const proposal = await prepareJoin(raw);
      const answer = await ask({ type: 'question', buttons: ['Join', 'Cancel'], defaultId: 1, cancelId: 1, ...confirmation(proposal, settings.get()) });
      if (answer.response !== 0) {
        log.info(`invite link to ${proposal.url}: not joined (cancelled)`);
        return;
      }
      await settings.update(joinPatch(proposal, settings.get()));
      log.info(`joined the pool "${proposal.pool.name}" at ${proposal.url} (certificate ${proposal.fingerprint}) from an invite link`);
    } catch (err) {
      log.warn(`invite link refused: ${(err as Error).message}`);
      await ask({ type: 'error', message: 'This invite link cannot be used', detail: (err as Error).message });
    }
  };
  ipc.handle('invite:open', ({ link }) => joinFromLink(link));
  if (!process.env.CMDX_E2E) {
    // Unpackaged (npm run app), the OS must start Electron with this app's folder.
    const registered = process.defaultApp && process.argv[1]
      ? app.setAsDefaultProtocolClient(JOIN_LINK_SCHEME, process.execPath, [path.resolve(process.argv[1])])
      : app.setAsDefaultProtocolClient(JOIN_LINK_SCHEME);
    if (!registered) log.warn(`could not register the app for ${JOIN_LINK_SCHEME}:// invite links`);
  }

  // ---- the PC, sampled every second into the idle policy ----
  let screenLocked = false;
  powerMonitor.on('lock-screen', () => {
    screenLocked = true;
  });
  powerMonitor.on('unlock-screen', () => {
    screenLocked = false;
  });
  const cpu = new CpuSampler({ runningJobs: () => runtime.runningJobs() });
  const sampler = setInterval(() => {
    runtime.sample({
      idleSec: powerMonitor.getSystemIdleTime(),
      onBattery: powerMonitor.isOnBatteryPower(),
      screenLocked,
      othersCpuPercent: cpu.sample(),
    });
  }, SAMPLE_INTERVAL_MS);

  // ---- life cycle ----
  app.on('second-instance', (_event, argv) => {
    showWindow();
    const link = joinLinkIn(argv);
    if (link) openJoinLink(link);
  });
  app.on('activate', showWindow);
  app.on('window-all-closed', () => {
    // stay in the tray
  });
  // Quitting hands running work back to the pool first (bounded by QUIT_GRACE_MS), then lets Electron quit.
  let shutdown: 'running' | 'stopping' | 'done' = 'running';
  app.on('before-quit', (event) => {
    quitting = true;
    if (shutdown === 'done') return;
    event.preventDefault();
    if (shutdown === 'stopping') return;
    shutdown = 'stopping';
    clearInterval(sampler);
    log.info('quitting: handing running work back to the pool');
    const stopped = runtime.stop().catch((err: Error) => log.error(`shutdown: ${err.message}`));
    const deadline = new Promise((resolve) => setTimeout(resolve, QUIT_GRACE_MS));
    void Promise.race([stopped, deadline]).finally(() => {
      shutdown = 'done';
      ipc.dispose();
      tray.destroy();
      app.quit();
    });
  });

  await runtime.start();
  if (!process.argv.includes('--hidden')) showWindow();
  openJoinLink = (link) => void joinFromLink(link);
  for (const link of waitingLinks.splice(0)) openJoinLink(link);

  // ---- updates from the pool's coordinator (main/updates.ts); installed builds only ----
  if (app.isPackaged) {
    // electron-updater downloads through its own session: it trusts the pool's pinned certificate as the app does.
    session.fromPartition('electron-updater', { cache: false }).setCertificateVerifyProc((request, callback) => {
      const upstream = runtime.upstream();
      const atPool = upstream?.servers.some((server) => new URL(server).hostname === request.hostname);
      const pinned = upstream?.fingerprint && atPool ? upstream.fingerprint : null;
      callback(pinned ? (pinnedCertificateMatches(pinned, request.certificate.fingerprint) ? 0 : -2) : -3);
    });
    const updates = new DesktopUpdates(electronUpdater.autoUpdater, {
      upstream: () => runtime.upstream(),
      runningJobs: () => runtime.runningJobs(),
      log,
      intervalMs: UPDATE_CHECK_INTERVAL_MS,
      ask: async (version, runningJobs) => {
        const { response } = await dialog.showMessageBox({
          type: 'info',
          buttons: ['Restart now', 'Later'],
          defaultId: 1,
          cancelId: 1,
          message: `cmd-executor ${version} is ready to install`,
          detail: `${runningJobs > 0 ? `Restarting hands the ${runningJobs} job(s) this PC runs for colleagues back to the pool. ` : ''}Later installs it when you quit the app.`,
        });
        return response === 0;
      },
    });
    updates.start();
    app.on('will-quit', () => updates.dispose());
  }
}
