// People own their jobs: bob, with his own submit token, tries everything on alice's job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { makeZip } from '../../test/zips';

async function aliceJobWithArtifacts(pool: TestCoordinator, alice: ApiClient): Promise<Job> {
  const job = await alice.submitJob({ commands: ['make'], env: { NPM_TOKEN: 'npm-secret-value', DEPLOY_TOKEN: 'deploy-value' } });
  const worker = await registerTestWorker(pool.url, pool.joinToken, { name: `w-${job.id}` });
  const claim = (await worker.client.claim(worker.id, 0))!;
  await worker.client.sendOutput(claim.lease.id, [{ seq: 0, stream: 'stdout', data: 'alice output\n' }]);
  const artifacts = await makeZip([{ name: 'out.txt', data: 'alice artifact' }]);
  await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 }, new Blob([artifacts]));
  return job;
}

describe.each(['owner', 'team'] as const)('job ownership with --job-visibility %s', (visibility) => {
  let pool: TestCoordinator;
  let alice: ApiClient;
  let bob: ApiClient;
  let admin: ApiClient;
  let job: Job;
  let running: Job;

  beforeAll(async () => {
    pool = await startTestCoordinator({ jobVisibility: visibility });
    alice = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('alice', 'submit') });
    bob = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('bob', 'submit') });
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    job = await aliceJobWithArtifacts(pool, alice);
    running = await alice.submitJob({ commands: ['sleep 100'], env: { NPM_TOKEN: 'npm-secret-value' } });
  });
  afterAll(() => pool.stop());

  const bobSees = visibility === 'team';

  it("bob cannot read alice's env, download her artifacts, cancel or re-run her job", async () => {
    const artifacts = await fetch(`${pool.url}/api/v1/jobs/${job.id}/artifacts`, { headers: bob.headers() });
    expect(artifacts.status).toBe(bobSees ? 403 : 404);
    await expectApiError(bob.cancelJob(running.id), bobSees ? 403 : 404);
    await expectApiError(bob.rerunJob(job.id), bobSees ? 403 : 404);
    expect((await alice.getJob(running.id)).state).toBe('queued');
    if (bobSees) {
      const seen = await bob.getJob(job.id);
      expect(JSON.stringify(seen)).not.toContain('npm-secret-value');
      expect(JSON.stringify(seen)).not.toContain('deploy-value');
      expect(Object.keys(seen.spec.env).sort()).toEqual(['DEPLOY_TOKEN', 'NPM_TOKEN']);
    }
  });

  it(`bob ${bobSees ? 'sees' : 'does not see'} alice's jobs, states and logs`, async () => {
    const listed = (await bob.listJobs()).jobs.map((j) => j.id);
    expect(listed.includes(job.id)).toBe(bobSees);
    expect(JSON.stringify(await bob.listJobs())).not.toContain('npm-secret-value');
    if (bobSees) {
      expect(await bob.getLog(job.id)).toContain('alice output');
      expect((await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, { headers: bob.headers() })).status).toBe(200);
    } else {
      await expectApiError(bob.getJob(job.id), 404);
      await expectApiError(bob.getLog(job.id), 404);
      expect((await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, { headers: bob.headers() })).status).toBe(404);
      expect((await fetch(`${pool.url}/api/jobs/status?jobId=${job.id}`, { headers: bob.headers() })).status).toBe(404);
      const seedList = (await (await fetch(`${pool.url}/api/jobs/create`, { headers: bob.headers() })).json()) as { jobs: Job[] };
      expect(seedList.jobs.map((j) => j.id)).not.toContain(job.id);
    }
  });

  it(`bob ${bobSees ? 'sees' : 'does not see'} the name of alice's job on the worker running it`, async () => {
    const pinned = await alice.submitJob({ commands: ['sleep 1'], name: 'alice-private-build', labels: ['host:shown-worker'] });
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'shown-worker' });
    expect((await worker.client.claim(worker.id, 0, undefined, { onlyLabels: ['host:shown-worker'] }))?.job.id).toBe(pinned.id);
    const seen = (await bob.listWorkers()).find((w) => w.name === 'shown-worker')!;
    expect(seen.currentJobs[0]!.name === 'alice-private-build').toBe(bobSees);
    expect((await alice.listWorkers()).find((w) => w.name === 'shown-worker')!.currentJobs[0]!.name).toBe('alice-private-build');
  });

  it('alice owns hers: env, artifacts, re-run; a re-run stays hers even when an admin asks', async () => {
    expect((await alice.getJob(job.id)).spec.env.NPM_TOKEN).toBe('npm-secret-value');
    expect((await alice.listJobs()).jobs.map((j) => j.id)).toContain(job.id);
    const artifacts = await fetch(`${pool.url}/api/v1/jobs/${job.id}/artifacts`, { headers: alice.headers() });
    expect(artifacts.status).toBe(200);
    expect((await alice.rerunJob(job.id)).submittedBy).toBe('alice');
    const byAdmin = await admin.rerunJob(job.id);
    expect(byAdmin.submittedBy).toBe('alice');
    expect((await alice.getJob(byAdmin.id)).spec.env.DEPLOY_TOKEN).toBe('deploy-value');
    expect((await admin.listJobs()).jobs.map((j) => j.id)).toContain(job.id);
  });

  it('an admin may cancel anyone’s job', async () => {
    const other = await alice.submitJob({ commands: ['sleep 1'] });
    expect((await admin.cancelJob(other.id)).state).toBe('cancelled');
  });
});

describe('token names', () => {
  it('are unique among live tokens', async () => {
    const pool = await startTestCoordinator();
    try {
      await pool.coordinator.createToken('carol', 'submit');
      await expect(pool.coordinator.createToken('carol', 'submit')).rejects.toThrow(/already named "carol"/);
      await expect(pool.coordinator.createToken('admin', 'submit')).rejects.toThrow(/already named/);
    } finally {
      await pool.stop();
    }
  });
});
