// The pool's workers, refreshed by polling like the jobs list.
import type { Worker } from '../../../protocol/api';
import type { SliceCreator } from './types';

export interface WorkersSlice {
  workers: Worker[];
  workersError: string | null;
  workersRefreshedAt: number | null;
  refreshWorkers(): Promise<void>;
}

export const createWorkersSlice: SliceCreator<WorkersSlice> = (set, get) => ({
  workers: [],
  workersError: null,
  workersRefreshedAt: null,

  async refreshWorkers() {
    const client = get().client;
    if (!client) return;
    try {
      const workers = await client.listWorkers();
      set({ workers, workersError: null, workersRefreshedAt: Date.now() });
    } catch (err) {
      set({ workersError: get().failureMessage(err) });
    }
  },
});
