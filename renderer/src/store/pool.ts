// The pages read by polling, besides the lists: a matrix group, a worker's page, the pool's usage.
import type { JobGroup, PoolActivity, PoolUsage, UsageWindow, WorkerDetail } from '../../../protocol/api';
import type { SliceCreator } from './types';

export interface PoolSlice {
  /** The group on screen (null until read, or when another page is open). */
  group: JobGroup | null;
  groupError: string | null;
  workerDetail: WorkerDetail | null;
  workerDetailError: string | null;
  usage: PoolUsage | null;
  usageWindow: UsageWindow;
  usageError: string | null;
  /** Queued and running jobs over the last hours. */
  activity: PoolActivity | null;
  loadGroup(id: string): Promise<void>;
  /** Cancels each job of the group on screen that has not ended. */
  cancelGroup(): Promise<void>;
  loadWorkerDetail(id: string): Promise<void>;
  /** The CPU-hours of `window` (the one shown if not given) and the recent activity. */
  loadUsage(window?: UsageWindow): Promise<void>;
  resetPool(): void;
}

const initialPool = {
  group: null,
  groupError: null,
  workerDetail: null,
  workerDetailError: null,
  usage: null,
  usageWindow: 'week' as UsageWindow,
  usageError: null,
  activity: null,
};

export const createPoolSlice: SliceCreator<PoolSlice> = (set, get) => ({
  ...initialPool,

  async loadGroup(id) {
    const client = get().client;
    if (!client) return;
    // Another group's summary never shows under this one's id while it loads.
    if (get().group?.id !== id) set({ group: null, groupError: null });
    try {
      const group = await client.getGroup(id);
      set({ group, groupError: null });
    } catch (err) {
      set({ groupError: get().failureMessage(err) });
    }
  },

  async cancelGroup() {
    const { client, group } = get();
    if (!client || !group) return;
    try {
      set({ group: await client.cancelGroup(group.id), groupError: null });
    } catch (err) {
      set({ groupError: get().failureMessage(err) });
    }
  },

  async loadWorkerDetail(id) {
    const client = get().client;
    if (!client) return;
    if (get().workerDetail?.worker.id !== id) set({ workerDetail: null, workerDetailError: null });
    try {
      const workerDetail = await client.getWorker(id);
      set({ workerDetail, workerDetailError: null });
    } catch (err) {
      set({ workerDetailError: get().failureMessage(err) });
    }
  },

  async loadUsage(window = get().usageWindow) {
    const client = get().client;
    if (!client) return;
    set({ usageWindow: window });
    try {
      const [usage, activity] = await Promise.all([client.getUsage(window), client.getActivity()]);
      if (get().usageWindow === window) set({ usage, activity, usageError: null });
    } catch (err) {
      set({ usageError: get().failureMessage(err) });
    }
  },

  resetPool() {
    set(initialPool);
  },
});
