// kill -9 of the coordinator in the middle of a burst of 200 jobs on 2 real agents, then a restart on the same
// data dir: every accepted job ends succeeded with its result recorded once, and no job is left stuck.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, type Job, type JobEvent } from '../../protocol/api';
import { ApiError } from '../../protocol/client';
import { waitFor } from '../wait';
import { ProcessPool } from './process-pool';

const BURST = 200;

describe('the coordinator killed with kill -9 mid-burst', () => {
  let pool: ProcessPool;
  beforeAll(async () => {
    pool = await ProcessPool.start();
    await Promise.all([pool.startAgent('left', 2), pool.startAgent('right', 2)]);
  });
  afterAll(() => pool.cleanUp());

  async function allJobs(): Promise<Job[]> {
    const jobs: Job[] = [];
    let cursor: string | undefined;
    do {
      const page = await pool.client.listJobs({ limit: 500, ...(cursor ? { cursor } : {}) });
      jobs.push(...page.jobs);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return jobs;
  }

  it('restarts on the same data dir; every accepted job succeeds once, none is stuck', { timeout: 120_000 }, async () => {
    const accepted = new Map<string, number>();
    let refused = 0;
    let next = 0;
    // Four submitters keep the burst going across the crash; a submit the dead coordinator did not answer is
    // not accepted (and not retried: it may or may not have been stored, which the end check covers).
    const burst = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < BURST) {
          const index = next++;
          try {
            accepted.set((await pool.client.submitJob({ commands: [`echo job-${index}`], name: `burst ${index}` })).id, index);
            // Paced, so the burst is still being submitted when the coordinator dies.
            await new Promise((resolve) => setTimeout(resolve, 20));
          } catch (err) {
            if (!(err instanceof ApiError) || err.status !== 0) throw err;
            refused++;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      }),
    );
    await waitFor(async () => accepted.size >= 100 && (await pool.client.listJobs({ state: ['succeeded'], limit: 10 })).jobs.length >= 10, {
      timeoutMs: 30_000,
      message: 'half the burst submitted and 10 jobs finished before the crash',
    });
    const unfinishedAtCrash = (await pool.client.listJobs({ state: ['queued', 'leased', 'running'], limit: 500 })).jobs.length;
    await pool.killCoordinator();
    expect(unfinishedAtCrash).toBeGreaterThan(0);
    await pool.startCoordinator();
    await burst;
    expect(accepted.size + refused).toBe(BURST);
    expect(accepted.size).toBeGreaterThanOrEqual(100);

    const jobs = await waitFor(
      async () => {
        const all = await allJobs();
        return all.every((job) => isTerminal(job.state)) ? all : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: 'every job to end' },
    );
    expect(jobs.filter((job) => job.state !== 'succeeded').map((job) => `${job.id} ${job.state} ${job.error}`)).toEqual([]);
    for (const id of accepted.keys()) expect(jobs.some((job) => job.id === id), `accepted job ${id}`).toBe(true);
    for (const job of jobs) {
      const index = Number(job.name.replace('burst ', ''));
      expect(job.attempts.filter((a) => a.outcome === 'completed'), job.id).toHaveLength(1);
      expect(await pool.client.getLog(job.id), job.id).toBe(`job-${index}\n`);
    }
    // One terminal state event per job: the result was recorded once, whatever was retried across the crash.
    for (const job of jobs.slice(0, 50)) {
      const events: JobEvent[] = [];
      for await (const event of pool.client.events(job.id)) events.push(event);
      expect(events.filter((e) => e.type === 'state' && isTerminal(e.data.state)), job.id).toHaveLength(1);
    }
    expect([...pool.agents.values()].every((agent) => agent.child.exitCode === null)).toBe(true);
  });
});
