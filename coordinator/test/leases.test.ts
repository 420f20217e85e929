import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

describe('leases, expiry and cancellation', () => {
  let pool: TestCoordinator;
  let clock: ReturnType<typeof manualClock>;
  let submitter: ApiClient;

  beforeEach(async () => {
    clock = manualClock();
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, leaseTtlSec: 30, offlineAfterSec: 30 });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  it('requeues the job of a worker that stopped heartbeating, and refuses its late calls with 409', async () => {
    const dead = await registerTestWorker(pool.url, pool.joinToken, { name: 'dead' });
    const alive = await registerTestWorker(pool.url, pool.joinToken, { name: 'alive' });
    const job = await submitter.submitJob({ commands: ['echo x'] });
    const stale = (await dead.client.claim(dead.id, 0))!;
    await dead.client.sendOutput(stale.lease.id, [{ seq: 0, stream: 'stdout', data: 'from the dead\n' }]);

    clock.advance(20_000);
    await alive.client.heartbeat(alive.id);
    await pool.coordinator.sweep();
    expect((await submitter.getJob(job.id)).state).toBe('leased');

    clock.advance(11_000);
    await alive.client.heartbeat(alive.id);
    await pool.coordinator.sweep();
    const requeued = await submitter.getJob(job.id);
    expect(requeued.state).toBe('queued');
    expect(requeued.attempts[0]!.outcome).toBe('expired');
    expect((await submitter.listWorkers()).find((w) => w.id === dead.id)?.state).toBe('offline');

    const fresh = (await alive.client.claim(alive.id, 0))!;
    expect(fresh.job.attempt).toBe(2);
    await alive.client.sendOutput(fresh.lease.id, [{ seq: 0, stream: 'stdout', data: 'winner\n' }]);

    await expectApiError(dead.client.sendOutput(stale.lease.id, [{ seq: 1, stream: 'stdout', data: 'late' }]), 409, 'stale_lease');
    await expectApiError(dead.client.complete(stale.lease.id, { outcome: 'succeeded', exitCode: 0 }), 409, 'stale_lease');
    await alive.client.complete(fresh.lease.id, { outcome: 'succeeded', exitCode: 0 });

    const done = await submitter.getJob(job.id);
    expect(done.state).toBe('succeeded');
    expect(done.workerName).toBe('alive');
    expect(await submitter.getLog(job.id)).toBe('winner\n');
  });

  it('fails a job with reason lost once every attempt died', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo x'], maxAttempts: 2 });
    for (let attempt = 1; attempt <= 2; attempt++) {
      expect((await worker.client.claim(worker.id, 0))?.job.attempt).toBe(attempt);
      clock.advance(31_000);
      await pool.coordinator.sweep();
    }
    const failed = await submitter.getJob(job.id);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toBe('lost');
    expect(failed.attempts.map((a) => a.outcome)).toEqual(['expired', 'expired']);
  });

  it('heartbeats renew leases', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['sleep 100'] });
    await worker.client.claim(worker.id, 0);
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      const beat = await worker.client.heartbeat(worker.id);
      expect(beat.leases).toHaveLength(1);
      await pool.coordinator.sweep();
    }
    expect((await submitter.getJob(job.id)).state).toBe('leased');
  });

  it('a released (vacated) job goes back to the queue without counting as a failed attempt', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo x'], maxAttempts: 1 });
    const claim = (await worker.client.claim(worker.id, 0))!;
    await worker.client.release(claim.lease.id, 'vacated');
    expect((await submitter.getJob(job.id)).state).toBe('queued');
    const again = (await worker.client.claim(worker.id, 0))!;
    expect(again.job.attempt).toBe(2);
    await expectApiError(worker.client.release(claim.lease.id, 'vacated'), 409, 'stale_lease');
  });

  it('output chunks are idempotent by sequence number and refuse gaps', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo x'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    await worker.client.sendOutput(lease, [
      { seq: 0, stream: 'stdout', data: 'a' },
      { seq: 1, stream: 'stdout', data: 'b' },
    ]);
    expect(await worker.client.sendOutput(lease, [
      { seq: 1, stream: 'stdout', data: 'b' },
      { seq: 2, stream: 'stderr', data: 'c' },
    ])).toEqual({ nextSeq: 3 });
    await expectApiError(worker.client.sendOutput(lease, [{ seq: 5, stream: 'stdout', data: 'x' }]), 409, 'seq_gap');
    expect(await submitter.getLog(job.id)).toBe('abc');
  });

  it('another worker may not touch a lease, nor act as another worker', async () => {
    const owner = await registerTestWorker(pool.url, pool.joinToken, { name: 'owner' });
    const intruder = await registerTestWorker(pool.url, pool.joinToken, { name: 'intruder' });
    await submitter.submitJob({ commands: ['echo x'] });
    const lease = (await owner.client.claim(owner.id, 0))!.lease.id;
    await expectApiError(intruder.client.sendOutput(lease, [{ seq: 0, stream: 'stdout', data: 'x' }]), 403);
    await expectApiError(intruder.client.complete(lease, { outcome: 'succeeded', exitCode: 0 }), 403);
    await expectApiError(intruder.client.heartbeat(owner.id), 403);
    await expectApiError(intruder.client.claim(owner.id, 0), 403);
    await expectApiError(intruder.client.sendOutput('lse_nope', [{ seq: 0, stream: 'stdout', data: 'x' }]), 404);
  });

  it('cancels a queued job at once and a running one through its worker', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const queued = await submitter.submitJob({ commands: ['echo q'], priority: -1 });
    const running = await submitter.submitJob({ commands: ['sleep 100'] });
    expect((await submitter.cancelJob(queued.id)).state).toBe('cancelled');
    await expectApiError(submitter.cancelJob(queued.id), 409, 'job_finished');

    const claim = (await worker.client.claim(worker.id, 0))!;
    expect(claim.job.id).toBe(running.id);
    const cancelling = await submitter.cancelJob(running.id);
    expect(cancelling.state).toBe('leased');
    expect(cancelling.cancelRequested).toBe(true);
    const beat = await worker.client.heartbeat(worker.id);
    expect(beat.stop).toEqual([{ jobId: running.id, leaseId: claim.lease.id, reason: 'cancelled' }]);
    const done = await worker.client.complete(claim.lease.id, { outcome: 'cancelled', exitCode: null });
    expect(done.state).toBe('cancelled');
  });

  it("pushes a cancel and a timeout down the worker's control stream, and takes no output after either", async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const abort = new AbortController();
    const stream = worker.client.control(worker.id, abort.signal);
    const cancelled = await submitter.submitJob({ commands: ['sleep 100'] });
    const first = (await worker.client.claim(worker.id, 0))!;
    await worker.client.sendOutput(first.lease.id, [{ seq: 0, stream: 'stdout', data: 'before\n' }]);
    const told = stream.next();
    await submitter.cancelJob(cancelled.id);
    expect((await told).value).toEqual({ jobId: cancelled.id, leaseId: first.lease.id, reason: 'cancelled' });
    await expectApiError(worker.client.sendOutput(first.lease.id, [{ seq: 1, stream: 'stdout', data: 'after\n' }]), 409, 'output_closed');
    expect((await worker.client.complete(first.lease.id, { outcome: 'cancelled' })).state).toBe('cancelled');
    expect(await submitter.getLog(cancelled.id)).toBe('before\n');

    const timedOut = await submitter.submitJob({ commands: ['sleep 100'], timeoutSec: 5 });
    const second = (await worker.client.claim(worker.id, 0))!;
    clock.advance(6_000);
    await worker.client.heartbeat(worker.id);
    await pool.coordinator.sweep();
    expect((await stream.next()).value).toEqual({ jobId: timedOut.id, leaseId: second.lease.id, reason: 'timed_out' });
    await expectApiError(worker.client.sendOutput(second.lease.id, [{ seq: 0, stream: 'stdout', data: 'late\n' }]), 409, 'output_closed');
    abort.abort();
  });

  it('a control stream opened after a stop was recorded starts with it; another worker may not open it', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const other = await registerTestWorker(pool.url, pool.joinToken, { name: 'other' });
    const job = await submitter.submitJob({ commands: ['sleep 100'] });
    const claim = (await worker.client.claim(worker.id, 0))!;
    await submitter.cancelJob(job.id);
    const abort = new AbortController();
    const stream = worker.client.control(worker.id, abort.signal);
    expect((await stream.next()).value).toEqual({ jobId: job.id, leaseId: claim.lease.id, reason: 'cancelled' });
    abort.abort();
    await expectApiError(other.client.control(worker.id, new AbortController().signal).next(), 403, 'forbidden');
  });

  it('a cancelled job whose worker vanished ends cancelled when the lease expires', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['sleep 100'] });
    await worker.client.claim(worker.id, 0);
    await submitter.cancelJob(job.id);
    clock.advance(31_000);
    await pool.coordinator.sweep();
    expect((await submitter.getJob(job.id)).state).toBe('cancelled');
  });

  it('tells the worker to stop a job past its timeout, and ends it itself if the worker stays silent', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['sleep 100'], timeoutSec: 5 });
    const claim = (await worker.client.claim(worker.id, 0))!;
    clock.advance(6_000);
    await pool.coordinator.sweep();
    const beat = await worker.client.heartbeat(worker.id);
    expect(beat.stop).toEqual([{ jobId: job.id, leaseId: claim.lease.id, reason: 'timed_out' }]);
    expect((await submitter.getJob(job.id)).state).toBe('leased');
    // The worker keeps heartbeating but never reports the timeout: the coordinator ends the job after the grace.
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      await worker.client.heartbeat(worker.id);
      await pool.coordinator.sweep();
    }
    const ended = await submitter.getJob(job.id);
    expect(ended.state).toBe('timed_out');
    expect(ended.reason).toBe('timed_out');
    await expectApiError(worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 }), 409, 'stale_lease');
  });

  it('deregistering hands the worker\'s jobs back and revokes its token', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo x'], maxAttempts: 1 });
    await worker.client.claim(worker.id, 0);
    await worker.client.deregisterWorker(worker.id);
    expect((await submitter.getJob(job.id)).state).toBe('queued');
    await expectApiError(worker.client.heartbeat(worker.id), 401);
    expect(await submitter.listWorkers()).toEqual([]);
  });
});
