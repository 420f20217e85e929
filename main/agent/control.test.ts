// A cancel or a coordinator timeout reaches the agent over its control stream, not with the next heartbeat:
// heartbeats here come once a minute, so these tests can only pass through the stream.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { AgentFleet, processesOfJob, waitForJob, waitForOutput } from './test-support';

/** Far longer than any wait below: a stop that came with a heartbeat would fail the test. */
const SLOW_HEARTBEATS = { heartbeatIntervalSec: 60, leaseTtlSec: 100_000, offlineAfterSec: 100_000 };
/** What "at once" allows on a loaded 2-core test machine: still a small part of one heartbeat interval. */
const PROMPTLY_MS = 5000;

let mono = 0;
let pool: TestCoordinator;
let submitter: ApiClient;
const fleet = new AgentFleet();

beforeAll(async () => {
  // The coordinator's deadlines run on a clock the test moves; sweeps (which enforce timeouts) run when asked.
  pool = await startTestCoordinator({ ...SLOW_HEARTBEATS, monotonicClock: () => mono, sweepIntervalMs: 0 });
  submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
});
afterEach(() => fleet.stopAll());
afterAll(() => pool.stop());

const gone = (jobId: string) =>
  waitFor(async () => (await processesOfJob(jobId)).length === 0, { timeoutMs: PROMPTLY_MS, intervalMs: 5, message: `the processes of job ${jobId} to end` });

describe('the control stream', () => {
  it('a cancel kills the job at once and the job reads cancelled, with no output after it', async () => {
    await fleet.start({ server: pool.url, joinToken: pool.joinToken });
    const job = await submitter.submitJob({ commands: ['echo started; while true; do echo tick; sleep 0.01; done'] });
    await waitForOutput(submitter, job.id, 'started');
    expect((await processesOfJob(job.id)).length).toBeGreaterThan(0);

    const cancelledAt = Date.now();
    await submitter.cancelJob(job.id);
    const logAtCancel = await submitter.getLog(job.id);
    await gone(job.id);
    const done = await waitForJob(submitter, job.id, ['cancelled'], PROMPTLY_MS);
    expect(Date.now() - cancelledAt).toBeLessThan(PROMPTLY_MS);
    expect(done).toMatchObject({ state: 'cancelled', reason: 'cancelled' });
    // Output still on its way when the cancel was recorded is refused: the log is what it was then.
    expect(await submitter.getLog(job.id)).toBe(logAtCancel);
  });

  it("the coordinator's timeout stops the job at once, though the agent's own timer is far off", async () => {
    await fleet.start({ server: pool.url, joinToken: pool.joinToken });
    const job = await submitter.submitJob({ commands: ['echo started; sleep 3000'], timeoutSec: 600 });
    await waitForOutput(submitter, job.id, 'started');
    mono += 601_000;
    await pool.coordinator.sweep();
    await gone(job.id);
    const done = await waitForJob(submitter, job.id, ['timed_out'], PROMPTLY_MS);
    expect(done).toMatchObject({ state: 'timed_out', reason: 'timed_out' });
  });
});
