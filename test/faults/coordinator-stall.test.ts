// The coordinator frozen (SIGSTOP) or killed (kill -9) for longer than the lease TTL while healthy agents run
// jobs: lease time only runs while both sides can hear each other, so when it is back no job runs twice and no
// result finished during the outage is refused.
import { readdir, readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../protocol/api';
import { waitFor } from '../wait';
import { FAST_LEASES, ProcessPool } from './process-pool';

const TTL_MS = Number(FAST_LEASES[1]) * 1000;

/** Whether a process whose command line contains `marker` is alive (a job's `sleep` with a unique duration). */
async function running(marker: string): Promise<boolean> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(marker)) return true;
  }
  return false;
}

/** The outage lasts until the short jobs have finished (their results wait in the agents) and twice the TTL passed. */
async function outageUntilShortJobsEnd(marker: string): Promise<void> {
  const since = Date.now();
  await waitFor(async () => Date.now() - since > 2 * TTL_MS && !(await running(marker)), {
    timeoutMs: 30_000,
    intervalMs: 100,
    message: 'the short jobs to finish during the outage',
  });
}

describe('the coordinator unreachable for longer than the lease TTL', () => {
  let pool: ProcessPool;
  beforeEach(async () => {
    pool = await ProcessPool.start();
  });
  afterEach(() => pool.cleanUp());

  async function expectEachRanOnce(ids: string[]): Promise<void> {
    for (const id of ids) {
      const job = await pool.waitForState(id, ['succeeded', 'failed', 'cancelled', 'timed_out']);
      expect(isTerminal(job.state)).toBe(true);
      expect(job, job.error ?? '').toMatchObject({ state: 'succeeded', attempt: 1 });
      expect(job.attempts.map((a) => a.outcome)).toEqual(['completed']);
      expect(await pool.client.getLog(id)).toBe('start\nend\n');
    }
  }

  it('SIGSTOP with 2 agents × 2 slots busy: on SIGCONT no job runs twice and no finished result is refused', { timeout: 90_000 }, async () => {
    await Promise.all([pool.startAgent('left', 2), pool.startAgent('right', 2)]);
    const short = 'sleep 2.013';
    const long = 'sleep 7.017';
    const ids: string[] = [];
    for (const command of [short, short, long, long]) {
      ids.push((await pool.client.submitJob({ commands: [`echo start; ${command}; echo end`], name: command })).id);
    }
    for (const id of ids) await pool.waitForJob(id, (j) => j.state === 'running' && j.outputBytes > 0, 'to run');

    process.kill(pool.coordinator.run.pid, 'SIGSTOP');
    try {
      await outageUntilShortJobsEnd(short);
    } finally {
      process.kill(pool.coordinator.run.pid, 'SIGCONT');
    }
    await expectEachRanOnce(ids);
    for (const agent of pool.agents.values()) expect(agent.output).not.toMatch(/dropping this job's result|gave its lease away/);
  });

  it('kill -9 and a restart: a remote job that ran through the outage keeps its result', { timeout: 90_000 }, async () => {
    await pool.startAgent('remote');
    const marker = 'sleep 2.019';
    const job = await pool.client.submitJob({ commands: [`echo start; ${marker}; echo end`], name: 'through the outage' });
    await pool.waitForJob(job.id, (j) => j.state === 'running' && j.outputBytes > 0, 'to run');

    await pool.killCoordinator();
    await outageUntilShortJobsEnd(marker);
    await pool.startCoordinator();

    await expectEachRanOnce([job.id]);
    expect(pool.agents.get('remote')!.output).not.toMatch(/dropping this job's result|gave its lease away/);
  });
});
