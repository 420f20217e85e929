// Fan-out (a matrix submission as one group), a worker's page and the pool's usage, against a real coordinator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

describe('matrix submissions', () => {
  let pool: TestCoordinator;
  let alice: ApiClient;
  let bob: ApiClient;
  let admin: ApiClient;

  beforeAll(async () => {
    pool = await startTestCoordinator({ limits: { submissionsPerMinute: 20, uploadBytesPerMinute: 1e9 } });
    alice = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('alice', 'submit') });
    bob = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('bob', 'submit') });
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterAll(() => pool.stop());

  it('one submission × the cross product of the values: one job each, CMDX_MATRIX_<name> in its env, one group', async () => {
    const answer = await alice.submit({ commands: ['echo $CMDX_MATRIX_n'], name: 'test', matrix: { n: ['1', '2', '3'], os: ['linux', 'mac'] } });
    const group = answer.group!;
    expect(answer.job).toBeUndefined();
    expect(group).toMatchObject({ name: 'test', submittedBy: 'alice', total: 6, state: 'active', counts: { queued: 6 } });
    expect(group.matrix).toEqual({ n: ['1', '2', '3'], os: ['linux', 'mac'] });
    expect(group.jobs.map((job) => job.name)).toEqual([
      'test (n=1, os=linux)',
      'test (n=1, os=mac)',
      'test (n=2, os=linux)',
      'test (n=2, os=mac)',
      'test (n=3, os=linux)',
      'test (n=3, os=mac)',
    ]);
    expect(group.jobs[3]!.spec.env).toEqual({ CMDX_MATRIX_n: '2', CMDX_MATRIX_os: 'mac' });
    expect(group.jobs[3]!.spec.matrix).toEqual({ n: '2', os: 'mac' });
    expect(new Set(group.jobs.map((job) => job.groupId))).toEqual(new Set([group.id]));

    const listed = await alice.listJobs({ group: group.id });
    expect(listed.jobs.map((job) => job.id).sort()).toEqual(group.jobs.map((job) => job.id).sort());
    expect((await alice.getGroup(group.id)).jobs.map((job) => job.id)).toEqual(group.jobs.map((job) => job.id));
    await admin.cancelGroup(group.id);
  });

  it('a matrix name that is also an object property (constructor, toString) is just a name: its group reads and cancels', async () => {
    const submitted = (await alice.submit({ commands: ['true'], matrix: { constructor: ['1', '2'], toString: ['a'] } })).group!;
    const group = await alice.getGroup(submitted.id);
    expect(group.matrix).toEqual({ constructor: ['1', '2'], toString: ['a'] });
    expect((await alice.cancelGroup(submitted.id)).total).toBe(2);
  });

  it('numbers and booleans are values too; a job submitted alone has no group', async () => {
    const group = (await alice.submit({ commands: ['true'], matrix: { n: [1, 2] as unknown as string[], fast: [true] as unknown as string[] } })).group!;
    expect(group.jobs.map((job) => job.spec.env)).toEqual([
      { CMDX_MATRIX_n: '1', CMDX_MATRIX_fast: 'true' },
      { CMDX_MATRIX_n: '2', CMDX_MATRIX_fast: 'true' },
    ]);
    const alone = await alice.submitJob({ commands: ['true'] });
    expect(alone.groupId).toBeNull();
    await alice.cancelGroup(group.id);
    await alice.cancelJob(alone.id);
  });

  it('a bad matrix is refused with a 400 that says what is wrong, and starts nothing', async () => {
    const before = (await admin.listJobs({ limit: 500 })).jobs.length;
    const refused = async (matrix: unknown) =>
      (await expectApiError(alice.submit({ commands: ['true'], matrix: matrix as Record<string, string[]> }), 400, 'invalid_request')).message;
    expect(await refused({})).toMatch(/matrix: give at least one name with a list of values/);
    expect(await refused({ n: [] })).toMatch(/matrix\.n: give at least one value/);
    expect(await refused({ n: ['1', '1'] })).toMatch(/matrix\.n: a value is listed twice/);
    expect(await refused({ 'bad-name': ['1'] })).toMatch(/matrix names are letters, digits and _/);
    expect(await refused({ n: [{ nested: 1 }] })).toMatch(/matrix\.n\.0/);
    const eleven = Array.from({ length: 11 }, (_, i) => String(i));
    expect(await refused({ a: eleven, b: eleven.slice(0, 10) })).toMatch(
      new RegExp(`11 × 10 = 110 jobs, more than the ${LIMITS.matrixJobs} one submission may start`),
    );
    expect((await admin.listJobs({ limit: 500 })).jobs.length).toBe(before);
  });

  it('a matrix counts as the jobs it starts against the per-minute cap', async () => {
    const carol = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('carol', 'submit') });
    const group = (await carol.submit({ commands: ['true'], matrix: { n: Array.from({ length: 15 }, (_, i) => String(i)) } })).group!;
    const err = await expectApiError(carol.submit({ commands: ['true'], matrix: { n: ['a', 'b', 'c', 'd', 'e', 'f'] } }), 429, 'too_many_requests');
    expect(err.message).toMatch(/submitted 20 jobs in the last minute/);
    await carol.cancelGroup(group.id);
  });

  it('a group is its owner\'s: bob can neither see nor cancel alice\'s (404), an admin can cancel it', async () => {
    const group = (await alice.submit({ commands: ['sleep 100'], matrix: { n: ['1', '2'] } })).group!;
    await expectApiError(bob.getGroup(group.id), 404, 'not_found');
    await expectApiError(bob.cancelGroup(group.id), 404, 'not_found');
    expect((await bob.listJobs({ group: group.id })).jobs).toEqual([]);
    expect((await alice.getGroup(group.id)).counts).toEqual({ queued: 2 });
    const cancelled = await admin.cancelGroup(group.id);
    expect(cancelled).toMatchObject({ state: 'cancelled', counts: { cancelled: 2 } });
    await expectApiError(alice.getGroup('grp_nonexistent'), 404, 'not_found');
  });

  it('with --job-visibility team, bob sees alice\'s group but may not cancel it (403)', async () => {
    const team = await startTestCoordinator({ jobVisibility: 'team' });
    try {
      const teamAlice = new ApiClient({ baseUrl: team.url, token: await team.coordinator.createToken('alice', 'submit') });
      const teamBob = new ApiClient({ baseUrl: team.url, token: await team.coordinator.createToken('bob', 'submit') });
      const group = (await teamAlice.submit({ commands: ['true'], env: { KEY: 'alice-only' }, matrix: { n: ['1', '2'] } })).group!;
      const seen = await teamBob.getGroup(group.id);
      expect(seen.total).toBe(2);
      expect(JSON.stringify(seen)).not.toContain('alice-only');
      const refused = await expectApiError(teamBob.cancelGroup(group.id), 403, 'forbidden');
      expect(refused.message).toMatch(/belongs to alice; only they or an admin may cancel it/);
      expect((await teamAlice.cancelGroup(group.id)).state).toBe('cancelled');
    } finally {
      await team.stop();
    }
  });

  it('the group ends failed when any job failed, and each job can be opened on its own', async () => {
    const group = (await admin.submit({ commands: ['exit $CMDX_MATRIX_code'], matrix: { code: ['0', '3'] } })).group!;
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'matrix-worker' });
    for (let i = 0; i < 2; i++) {
      const claim = (await worker.client.claim(worker.id, 0))!;
      const code = Number(claim.job.spec.env.CMDX_MATRIX_code);
      await worker.client.complete(claim.lease.id, { outcome: code === 0 ? 'succeeded' : 'failed', exitCode: code });
    }
    const ended = await admin.getGroup(group.id);
    expect(ended).toMatchObject({ state: 'failed', counts: { succeeded: 1, failed: 1 } });
    expect((await admin.getJob(ended.jobs[1]!.id)).exitCode).toBe(3);
    await worker.client.deregisterWorker(worker.id);
  });
});

