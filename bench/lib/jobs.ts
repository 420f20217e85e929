// Running jobs through a pool the way the cases measure them: a burst from first submit to last result, one job
// at a time from submit to the final state seen by an event subscriber, and how many requests the workers made.
import { isTerminal, type Job } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';

/** Every job of the pool, newest first. */
async function allJobs(client: ApiClient): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listJobs({ limit: 500, ...(cursor ? { cursor } : {}) });
    jobs.push(...page.jobs);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return jobs;
}

export interface Burst {
  jobs: number;
  /** First submit → last result recorded. */
  seconds: number;
  submitSec: number;
  jobsPerSec: number;
}

/** Submits `count` jobs running `command` (8 submitters at once) to a pool that had none, and waits until every one has succeeded. */
export async function runBurst(client: ApiClient, count: number, command: string): Promise<Burst> {
  const firstSubmit = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) await client.submitJob({ commands: [command], name: `burst ${next++}` });
    }),
  );
  const submitSec = (Date.now() - firstSubmit) / 1000;
  const deadline = Date.now() + 600_000;
  while ((await client.listJobs({ state: ['queued', 'leased', 'running'], limit: 1 })).jobs.length > 0) {
    if (Date.now() > deadline) throw new Error('jobs were still unfinished after 10 minutes');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const jobs = await allJobs(client);
  const failed = jobs.filter((j) => j.state !== 'succeeded');
  if (jobs.length !== count || failed.length) {
    throw new Error(`${jobs.length} jobs, ${failed.length} not succeeded (e.g. ${JSON.stringify(failed[0] ?? null).slice(0, 300)})`);
  }
  const lastResult = Math.max(...jobs.map((j) => Date.parse(j.finishedAt!)));
  const seconds = (lastResult - firstSubmit) / 1000;
  return { jobs: count, seconds, submitSec, jobsPerSec: count / seconds };
}

export interface FollowedJob {
  /** Submit → the terminal state event at the subscriber, ms. */
  resultMs: number;
  /** Submit → the first output event at the subscriber, ms; null when the job printed nothing. */
  firstOutputMs: number | null;
}

/** Submits one job and follows its event stream to the final state, which must be `succeeded`. */
export async function submitAndFollow(client: ApiClient, command: string, name: string): Promise<FollowedJob> {
  const started = performance.now();
  const job = await client.submitJob({ commands: [command], name });
  let firstOutputMs: number | null = null;
  for await (const event of client.events(job.id)) {
    if (event.type === 'output' && firstOutputMs === null) firstOutputMs = performance.now() - started;
    if (event.type === 'state' && isTerminal(event.data.state)) {
      if (event.data.state !== 'succeeded') throw new Error(`job ${job.id} ended ${event.data.state}: ${event.data.error ?? ''}`);
      return { resultMs: performance.now() - started, firstOutputMs };
    }
  }
  throw new Error(`the event stream of job ${job.id} ended before its final state`);
}

/**
 * Requests of the worker side of the protocol so far (claims, heartbeats and every call on a lease), summed from
 * the coordinator's request histogram; registration, leaving the pool and the control stream are not per job and are left out.
 */
export async function workerRequests(coordinatorUrl: string): Promise<number> {
  const text = await (await fetch(`${coordinatorUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('cmdx_http_request_duration_seconds_count{')) continue;
    const route = /route="([^"]*)"/.exec(line)?.[1] ?? '';
    // The control stream is one per worker, open for its whole life: not a request per job.
    if (/\/leases\/|\/workers\/:[^/]+\/(?!control$)./.test(route)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
