// This PC's side in the desktop window: contribution switch, local agent, hosted pool, settings.
// Every field stays null in a browser, and the views hide what needs them.
import type { DesktopStatus, Settings, SettingsPatch } from '../../../protocol/ipc';
import { errorMessage } from '../api';
import type { SliceCreator, StoreDeps } from './types';

export interface DesktopSlice {
  desktopStatus: DesktopStatus | null;
  settings: Settings | null;
  desktopError: string | null;
  /** Loads status and settings and follows status pushes; returns the unsubscribe. */
  connectDesktop(): Promise<() => void>;
  setContribution(enabled: boolean): Promise<void>;
  pauseContribution(minutes: number): Promise<void>;
  saveSettings(patch: SettingsPatch): Promise<boolean>;
  /** Asks the desktop app to notify the user when the job ends. */
  notifyWhenDone(jobId: string): Promise<void>;
  copyText(text: string): Promise<void>;
  openLogs(): Promise<void>;
}

export const createDesktopSlice =
  (deps: StoreDeps): SliceCreator<DesktopSlice> =>
  (set) => {
    const bridge = deps.desktop;

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

      async connectDesktop() {
        if (!bridge) return () => {};
        const unsubscribe = bridge.onStatus((desktopStatus) => set({ desktopStatus }));
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
        if (settings) set({ settings });
        return settings !== null;
      },

      async notifyWhenDone(jobId) {
        if (bridge) await call(() => bridge.watchJob(jobId));
      },

      async copyText(text) {
        if (bridge) await call(() => bridge.copyText(text));
      },

      async openLogs() {
        if (bridge) await call(() => bridge.openLogs());
      },
    };
  };
