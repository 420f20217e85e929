// The pool's usage over a day or a week: CPU-hours per PC (what it contributed) and per person (what they
// used), from one query over the leases; and its recent load (queued and running jobs). Knows nothing of HTTP.
import { ACTIVITY, USAGE_WINDOWS, type PoolActivity, type PoolUsage, type UsageWindow } from '../../protocol/api';
import type { Store } from '../store/types';
import { WORKER_TOKEN_PREFIX } from './jobs';

const HOUR_MS = 3600_000;
/** Hours to a third of a second: a short job still counts. */
const hours = (ms: number) => Math.round((ms / HOUR_MS) * 10_000) / 10_000;

export async function poolUsage(store: Store, now: number, window: UsageWindow): Promise<PoolUsage> {
  const since = now - USAGE_WINDOWS[window];
  const [rows, workers, tokens] = await Promise.all([store.leaseTimeSince(since, now), store.listWorkers(), store.listTokens()]);
  // A PC that has left the pool is still named: by its (revoked) token, which carries its name.
  const names = new Map<string, string>();
  for (const token of tokens) {
    if (token.workerId && token.name.startsWith(WORKER_TOKEN_PREFIX)) names.set(token.workerId, token.name.slice(WORKER_TOKEN_PREFIX.length));
  }
  for (const worker of workers) names.set(worker.id, worker.name);

  const byWorker = new Map<string, { ms: number; jobs: number }>();
  const byPerson = new Map<string, { ms: number; jobs: number }>();
  const add = (totals: Map<string, { ms: number; jobs: number }>, key: string, ms: number, jobs: number) => {
    const total = totals.get(key) ?? { ms: 0, jobs: 0 };
    totals.set(key, { ms: total.ms + ms, jobs: total.jobs + jobs });
  };
  for (const row of rows) {
    add(byWorker, row.workerId, row.ms, row.jobs);
    add(byPerson, row.submittedBy, row.ms, row.jobs);
  }
  const mostFirst = <T extends { cpuHours: number }>(list: T[]) => list.sort((a, b) => b.cpuHours - a.cpuHours);
  return {
    window,
    since: new Date(since).toISOString(),
    until: new Date(now).toISOString(),
    byWorker: mostFirst(
      [...byWorker].map(([workerId, t]) => ({ workerId, name: names.get(workerId) ?? workerId, cpuHours: hours(t.ms), jobs: t.jobs })),
    ),
    byPerson: mostFirst([...byPerson].map(([name, t]) => ({ name, cpuHours: hours(t.ms), jobs: t.jobs }))),
  };
}

/**
 * How many jobs were queued and how many running at each step of the last ACTIVITY.hours (now included): a job is
 * queued from its creation to its start, running from its start to its end. A job sent back to the queue counts as
 * running from its first start: the store keeps no history of requeues.
 */
export async function poolActivity(store: Store, now: number): Promise<PoolActivity> {
  const steps = (ACTIVITY.hours * HOUR_MS) / ACTIVITY.stepMs;
  const first = now - steps * ACTIVITY.stepMs;
  const jobs = await store.jobTimesSince(first, ACTIVITY.maxJobs);
  const points: PoolActivity['points'] = [];
  for (let i = 0; i <= steps; i++) {
    const at = first + i * ACTIVITY.stepMs;
    let queued = 0;
    let running = 0;
    for (const job of jobs) {
      const end = job.finishedAt ?? Infinity;
      if (job.createdAt > at || end <= at) continue;
      if (job.startedAt !== null && job.startedAt <= at) running++;
      else queued++;
    }
    points.push({ at: new Date(at).toISOString(), queued, running });
  }
  return { stepMs: ACTIVITY.stepMs, points };
}
