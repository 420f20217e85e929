// This PC's side in the desktop window: contribution switch, local agent, hosted pool, settings.
// Every field stays null in a browser, and the views hide what needs them.
import { isTerminal } from '../../../protocol/api';
import type { DesktopStatus, Settings, SettingsPatch } from '../../../protocol/ipc';
import type { DiscoveredPool } from '../../../protocol/pool-record';
import { finishedNotice } from '../../../protocol/notice';
import { errorMessage } from '../api';
import { routeHash } from '../lib/route';
import type { SliceCreator, StoreDeps } from './types';

export interface DesktopSlice {
  desktopStatus: DesktopStatus | null;
  settings: Settings | null;
  desktopError: string | null;
  /** Pools announced on the LAN, as last looked for (null: not looked yet). */
  lanPools: DiscoveredPool[] | null;
  searchingPools: boolean;
  /** Listens for pools on the LAN for a moment (the main process does; a browser cannot). */
  discoverPools(): Promise<void>;
  /** Opens a pasted invite link as if it were clicked: the main process checks it and asks the owner. */
  openInvite(link: string): Promise<void>;
  /** Loads status and settings and follows status pushes; returns the unsubscribe. */
  connectDesktop(): Promise<() => void>;
  setContribution(enabled: boolean): Promise<void>;
  pauseContribution(minutes: number): Promise<void>;
  saveSettings(patch: SettingsPatch): Promise<boolean>;
  /** Notifies the user when the job ends: the desktop app's notification, or the browser's if allowed. */
  notifyWhenDone(jobId: string): Promise<void>;
  /** Notifies the desktop user once when a matrix submission's last job ends (in a browser, its page shows that). */
  notifyWhenGroupDone(groupId: string): Promise<void>;
  copyText(text: string): Promise<void>;
  openLogs(): Promise<void>;
}

/** How often a browser tab checks on a job it will announce (one light GET, not an open stream per job). */
const BROWSER_NOTICE_POLL_MS = 2000;

export const createDesktopSlice =
  (deps: StoreDeps): SliceCreator<DesktopSlice> =>
  (set, get) => {
    const bridge = deps.desktop;

    /** In a browser: asks for permission (the Run click is the user's gesture), then checks the job now and then. */
    async function notifyInBrowser(jobId: string): Promise<void> {
      if (typeof Notification === 'undefined') return;
      const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
      if (permission !== 'granted') return;
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, BROWSER_NOTICE_POLL_MS));
        const client = get().client;
        if (!client) return;
        const job = await client.getJob(jobId).catch(() => null);
        if (!job || !isTerminal(job.state)) continue;
        const { title, body } = finishedNotice(job);
        const notice = new Notification(title, { body, tag: job.id });
        notice.onclick = () => {
          window.focus();
          window.location.hash = routeHash({ view: 'job', jobId: job.id });
        };
        return;
      }
    }

    async function call<T>(run: () => Promise<T>): Promise<T | null> {
      try {
        const result = await run();
        set({ desktopError: null });
        return result;
      } catch (err) {
        set({ desktopError: errorMessage(err) });
        return null;
      }
    }

    return {
      desktopStatus: null,
      settings: null,
      desktopError: null,
      lanPools: null,
      searchingPools: false,

      async discoverPools() {
        if (!bridge || get().searchingPools) return;
        set({ searchingPools: true });
        const pools = await call(() => bridge.discoverPools());
        set({ searchingPools: false, ...(pools ? { lanPools: pools } : {}) });
      },

      async openInvite(link) {
        if (bridge) await call(() => bridge.openInvite(link));
      },

      async connectDesktop() {
        if (!bridge) return () => {};
        // Another pool or token may mean another role: asked again when the connection or the settings change.
        const connectionOf = (status: DesktopStatus | null) => JSON.stringify(status?.connection ?? null);
        const unsubscribeStatus = bridge.onStatus((desktopStatus) => {
          const reconnected = connectionOf(desktopStatus) !== connectionOf(get().desktopStatus);
          set({ desktopStatus });
          if (reconnected) void get().loadCaller();
        });
        const unsubscribeSettings = bridge.onSettings((settings) => {
          set({ settings });
          void get().loadCaller();
        });
        const unsubscribe = () => {
          unsubscribeStatus();
          unsubscribeSettings();
        };
        const [status, settings] = await Promise.all([call(() => bridge.getStatus()), call(() => bridge.getSettings())]);
        set({ desktopStatus: status, settings });
        return unsubscribe;
      },

      async setContribution(enabled) {
        if (!bridge) return;
        const status = await call(() => bridge.setContribution(enabled));
        if (status) set({ desktopStatus: status });
      },

      async pauseContribution(minutes) {
        if (!bridge) return;
        const status = await call(() => bridge.pauseContribution(minutes));
        if (status) set({ desktopStatus: status });
      },

      async saveSettings(patch) {
        if (!bridge) return false;
        const settings = await call(() => bridge.updateSettings(patch));
        if (settings) {
          set({ settings });
          void get().loadCaller();
        }
        return settings !== null;
      },

      async notifyWhenDone(jobId) {
        if (bridge) await call(() => bridge.watchJob(jobId));
        else await notifyInBrowser(jobId);
      },

      async notifyWhenGroupDone(groupId) {
        if (bridge) await call(() => bridge.watchGroup(groupId));
      },

      async copyText(text) {
        if (bridge) await call(() => bridge.copyText(text));
      },

      async openLogs() {
        if (bridge) await call(() => bridge.openLogs());
      },
    };
  };
