// A queued job says why no worker has taken it, from the pool as it is when the job is read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

describe('the reason a queued job waits', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;

  beforeAll(async () => {
    pool = await startTestCoordinator();
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterAll(() => pool.stop());

  it('names the missing label and the workers online, then who is occupied, and nothing once it runs', async () => {
    const gpuJob = await submitter.submitJob({ commands: ['train'], labels: ['gpu'] });
    expect(gpuJob.waitingReason).toMatch(/^no worker has joined the pool yet/);

    await registerTestWorker(pool.url, pool.joinToken, { name: 'office-a', labels: ['linux'] });
    await registerTestWorker(pool.url, pool.joinToken, { name: 'office-b' });
    expect((await submitter.getJob(gpuJob.id)).waitingReason).toBe(
      'no connected worker has the label gpu; 2 workers are online: office-a (linux), office-b',
    );
    const twoLabels = await submitter.submitJob({ commands: ['train'], labels: ['gpu', 'cuda'] });
    expect(twoLabels.waitingReason).toMatch(/^no connected worker has all of the labels gpu, cuda;/);

    const gpu = await registerTestWorker(pool.url, pool.joinToken, { name: 'gpu-box', labels: ['gpu'] });
    const claim = await gpu.client.claim(gpu.id, 1000);
    expect(claim?.job.id).toBe(gpuJob.id);
    const second = await submitter.submitJob({ commands: ['train more'], labels: ['gpu'] });
    expect(second.waitingReason).toBe('every worker that can take it is occupied: gpu-box is busy');
    const running = await submitter.getJob(gpuJob.id);
    expect(running.state).not.toBe('queued');
    expect(running.waitingReason).toBeNull();

    const anyone = await submitter.submitJob({ commands: ['echo hi'] });
    expect(anyone.waitingReason).toBeNull();
    for (const job of [twoLabels, second, anyone]) await submitter.cancelJob(job.id);
  });
});
