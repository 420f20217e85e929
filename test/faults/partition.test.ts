// A partitioned agent: frozen (SIGSTOP) past its lease while the job finishes elsewhere, then thawed. Whatever
// it says about the old lease afterwards is refused, and the job keeps the log and result of the run that won.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../api-error';
import { waitFor } from '../wait';
import { ProcessPool } from './process-pool';

describe('an agent frozen past its lease', () => {
  let pool: ProcessPool;
  beforeEach(async () => {
    pool = await ProcessPool.start();
  });
  afterEach(() => pool.cleanUp());

  it('has its late output and result refused; the job keeps the winner\'s log and result', async () => {
    await pool.startAgent('winner');
    const freeWinner = await pool.occupy('winner');
    const frozen = await pool.startAgent('frozen');
    // The first run lasts until its agent is killed; the second ends at once.
    const command = 'echo "run $$ start"; if [ "$CMDX_ATTEMPT" = 1 ]; then sleep 600; fi; echo "run $$ end"';
    const job = await pool.client.submitJob({ commands: [command], name: 'partitioned' });
    await pool.waitForJob(job.id, (j) => j.workerName === 'frozen' && j.outputBytes > 0, 'to print on frozen');

    process.kill(frozen.pid, 'SIGSTOP');
    await freeWinner();
    const won = await pool.waitForState(job.id, ['succeeded', 'failed', 'cancelled', 'timed_out']);
    expect(won).toMatchObject({ state: 'succeeded', workerName: 'winner', attempt: 2 });
    const winnerLog = await pool.client.getLog(job.id);
    expect(winnerLog).toMatch(/^run (\d+) start\nrun \1 end\n$/);

    // What the frozen agent holds: its identity and the lease it lost. Its calls on that lease are refused.
    const identity = JSON.parse(await readFile(join(pool.agentDir('frozen'), 'state', 'worker.json'), 'utf8')) as { token: string };
    const asFrozen = new ApiClient({ baseUrl: pool.coordinator.url, token: identity.token });
    const lostLease = won.attempts[0]!.leaseId;
    await expectApiError(asFrozen.sendOutput(lostLease, [{ seq: 1, stream: 'stdout', data: 'late\n' }]), 409, 'stale_lease');
    await expectApiError(asFrozen.complete(lostLease, { outcome: 'failed', exitCode: 1 }), 409, 'stale_lease');

    const thawedAt = Date.now();
    process.kill(frozen.pid, 'SIGCONT');
    // Thawed, the agent learns from its next heartbeat that the lease is gone, drops the job and is idle again.
    await waitFor(
      async () => {
        const worker = (await pool.client.listWorkers()).find((w) => w.name === 'frozen');
        return worker?.state === 'idle' && worker.currentJobs.length === 0 && Date.parse(worker.lastSeenAt) > thawedAt;
      },
      { timeoutMs: 15_000, message: 'the thawed agent to be idle again' },
    );
    const after = await pool.client.getJob(job.id);
    expect(after).toMatchObject({ state: 'succeeded', workerName: 'winner', attempt: 2, exitCode: 0 });
    expect(after.attempts.map((a) => [a.workerName, a.outcome])).toEqual([
      ['frozen', 'expired'],
      ['winner', 'completed'],
    ]);
    expect(await pool.client.getLog(job.id)).toBe(winnerLog);
  });
});
