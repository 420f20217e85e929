// The job being watched and its terminal. The job's SSE stream feeds the store from this one place:
// `openJob` runs the loop, and every event goes through `applyJobEvent`. A reload (or opening the job
// again) starts from event 0 into a fresh terminal, which replays the whole backlog.
import { API_PREFIX, isTerminal, type Job, type JobEvent } from '../../../protocol/api';
import { ApiError, saveDownload } from '../api';
import { freshCursor, terminalText, type TerminalCursor } from '../lib/terminal-text';
import type { SliceCreator, StoreDeps } from './types';

export type StreamStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'ended';

/**
 * The terminal's text, appended to without copying: `chunks` is one array per generation that only grows, and
 * each state's `length` says how much of it that state holds. A new event costs a push and a small object,
 * not a copy of the whole history; the terminal reads what it has not written yet through `subscribe`.
 */
export interface TerminalFeed {
  /** The job these chunks belong to; a terminal writes only its own job's feed. */
  jobId: string | null;
  /** Changes whenever the terminal must be cleared and written anew (another job, a reload). */
  generation: number;
  /** Shared by every state of this generation; read only the first `length`. */
  chunks: readonly string[];
  length: number;
}

const emptyFeed = (jobId: string | null, generation: number): TerminalFeed => ({ jobId, generation, chunks: [], length: 0 });

export interface JobViewSlice {
  viewedJobId: string | null;
  viewedJob: Job | null;
  viewError: string | null;
  streamStatus: StreamStatus;
  /** The last event applied; a reconnect resumes after it. */
  lastEventId: number;
  terminalCursor: TerminalCursor;
  terminal: TerminalFeed;
  /** A cancel/download failure, shown beside the buttons. */
  actionError: string | null;
  openJob(id: string): void;
  closeJob(): void;
  applyJobEvent(event: JobEvent): void;
  /** Re-reads what no event carries while the job waits: the coordinator's reason for the wait. */
  refreshWaitingReason(): Promise<void>;
  cancelViewedJob(): Promise<void>;
  /** Submits the viewed job again (same spec and ZIP) and returns the new job's id, or null on failure. */
  rerunViewedJob(): Promise<string | null>;
  /** Saves the job's whole log or its artifacts ZIP through the browser's download. */
  downloadFromJob(what: 'log' | 'artifacts'): Promise<void>;
}