describe('pool usage and a worker\'s page', () => {
  const clock = manualClock();
  let pool: TestCoordinator;
  let admin: ApiClient;
  let alice: ApiClient;

  beforeAll(async () => {
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0 });
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    alice = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('alice', 'submit') });
  });
  afterAll(() => pool.stop());

  /** A job of `who` held by `worker` for `ms` of the test's clock. */
  async function runFor(worker: Awaited<ReturnType<typeof registerTestWorker>>, who: ApiClient, ms: number, name: string) {
    const job = await who.submitJob({ commands: ['true'], name });
    const claim = (await worker.client.claim(worker.id, 0, undefined, {}))!;
    expect(claim.job.id).toBe(job.id);
    clock.advance(ms);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    return job;
  }

  it('CPU-hours per PC and per person over the last day and week, clipped to the window', async () => {
    const pc1 = await registerTestWorker(pool.url, pool.joinToken, { name: 'pc-1' });
    const pc2 = await registerTestWorker(pool.url, pool.joinToken, { name: 'pc-2' });
    await runFor(pc1, alice, 3 * 3600_000, 'old'); // ends 3 days before the end of the test
    clock.advance(3 * 24 * 3600_000 - 3 * 3600_000);
    await runFor(pc1, alice, 2 * 3600_000, 'a');
    await runFor(pc2, admin, 1800_000, 'b');
    // Still running: counts up to now.
    await alice.submitJob({ commands: ['true'], name: 'running' });
    const running = (await pc2.client.claim(pc2.id, 0))!;
    clock.advance(3600_000);
    await pc1.client.heartbeat(pc1.id);
    await pc2.client.heartbeat(pc2.id);

    const week = await alice.getUsage('week');
    expect(week.window).toBe('week');
    expect(week.byWorker).toEqual([
      { workerId: pc1.id, name: 'pc-1', cpuHours: 5, jobs: 2 },
      { workerId: pc2.id, name: 'pc-2', cpuHours: 1.5, jobs: 2 },
    ]);
    expect(week.byPerson).toEqual([
      { name: 'alice', cpuHours: 6, jobs: 3 },
      { name: 'admin', cpuHours: 0.5, jobs: 1 },
    ]);
    const day = await alice.getUsage('day');
    expect(day.byWorker.map((w) => [w.name, w.cpuHours])).toEqual([
      ['pc-1', 2],
      ['pc-2', 1.5],
    ]);
    // A PC that left the pool keeps its name in the totals.
    await pc1.client.deregisterWorker(pc1.id);
    expect((await alice.getUsage('day')).byWorker.map((w) => w.name)).toEqual(['pc-1', 'pc-2']);
    await expectApiError(alice.getUsage('year' as 'day'), 400, 'invalid_request');

    const page = await admin.getWorker(pc2.id);
    expect(page.worker).toMatchObject({ name: 'pc-2', slots: 1, state: 'busy' });
    expect(page.worker.currentJobs.map((job) => job.name)).toEqual(['running']);
    expect(page.recentJobs.map((job) => [job.name, job.outcome])).toEqual([
      ['running', 'active'],
      ['b', 'completed'],
    ]);
    // Under the default (owner) visibility alice does not read the names of others' jobs on it.
    expect((await alice.getWorker(pc2.id)).recentJobs.map((job) => job.name)).toEqual(['running', "someone else's job"]);
    await expectApiError(alice.getWorker('wkr_nonexistent'), 404, 'not_found');
    await pc2.client.complete(running.lease.id, { outcome: 'succeeded', exitCode: 0 });
  });
});

