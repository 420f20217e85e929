// Matching jobs to workers by isolation, like labels: network only where the owner allows it, a sandbox where
// the job insists, and a worker without a sandbox taking only the submitters its owner trusts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Isolation } from '../../protocol/api';
import { DEFAULT_JOB_LIMITS } from '../../protocol/limits';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

const isolation = (sandbox: Isolation['sandbox'], network: boolean): Isolation => ({ sandbox, network, limits: DEFAULT_JOB_LIMITS });

describe('isolation in scheduling', () => {
  let pool: TestCoordinator;
  let admin: ApiClient;

  beforeEach(async () => {
    pool = await startTestCoordinator();
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  it('stores what a worker reports and shows it in GET /workers (null for one that says nothing)', async () => {
    await registerTestWorker(pool.url, pool.joinToken, { name: 'boxed', isolation: isolation('bubblewrap', true) });
    await registerTestWorker(pool.url, pool.joinToken, { name: 'old' });
    const workers = await admin.listWorkers();
    expect(workers.find((w) => w.name === 'boxed')!.isolation).toEqual(isolation('bubblewrap', true));
    expect(workers.find((w) => w.name === 'old')!.isolation).toBeNull();
  });

  it('gives a network job only to a worker that allows network, a requireSandbox job only to a sandboxed one', async () => {
    const offline = await registerTestWorker(pool.url, pool.joinToken, { name: 'no-net', isolation: isolation('bubblewrap', false) });
    const bare = await registerTestWorker(pool.url, pool.joinToken, { name: 'bare', isolation: isolation('none', true) });
    const netJob = await admin.submitJob({ commands: ['curl example.org'], network: true });
    const boxedJob = await admin.submitJob({ commands: ['make'], requireSandbox: true });
    expect(await offline.client.claim(offline.id, 0)).toMatchObject({ job: { id: boxedJob.id } });
    expect(await offline.client.claim(offline.id, 0)).toBeNull();
    expect(await bare.client.claim(bare.id, 0)).toMatchObject({ job: { id: netJob.id } });
    expect((await admin.getJob(netJob.id)).spec).toMatchObject({ network: true, requireSandbox: false, limits: {} });
  });

  it('answers a claim limited to some submitters with their jobs only', async () => {
    const bare = await registerTestWorker(pool.url, pool.joinToken, { name: 'bare', isolation: isolation('none', false) });
    const job = await admin.submitJob({ commands: ['true'] });
    expect(await bare.client.claim(bare.id, 0, undefined, { onlySubmitters: ['alice'] })).toBeNull();
    expect(await bare.client.claim(bare.id, 0, undefined, { onlySubmitters: ['alice', job.submittedBy] })).toMatchObject({ job: { id: job.id } });
  });

  it('a job no worker here may take does not hide the jobs behind it that it may (network, sandbox, submitter)', async () => {
    const bare = await registerTestWorker(pool.url, pool.joinToken, { name: 'bare', isolation: isolation('none', false) });
    const bob = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('bob', 'submit') });
    // Older and alike in labels, so a queue that looked only at the first job of each label set would stop there.
    await admin.submitJob({ commands: ['curl example.org'], network: true });
    await admin.submitJob({ commands: ['make'], requireSandbox: true });
    await admin.submitJob({ commands: ['true'] });
    const bobs = await bob.submitJob({ commands: ['true'] });
    expect(await bare.client.claim(bare.id, 0, undefined, { onlySubmitters: ['bob'] })).toMatchObject({ job: { id: bobs.id } });
  });

  it('refuses limits a person could not mean, with a message', async () => {
    await expect(admin.submitJob({ commands: ['true'], limits: { memoryMiB: 0 } })).rejects.toThrow(/memoryMiB is at least 1 MiB/);
  });
});
