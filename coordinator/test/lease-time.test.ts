// Lease time runs on the coordinator's monotonic clock: a wall-clock step of an hour either way neither expires
// a healthy worker's lease nor keeps a dead worker's job; a worker whose lease expired and who is heard again
// before anyone else took the job keeps its run (its result is accepted, not refused).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

const HOUR = 3_600_000;

describe('lease time', () => {
  let pool: TestCoordinator;
  let wall: ReturnType<typeof manualClock>;
  let mono: ReturnType<typeof manualClock>;
  let submitter: ApiClient;

  beforeEach(async () => {
    wall = manualClock();
    mono = manualClock(0);
    pool = await startTestCoordinator({
      clock: wall.now,
      monotonicClock: mono.now,
      sweepIntervalMs: 0,
      leaseTtlSec: 30,
      offlineAfterSec: 30,
    });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  /** Time passes for real (both clocks), with the healthy worker heartbeating every 10 s. */
  async function pass(ms: number, heartbeat: () => Promise<unknown>): Promise<void> {
    for (let passed = 0; passed < ms; passed += 10_000) {
      wall.advance(10_000);
      mono.advance(10_000);
      await heartbeat();
      await pool.coordinator.sweep();
    }
  }

  for (const step of [HOUR, -HOUR]) {
    it(`a wall-clock step of ${step > 0 ? '+' : '-'}1 h expires no healthy lease, and a dead worker is still found within a TTL`, async () => {
      const healthy = await registerTestWorker(pool.url, pool.joinToken, { name: 'healthy', labels: ['healthy'] });
      const dead = await registerTestWorker(pool.url, pool.joinToken, { name: 'dead', labels: ['dead'] });
      const kept = await submitter.submitJob({ commands: ['sleep 1000'], labels: ['healthy'], maxAttempts: 1 });
      const lost = await submitter.submitJob({ commands: ['sleep 1000'], labels: ['dead'] });
      await healthy.client.claim(healthy.id, 0);
      await dead.client.claim(dead.id, 0);

      wall.advance(step);
      await healthy.client.heartbeat(healthy.id);
      await pool.coordinator.sweep();
      expect((await submitter.getJob(kept.id)).state).toBe('leased');
      expect((await submitter.getJob(lost.id)).state).toBe('leased');

      // The dead worker says nothing for a TTL and a bit: its job goes back, the healthy one's stays.
      await pass(40_000, () => healthy.client.heartbeat(healthy.id));
      expect((await submitter.getJob(kept.id)).state).toBe('leased');
      const requeued = await submitter.getJob(lost.id);
      expect(requeued.state).toBe('queued');
      expect(requeued.attempts[0]!.outcome).toBe('expired');
      const workers = await submitter.listWorkers();
      expect(workers.find((w) => w.name === 'dead')?.state).toBe('offline');
      expect(workers.find((w) => w.name === 'healthy')?.state).toBe('busy');
    });
  }

  it('a worker that heartbeats and then dies is found within a TTL: its own renewal is not taken for another coordinator hearing it', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['sleep 1000'] });
    await worker.client.claim(worker.id, 0);
    wall.advance(5_000);
    mono.advance(5_000);
    await worker.client.heartbeat(worker.id);

    await pass(40_000, async () => {});
    expect((await submitter.getJob(job.id)).state).toBe('queued');
    expect((await submitter.listWorkers()).find((w) => w.id === worker.id)?.state).toBe('offline');
  });

  it('a job timeout is measured on the monotonic clock too', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['sleep 1000'], timeoutSec: 60 });
    await worker.client.claim(worker.id, 0);
    wall.advance(HOUR);
    await worker.client.heartbeat(worker.id);
    await pool.coordinator.sweep();
    expect((await worker.client.heartbeat(worker.id)).stop).toEqual([]);
    await pass(70_000, () => worker.client.heartbeat(worker.id));
    expect((await worker.client.heartbeat(worker.id)).stop.map((d) => d.reason)).toEqual(['timed_out']);
    expect((await submitter.getJob(job.id)).state).toBe('leased');
  });

  it('a worker heard again after its lease expired, before anyone took the job, keeps its run and its result', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo x'], maxAttempts: 2 });
    const claimed = (await worker.client.claim(worker.id, 0))!;
    await worker.client.sendOutput(claimed.lease.id, [{ seq: 0, stream: 'stdout', data: 'before\n' }]);
    wall.advance(31_000);
    mono.advance(31_000);
    await pool.coordinator.sweep();
    expect((await submitter.getJob(job.id)).state).toBe('queued');

    const beat = await worker.client.heartbeat(worker.id);
    expect(beat.leases.map((l) => l.leaseId)).toEqual([claimed.lease.id]);
    await worker.client.sendOutput(claimed.lease.id, [{ seq: 1, stream: 'stdout', data: 'after\n' }]);
    await worker.client.complete(claimed.lease.id, { outcome: 'succeeded', exitCode: 0 });
    const done = await submitter.getJob(job.id);
    expect(done).toMatchObject({ state: 'succeeded', attempt: 1 });
    expect(done.attempts.map((a) => a.outcome)).toEqual(['completed']);
    expect(await submitter.getLog(job.id)).toBe('before\nafter\n');
  });

  it('a finished result arriving after its lease expired is accepted when nobody else took the job', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo x'] });
    const claimed = (await worker.client.claim(worker.id, 0))!;
    wall.advance(31_000);
    mono.advance(31_000);
    await pool.coordinator.sweep();
    expect((await submitter.getJob(job.id)).state).toBe('queued');
    await worker.client.complete(claimed.lease.id, { outcome: 'succeeded', exitCode: 0 });
    expect(await submitter.getJob(job.id)).toMatchObject({ state: 'succeeded', attempt: 1 });
  });
});
