// Job secrets are write-only: no read route, event stream, log or audit row carries a value; only the worker
// holding the lease gets them; output carrying one is masked by the agent before it leaves and by the coordinator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { SECRET_MASK } from '../../protocol/secrets';
import { LeaseReporter } from '../../main/agent/lease-reporter';
import { AgentFleet, memoryLogger, waitForJob } from '../../main/agent/test-support';
import { expectApiError } from '../../test/api-error';
import { queryStoreOf, registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';

const VALUE = 's3cr3t-deploy-key';

/** A real client that keeps what it sent. */
class RecordingClient extends ApiClient {
  sent: string[] = [];
  override sendOutput(...args: Parameters<ApiClient['sendOutput']>) {
    this.sent.push(...args[1].map((c) => ('data' in c ? c.data : '')));
    return super.sendOutput(...args);
  }
  override completeAndClaim(...args: Parameters<ApiClient['completeAndClaim']>) {
    this.sent.push(...(args[1].output ?? []).map((c) => ('data' in c ? c.data : '')));
    return super.completeAndClaim(...args);
  }
}

describe('job secrets', () => {
  let pool: TestCoordinator;
  let alice: ApiClient;
  const fleet = new AgentFleet();

  beforeAll(async () => {
    pool = await startTestCoordinator({ jobVisibility: 'team' });
    alice = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('alice', 'submit') });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await pool.stop();
  });

  it('go only to the worker holding the lease, and the coordinator masks them in stored and streamed output', async () => {
    const job = await alice.submitJob({ commands: ['deploy'], secrets: { DEPLOY_KEY: VALUE } });
    expect(job.secretNames).toEqual(['DEPLOY_KEY']);
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'secret-worker' });
    const heartbeat = await worker.client.heartbeat(worker.id);
    expect(JSON.stringify(heartbeat)).not.toContain(VALUE);
    const claim = (await worker.client.claim(worker.id, 0))!;
    expect(claim.job.secrets).toEqual({ DEPLOY_KEY: VALUE });
    expect(claim.job.spec.env).toEqual({});
    // A worker that does not mask: the coordinator does.
    await worker.client.sendOutput(claim.lease.id, [{ seq: 0, stream: 'stdout', data: `key=${VALUE}\n` }]);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });

    const reads = [
      JSON.stringify(await alice.getJob(job.id)),
      JSON.stringify(await alice.listJobs()),
      await alice.getLog(job.id),
      await (await fetch(`${pool.url}/api/v1/jobs/${job.id}/events`, { headers: alice.headers() })).text(),
      await (await fetch(`${pool.url}/api/jobs/status?jobId=${job.id}`, { headers: alice.headers() })).text(),
      JSON.stringify(await new ApiClient({ baseUrl: pool.url, token: pool.adminToken }).getJob(job.id)),
      JSON.stringify(await alice.rerunJob(job.id)),
    ];
    for (const read of reads) expect(read).not.toContain(VALUE);
    expect(await alice.getLog(job.id)).toContain(`key=${SECRET_MASK}`);

    expect(JSON.stringify(await queryStoreOf(pool.dataDir, 'SELECT * FROM audit'))).not.toContain(VALUE);
    expect(JSON.stringify(await queryStoreOf(pool.dataDir, 'SELECT * FROM events'))).not.toContain(VALUE);
  });

  it('are refused when too short to mask safely', async () => {
    await expectApiError(alice.submitJob({ commands: ['x'], secrets: { PIN: '123' } }), 400);
  });

  it('reach the job as env variables and are masked by the agent before its output leaves the machine', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'masking-worker' });
    const client = new RecordingClient({ baseUrl: pool.url, token: worker.token });
    await alice.submitJob({ commands: ['x'], secrets: { KEY: VALUE }, labels: ['host:masking-worker'] });
    const claim = (await client.claim(worker.id, 0))!;
    const reporter = new LeaseReporter({
      client,
      leaseId: claim.lease.id,
      jobId: claim.job.id,
      logger: memoryLogger(),
      backoff: { baseMs: 20, maxMs: 100 },
      onLeaseGone: () => {},
      secrets: Object.values(claim.job.secrets),
    });
    reporter.write('stdout', Buffer.from(`token ${VALUE} end\n`));
    reporter.endOutput();
    await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null);
    expect(client.sent.join('')).toBe(`token ${SECRET_MASK} end\n`);

    const { agent } = await fleet.start({ server: pool.url, joinToken: pool.joinToken, name: 'real-agent' });
    const job = await alice.submitJob({ commands: ['echo "key is $KEY"'], secrets: { KEY: VALUE }, labels: ['host:real-agent'] });
    const done = await waitForJob(alice, job.id);
    expect(done.state).toBe('succeeded');
    await waitFor(async () => (await alice.getLog(job.id)).includes(`key is ${SECRET_MASK}`), { message: 'the masked line' });
    expect(agent.status().name).toBe('real-agent');
  });
});
