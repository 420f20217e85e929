// kill -9 of a real agent in the middle of a job: the job goes to another agent with the lost attempt counted,
// and a job whose every attempt dies ends `failed` (reason lost) instead of waiting forever. Jobs run until
// killed and agents are steered by keeping them busy, so nothing depends on how fast this machine is.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessPool } from './process-pool';

describe('an agent killed with kill -9 mid-job', () => {
  let pool: ProcessPool;
  beforeEach(async () => {
    pool = await ProcessPool.start();
  });
  afterEach(() => pool.cleanUp());

  it('its job finishes on another agent, and the lost attempt is counted', async () => {
    await pool.startAgent('survivor');
    const freeSurvivor = await pool.occupy('survivor');
    await pool.startAgent('doomed');
    const job = await pool.client.submitJob({ commands: ['if [ "$CMDX_ATTEMPT" = 1 ]; then sleep 600; fi; echo finished'], name: 'survives its agent' });
    await pool.waitForJob(job.id, (j) => j.state === 'running' && j.workerName === 'doomed', 'to run on doomed');

    await pool.killAgent('doomed');
    await freeSurvivor();

    const done = await pool.waitForState(job.id, ['succeeded', 'failed', 'cancelled', 'timed_out']);
    expect(done.state).toBe('succeeded');
    expect(done.workerName).toBe('survivor');
    expect(done.attempt).toBe(2);
    expect(done.attempts.map((a) => [a.workerName, a.outcome])).toEqual([
      ['doomed', 'expired'],
      ['survivor', 'completed'],
    ]);
    expect(await pool.client.getLog(job.id)).toBe('finished\n');
  });

  it('a job whose every attempt dies ends failed with reason lost, not stuck', async () => {
    const job = await pool.client.submitJob({ commands: ['sleep 600'], name: 'kills every agent', maxAttempts: 2 });
    for (const name of ['first', 'second']) {
      await pool.startAgent(name);
      await pool.waitForJob(job.id, (j) => j.state === 'running' && j.workerName === name, `to run on ${name}`);
      await pool.killAgent(name);
    }
    const ended = await pool.waitForState(job.id, ['succeeded', 'failed', 'cancelled', 'timed_out']);
    expect(ended).toMatchObject({ state: 'failed', reason: 'lost', attempt: 2 });
    expect(ended.error).toMatch(/lost 2 time/);
    expect(ended.attempts.map((a) => [a.workerName, a.outcome])).toEqual([
      ['first', 'expired'],
      ['second', 'expired'],
    ]);
  });
});