const defaultReconnectDelay = (attempt: number) => Math.min(10_000, 500 * 2 ** attempt);

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export const createJobViewSlice =
  (deps: StoreDeps): SliceCreator<JobViewSlice> =>
  (set, get) => {
    let following: AbortController | null = null;
    const reconnectDelay = deps.reconnectDelayMs ?? defaultReconnectDelay;

    async function follow(id: string, signal: AbortSignal): Promise<void> {
      const client = get().client;
      if (!client) return;
      try {
        const job = await client.getJob(id);
        if (signal.aborted) return;
        set({ viewedJob: job, terminalCursor: freshCursor(job.spec.commands.length) });
      } catch (err) {
        if (signal.aborted) return;
        const missing = err instanceof ApiError && err.status === 404;
        set({ viewError: missing ? `there is no job ${id}` : get().failureMessage(err), streamStatus: 'ended' });
        return;
      }
      for (let failures = 0; !signal.aborted; ) {
        try {
          for await (const event of client.events(id, { afterId: get().lastEventId, signal })) {
            if (signal.aborted) return;
            if (get().streamStatus !== 'live') set({ streamStatus: 'live' });
            get().applyJobEvent(event);
            failures = 0;
          }
          break;
        } catch (err) {
          if (signal.aborted) return;
          if (err instanceof ApiError && (err.status === 401 || err.status === 404)) {
            set({ viewError: get().failureMessage(err), streamStatus: 'ended' });
            return;
          }
          set({ streamStatus: 'reconnecting' });
          await pause(reconnectDelay(failures++), signal);
        }
      }
      if (signal.aborted) return;
      set({ streamStatus: 'ended' });
      // The final record has what events do not carry: finish time, per-command results, artifacts.
      try {
        const job = await client.getJob(id);
        if (!signal.aborted) set({ viewedJob: job });
      } catch (err) {
        if (!signal.aborted) set({ actionError: get().failureMessage(err) });
      }
    }

    return {
      viewedJobId: null,
      viewedJob: null,
      viewError: null,
      streamStatus: 'idle',
      lastEventId: 0,
      terminalCursor: freshCursor(0),
      terminal: emptyFeed(null, 0),
      actionError: null,

      openJob(id) {
        following?.abort();
        following = new AbortController();
        set({
          viewedJobId: id,
          viewedJob: null,
          viewError: null,
          actionError: null,
          streamStatus: 'connecting',
          lastEventId: 0,
          terminalCursor: freshCursor(0),
          terminal: emptyFeed(id, get().terminal.generation + 1),
        });
        void follow(id, following.signal);
      },

      closeJob() {
        following?.abort();
        following = null;
        // Nothing of this job may greet the next one: its feed goes with it.
        set({
          viewedJobId: null,
          viewedJob: null,
          viewError: null,
          actionError: null,
          streamStatus: 'idle',
          lastEventId: 0,
          terminalCursor: freshCursor(0),
          terminal: emptyFeed(null, get().terminal.generation + 1),
        });
      },

      applyJobEvent(event) {
        const { terminal, terminalCursor, viewedJob, lastEventId } = get();
        // A resumed stream never repeats events; this guards a retry that raced a slow answer.
        if (lastEventId > 0 && event.id <= lastEventId) return;
        const { text, cursor } = terminalText(event, terminalCursor);
        const next: Partial<JobViewSlice> = { lastEventId: event.id, terminalCursor: cursor };
        if (text) {
          // Appended past this state's length only: earlier states, which end before it, stay as they were.
          (terminal.chunks as string[]).splice(terminal.length, Infinity, text);
          next.terminal = { ...terminal, length: terminal.length + 1 };
        }
        if (event.type === 'state' && viewedJob) {
          const { state, attempt, reason, exitCode, workerId, workerName, error } = event.data;
          next.viewedJob = { ...viewedJob, state, attempt, reason, exitCode, workerId, workerName, error };
        }
        set(next);
      },

      async refreshWaitingReason() {
        const { client, viewedJobId } = get();
        if (!client || !viewedJobId) return;
        try {
          const { waitingReason } = await client.getJob(viewedJobId);
          // The stream stays the one writer of the state; this only refreshes the explanation beside it.
          const current = get().viewedJob;
          if (current?.id === viewedJobId && current.waitingReason !== waitingReason) set({ viewedJob: { ...current, waitingReason } });
        } catch {
          // The stream reports a lost coordinator; a stale reason until it is back is harmless.
        }
      },

      async rerunViewedJob() {
        const { client, viewedJobId } = get();
        if (!client || !viewedJobId) return null;
        try {
          return (await client.rerunJob(viewedJobId)).id;
        } catch (err) {
          set({ actionError: get().failureMessage(err) });
          return null;
        }
      },

      async cancelViewedJob() {
        const { client, viewedJobId } = get();
        if (!client || !viewedJobId) return;
        try {
          await client.cancelJob(viewedJobId);
          // The state itself arrives through the stream, the one writer of the job's state.
          const current = get().viewedJob;
          if (current?.id === viewedJobId && !isTerminal(current.state)) {
            set({ viewedJob: { ...current, cancelRequested: true }, actionError: null });
          }
        } catch (err) {
          set({ actionError: get().failureMessage(err) });
        }
      },

      async downloadFromJob(what) {
        const { client, viewedJobId } = get();
        if (!client || !viewedJobId) return;
        const path = `${API_PREFIX}/jobs/${encodeURIComponent(viewedJobId)}/${what}`;
        try {
          await saveDownload(client, path, what === 'log' ? `${viewedJobId}.log` : `${viewedJobId}-artifacts.zip`);
          set({ actionError: null });
        } catch (err) {
          set({ actionError: get().failureMessage(err) });
        }
      },
    };
  };