describe('pool activity', () => {
  const clock = manualClock();
  let pool: TestCoordinator;

  beforeAll(async () => {
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0 });
  });
  afterAll(() => pool.stop());

  it('queued and running jobs at each step of the last hours, from when each job was created, started and ended', async () => {
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'busy-pc' });
    const minute = 60_000;
    const t0 = clock.now();
    await admin.submitJob({ commands: ['true'], name: 'a' });
    clock.advance(5 * minute);
    const claim = (await worker.client.claim(worker.id, 0))!;
    await worker.client.setLeaseState(claim.lease.id, 'running');
    clock.advance(17 * minute);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    clock.advance(minute);
    await admin.submitJob({ commands: ['true'], name: 'b', labels: ['nowhere'] });
    clock.advance(7 * minute);

    const activity = await admin.getActivity();
    expect(activity.stepMs).toBe(10 * minute);
    expect(activity.points).toHaveLength(37);
    const at = (offsetMin: number) => new Date(t0 + offsetMin * minute).toISOString();
    expect(activity.points.slice(-5)).toEqual([
      { at: at(-10), queued: 0, running: 0 },
      { at: at(0), queued: 1, running: 0 },
      { at: at(10), queued: 0, running: 1 },
      { at: at(20), queued: 0, running: 1 },
      { at: at(30), queued: 1, running: 0 },
    ]);
    expect(activity.points.slice(0, -5).every((p) => p.queued === 0 && p.running === 0)).toBe(true);
  });
});
