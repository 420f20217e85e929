// Why a queued job has not been picked up, in words a submitter can act on: the pool is empty, no connected
// worker has the labels it needs, or every worker that could take it is busy, paused or offline.
import type { Worker } from '../../protocol/api';

/** Names listed in a reason before "and N more". */
const NAMES_SHOWN = 5;

function names(workers: readonly Worker[]): string {
  const shown = workers.slice(0, NAMES_SHOWN).map((w) => (w.labels.length ? `${w.name} (${w.labels.join(', ')})` : w.name));
  const more = workers.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/** Null when a worker could take the job now (it is about to be picked up). */
export function waitingReason(labels: readonly string[], workers: readonly Worker[]): string | null {
  const online = workers.filter((w) => w.state !== 'offline');
  const fitting = workers.filter((w) => labels.every((label) => w.labels.includes(label)));
  const fittingOnline = fitting.filter((w) => w.state !== 'offline');
  if (fittingOnline.some((w) => w.state === 'idle' || (w.state === 'busy' && w.currentJobs.length < w.slots))) return null;

  if (online.length === 0) {
    return workers.length === 0
      ? 'no worker has joined the pool yet: start one (npm run worker, or "Contribute" in the desktop app)'
      : `no worker is online; ${plural(workers.length, 'worker is', 'workers are')} offline: ${names(workers)}`;
  }
  if (fittingOnline.length === 0) {
    const needed = labels.length === 1 ? `the label ${labels[0]}` : `all of the labels ${labels.join(', ')}`;
    const offline = fitting.length ? ` (${names(fitting)} ${fitting.length === 1 ? 'has' : 'have'} it but ${fitting.length === 1 ? 'is' : 'are'} offline)` : '';
    return `no connected worker has ${needed}${offline}; ${plural(online.length, 'worker is', 'workers are')} online: ${names(online)}`;
  }
  const states = fittingOnline.map((w) => `${w.name} is ${w.state === 'suspended' ? "paused on its owner's PC" : w.state}`);
  return `every worker that can take it is occupied: ${states.slice(0, NAMES_SHOWN).join(', ')}`;
}
