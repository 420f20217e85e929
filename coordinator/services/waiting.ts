// Why a queued job has not been picked up, in words a submitter can act on: the pool is empty, no connected
// worker has the labels it needs, none offers the isolation it asks for (network, a sandbox), or every worker that
// could take it is busy, paused or offline.
import { isolationFits, type ResolvedJobSpec, type Worker } from '../../protocol/api';
import { hostLabel } from '../../protocol/host-label';

/** Names listed in a reason before "and N more". */
const NAMES_SHOWN = 5;

function names(workers: readonly WorkerAvailability[]): string {
  const shown = workers.slice(0, NAMES_SHOWN).map((w) => {
    // Every worker carries host:<its name>: saying it again next to the name tells nothing.
    const labels = w.labels.filter((label) => label !== hostLabel(w.name));
    return labels.length ? `${w.name} (${labels.join(', ')})` : w.name;
  });
  const more = workers.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

type Needs = Pick<ResolvedJobSpec, 'labels' | 'network' | 'requireSandbox'>;

/** What a waiting reason needs of a worker: its view's facts and how many of its slots are taken. */
export type WorkerAvailability = Pick<Worker, 'name' | 'labels' | 'isolation' | 'state' | 'slots'> & { busySlots: number };

/** Null when a worker could take the job now (it is about to be picked up). */
export function waitingReason(spec: Needs, workers: readonly WorkerAvailability[]): string | null {
  const { labels } = spec;
  const online = workers.filter((w) => w.state !== 'offline');
  const labelled = workers.filter((w) => labels.every((label) => w.labels.includes(label)));
  const fitting = labelled.filter((w) => isolationFits(w.isolation, spec));
  const fittingOnline = fitting.filter((w) => w.state !== 'offline');
  if (fittingOnline.some((w) => w.state === 'idle' || (w.state === 'busy' && w.busySlots < w.slots))) return null;

  if (online.length === 0) {
    return workers.length === 0
      ? 'no worker has joined the pool yet: start one (npm run worker, or "Contribute" in the desktop app)'
      : `no worker is online; ${plural(workers.length, 'worker is', 'workers are')} offline: ${names(workers)}`;
  }
  const labelledOnline = labelled.filter((w) => w.state !== 'offline');
  if (fittingOnline.length === 0 && labelledOnline.length > 0) {
    const asks = [spec.network && 'allows network', spec.requireSandbox && 'runs jobs in a sandbox'].filter(Boolean).join(' and ');
    return `no connected worker that could take it ${asks}: ${names(labelledOnline)}`;
  }
  if (fittingOnline.length === 0) {
    const needed = labels.length === 1 ? `the label ${labels[0]}` : `all of the labels ${labels.join(', ')}`;
    const offline = fitting.length ? ` (${names(fitting)} ${fitting.length === 1 ? 'has' : 'have'} it but ${fitting.length === 1 ? 'is' : 'are'} offline)` : '';
    return `no connected worker has ${needed}${offline}; ${plural(online.length, 'worker is', 'workers are')} online: ${names(online)}`;
  }
  const states = fittingOnline.map((w) => `${w.name} is ${w.state === 'suspended' ? "paused on its owner's PC" : w.state}`);
  return `every worker that can take it is occupied: ${states.slice(0, NAMES_SHOWN).join(', ')}`;
}
