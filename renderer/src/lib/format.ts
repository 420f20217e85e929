// Human-readable numbers for the views; pure so they are tested without a DOM.
import { OFFLINE_WORKERS, type Isolation, type JobState, type PoolShare, type Worker, type WorkerState } from '../../../protocol/api';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const totalSeconds = Math.round(seconds);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const rest = totalSeconds % 60;
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min ${rest} s`;
}

/** "12 s ago" relative to `now`; the views pass the time of their last refresh so it never drifts from the data. */
export function formatAgo(iso: string, now: number): string {
  const ms = Math.max(0, now - Date.parse(iso));
  if (ms < 5000) return 'just now';
  return `${formatDuration(ms).replace(/\.\d/, '')} ago`;
}

const JOB_STATE_LABELS: Record<JobState, string> = {
  queued: 'queued',
  leased: 'starting',
  running: 'running',
  suspended: "paused on the owner's PC",
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  timed_out: 'timed out',
};

export function jobStateLabel(state: JobState): string {
  return JOB_STATE_LABELS[state];
}

const WORKER_STATE_LABELS: Record<WorkerState, string> = {
  idle: 'idle',
  busy: 'busy',
  suspended: 'owner is using it',
  paused: 'paused',
  unhealthy: 'unhealthy',
  offline: 'offline',
};

export function workerStateLabel(state: WorkerState): string {
  return WORKER_STATE_LABELS[state];
}

/**
 * How a worker contains the jobs it runs, in a few words, and its per-job limits for a tooltip. A worker
 * that does not say (an older agent) counts as not sandboxed.
 */
export function isolationSummary(isolation: Isolation | null): { label: string; sandboxed: boolean; limits: string } {
  if (!isolation || isolation.sandbox === 'none') {
    return { label: 'not sandboxed (trusted submitters only)', sandboxed: false, limits: isolation ? limitsText(isolation) : '' };
  }
  const network = isolation.network ? 'network if asked' : 'no network';
  return { label: `sandboxed (${isolation.sandbox}), ${network}`, sandboxed: true, limits: limitsText(isolation) };
}

function limitsText({ limits }: Isolation): string {
  const mib = (n: number) => formatBytes(n * 1024 * 1024);
  return `per job: memory ${mib(limits.memoryMiB)}, ${limits.processes} processes, disk ${mib(limits.diskMiB)}, files up to ${mib(limits.fileSizeMiB)}, ${limits.openFiles} open files`;
}

const STATE_COLOURS: Record<JobState, string> = {
  queued: '#8b93a1',
  leased: '#5b8def',
  running: '#2456c9',
  suspended: '#d08a16',
  succeeded: '#17803d',
  failed: '#b42318',
  cancelled: '#d08a16',
  timed_out: '#b42318',
};

/** A tab icon for a job's state: a dot in the state's colour, as an inline SVG (no request to the server). */
export function stateFavicon(state: JobState): string {
  const svg = `<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><circle cx='8' cy='8' r='7' fill='${STATE_COLOURS[state]}'/></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/** How the workers list shows a worker: offline ones fade, then leave the list (a "show all" brings them back). */
export function workerPresence(worker: Pick<Worker, 'state' | 'lastSeenAt'>, now: number): 'shown' | 'faded' | 'hidden' {
  if (worker.state !== 'offline') return 'shown';
  const silentMs = now - Date.parse(worker.lastSeenAt);
  if (silentMs >= OFFLINE_WORKERS.hideAfterMs) return 'hidden';
  return silentMs >= OFFLINE_WORKERS.fadeAfterMs ? 'faded' : 'shown';
}

/** Fair share for the jobs list: "alice 62% (2 running) · bob 38%". */
export function formatShares(shares: readonly PoolShare[]): string {
  return shares
    .map((s) => `${s.submitter} ${Math.round(s.share * 100)}%${s.running > 0 ? ` (${s.running} running)` : ''}`)
    .join(' · ');
}
