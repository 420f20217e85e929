// Artifacts that cannot be saved do not leave a job `succeeded` without them: over the coordinator's upload
// limit, the job fails and says why, in its error and in its output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { AgentFleet, waitForJob } from './test-support';

describe('artifacts that cannot be saved', () => {
  let pool: TestCoordinator;
  const fleet = new AgentFleet();
  beforeAll(async () => {
    pool = await startTestCoordinator({ maxUploadBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await pool.stop();
  });

  it('fail the job with the reason instead of a silent success', async () => {
    await fleet.start({ server: pool.url, joinToken: pool.joinToken });
    const submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const job = await submitter.submitJob({ commands: ['mkdir out && head -c 1000000 /dev/urandom > out/big.bin'], outputs: ['out/*'] });
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'failed', reason: 'worker_error', hasArtifacts: false });
    expect(done.error).toMatch(/the commands ended \(succeeded\) but the output artifacts could not be saved/);
    expect(await submitter.getLog(job.id)).toMatch(/output artifacts not kept/);
  });
});
