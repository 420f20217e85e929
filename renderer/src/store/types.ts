// The one app store is built from slices (zustand's slices pattern); each slice file owns its fields and actions.
import type { StateCreator } from 'zustand';
import type { CmdxApi } from '../../../protocol/ipc';
import type { DesktopSlice } from './desktop';
import type { JobsSlice } from './jobs';
import type { JobViewSlice } from './job-view';
import type { PoolSlice } from './pool';
import type { SessionSlice } from './session';
import type { SubmitSlice } from './submit';
import type { WorkersSlice } from './workers';

export type AppState = SessionSlice & JobsSlice & WorkersSlice & JobViewSlice & SubmitSlice & DesktopSlice & PoolSlice;

export type SliceCreator<T> = StateCreator<AppState, [], [], T>;

/** What the store needs from its surroundings; tests pass their own. */
export interface StoreDeps {
  /** Where the coordinator is when the page does not say otherwise (the page's own origin in the browser). */
  defaultBaseUrl: string;
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  /** The desktop bridge; null in a browser. */
  desktop: CmdxApi | null;
  /** Delay before reconnecting a dropped event stream; tests make it short. */
  reconnectDelayMs?: (attempt: number) => number;
}
