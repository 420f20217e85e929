// What a job's record tells a person beyond its state: why a queued job waits (from the pool as it is when
// the job is read), and who ran it, also once that worker has left the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

describe('the job view', () => {
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

  it('names the worker that ran a job after that worker has left the pool', async () => {
    const job = await submitter.submitJob({ commands: ['echo hi'], labels: ['leaving'] });
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'leaving-pc', labels: ['leaving'] });
    const claim = (await worker.client.claim(worker.id, 1000))!;
    expect(claim.job.id).toBe(job.id);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    await worker.client.deregisterWorker(worker.id);
    const after = await submitter.getJob(job.id);
    expect(after.workerName).toBe('leaving-pc');
    expect(after.attempts.map((a) => a.workerName)).toEqual(['leaving-pc']);
  });
});
