// DELETE /workers/:id on a busy worker: its job goes back to the queue at once, its token is revoked, and the
// agent stops (one clear line) instead of joining again as a new worker, also when restarted on that work dir.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { Agent, RegistrationRefusedError } from './index';
import { livingGroupMembers } from './process-tree';
import { AgentFleet, waitForOutput } from './test-support';

describe('a worker removed from the pool', () => {
  let pool: TestCoordinator;
  let admin: ApiClient;
  const fleet = new AgentFleet();
  beforeAll(async () => {
    pool = await startTestCoordinator({ leaseTtlSec: 3, heartbeatIntervalSec: 0.2 });
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await pool.stop();
  });

  it('has its job requeued at once, stops its run, stops itself and cannot come back under its identity', async () => {
    const { agent, logger, workDir } = await fleet.start({ server: pool.url, joinToken: pool.joinToken, name: 'removed' });
    const removed = new Promise<Error>((resolve) => agent.once('removed', resolve));
    const job = await admin.submitJob({ commands: ['echo "pid $$"; sleep 100'], maxAttempts: 1 });
    const log = await waitForOutput(admin, job.id, /pid \d+/);
    const pid = Number(/pid (\d+)/.exec(log)![1]);
    const workerId = agent.status().workerId!;

    await admin.deregisterWorker(workerId);
    expect((await admin.getJob(job.id)).state).toBe('queued');
    expect((await admin.getJob(job.id)).attempts[0]!.outcome).toBe('released');

    const why = await removed;
    expect(why).toBeInstanceOf(RegistrationRefusedError);
    expect(why.message).toMatch(/removed this worker from the pool/);
    expect(agent.status().state).toBe('stopped');
    await waitFor(async () => (await livingGroupMembers(pid)).length === 0, { message: 'the job\'s processes to be killed' });
    expect(await admin.listWorkers()).toEqual([]);
    expect(logger.lines.some((line) => line.includes('registering again'))).toBe(false);

    const restarted = new Agent({ server: pool.url, joinToken: pool.joinToken, name: 'removed', workDir });
    await expect(restarted.start()).rejects.toThrow(/removed this worker from the pool/);
    expect(await admin.listWorkers()).toEqual([]);
  });
});
