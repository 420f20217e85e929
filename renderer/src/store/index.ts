// The app's one bound store, built from its slices.
import { create } from 'zustand';
import { createDesktopSlice } from './desktop';
import { createJobViewSlice } from './job-view';
import { createJobsSlice } from './jobs';
import { createPoolSlice } from './pool';
import { createSessionSlice } from './session';
import { createSubmitSlice } from './submit';
import type { AppState, StoreDeps } from './types';
import { createWorkersSlice } from './workers';

export type { AppState, StoreDeps } from './types';

export function createAppStore(deps: StoreDeps) {
  return create<AppState>()((...store) => ({
    ...createSessionSlice(deps)(...store),
    ...createJobsSlice(...store),
    ...createWorkersSlice(...store),
    ...createJobViewSlice(deps)(...store),
    ...createSubmitSlice(...store),
    ...createDesktopSlice(deps)(...store),
    ...createPoolSlice(...store),
  }));
}

export type AppStore = ReturnType<typeof createAppStore>;
