// Protocol v1 grows (issue 11): a completion carries the rest of the job's numbered stream (output and command
// records) and may ask for the next job; idle workers are known by their open claim, not by heartbeats.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';

describe('complete and claim in one call', () => {
  let pool: TestCoordinator;
  let clock: ReturnType<typeof manualClock>;
  let submitter: ApiClient;

  beforeEach(async () => {
    clock = manualClock();
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, leaseTtlSec: 30, offlineAfterSec: 30 });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  const story = async (jobId: string) => {
    const seen: string[] = [];
    for await (const e of submitter.events(jobId)) {
      seen.push(e.type === 'command' ? `${e.data.phase} ${e.data.index}` : e.type === 'state' ? e.data.state : e.type === 'output' ? e.data.stream : e.type);
    }
    return seen;
  };

  it('stores the records and output it carries, answers the id and state and the next job, and a retry answers the same', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const first = await submitter.submitJob({ commands: ['echo hi'] });
    const second = await submitter.submitJob({ commands: ['echo next'] });
    const third = await submitter.submitJob({ commands: ['echo later'] });
    const claim = (await worker.client.claim(worker.id, 0))!;
    expect(claim.job.id).toBe(first.id);

    const request = {
      outcome: 'succeeded' as const,
      exitCode: 0,
      output: [
        { seq: 0, command: { phase: 'start' as const, index: 0 } },
        { seq: 1, stream: 'stdout' as const, data: 'hi\n' },
        { seq: 2, command: { phase: 'end' as const, index: 0, exitCode: 0, signal: null, durationMs: 3 } },
      ],
      next: { waitMs: 0 },
    };
    const answer = await worker.client.completeAndClaim(claim.lease.id, request);
    expect(answer.job).toEqual({ id: first.id, state: 'succeeded' });
    expect(answer.next?.job.id).toBe(second.id);

    // The answer was lost: the retry answers the same lease, and takes no second job.
    const again = await worker.client.completeAndClaim(claim.lease.id, request);
    expect(again).toEqual(answer);
    expect((await submitter.getJob(third.id)).state).toBe('queued');
    expect((await submitter.getJob(second.id)).attempts).toHaveLength(1);

    const done = await submitter.getJob(first.id);
    expect(done.commands.map((c) => [c.index, c.exitCode, c.durationMs])).toEqual([[0, 0, 3]]);
    expect(await submitter.getLog(first.id)).toBe('hi\n');
    expect(await story(first.id)).toEqual(['queued', 'leased', 'running', 'start 0', 'stdout', 'end 0', 'succeeded']);

    // Once the handed-out job has ended, a retry hands out nothing: never a job twice.
    await worker.client.completeAndClaim(answer.next!.lease.id, { outcome: 'succeeded', exitCode: 0, next: null });
    expect((await worker.client.completeAndClaim(claim.lease.id, request)).next).toBeNull();
    expect((await submitter.getJob(third.id)).state).toBe('queued');
  });

  it('a completion of a lease that expired and went to another worker is refused with 409 and leases nothing', async () => {
    const late = await registerTestWorker(pool.url, pool.joinToken, { name: 'late' });
    const other = await registerTestWorker(pool.url, pool.joinToken, { name: 'other' });
    const job = await submitter.submitJob({ commands: ['echo x'] });
    const spare = await submitter.submitJob({ commands: ['echo spare'] });
    const stale = (await late.client.claim(late.id, 0))!;
    clock.advance(31_000);
    await pool.coordinator.sweep();
    expect((await other.client.claim(other.id, 0))?.job.id).toBe(job.id);

    const refused = late.client.completeAndClaim(stale.lease.id, {
      outcome: 'succeeded',
      exitCode: 0,
      output: [{ seq: 0, stream: 'stdout', data: 'too late\n' }],
      next: { waitMs: 0 },
    });
    await expectApiError(refused, 409, 'stale_lease');
    expect((await submitter.getJob(spare.id)).state).toBe('queued');
    expect(await submitter.getLog(job.id)).toBe('');
  });

  it('with nothing queued the completion waits like a claim, and the next job submitted is its answer', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    await submitter.submitJob({ commands: ['true'] });
    const claim = (await worker.client.claim(worker.id, 0))!;
    const completing = worker.client.completeAndClaim(claim.lease.id, { outcome: 'succeeded', exitCode: 0, next: { waitMs: 20_000 } });
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 1, { message: 'the completion to wait' });
    const next = await submitter.submitJob({ commands: ['echo next'] });
    const answer = await completing;
    expect(answer.job.state).toBe('succeeded');
    expect(answer.next?.job.id).toBe(next.id);
    // A worker held by an admin gets no next job; its own claim does the waiting.
    await pool.coordinator.scheduler.setAdminState(worker.id, 'paused');
    await submitter.submitJob({ commands: ['echo held'] });
    const held = await worker.client.completeAndClaim(answer.next!.lease.id, { outcome: 'succeeded', exitCode: 0, next: { waitMs: 20_000 } });
    expect(held.next).toBeNull();
  });

  it('command records also go through the output call, numbered with the output; the old calls still work beside them', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['echo a', 'echo b'] });
    const lease = (await worker.client.claim(worker.id, 0))!.lease.id;
    // Protocol v1 as it was: separate calls for a command's start and end.
    await worker.client.commandStart(lease, 0);
    expect(await worker.client.sendOutput(lease, [{ seq: 0, stream: 'stdout', data: 'a\n' }])).toEqual({ nextSeq: 1 });
    await worker.client.commandEnd(lease, 0, { exitCode: 0, signal: null, durationMs: 1 });
    // And as it grew: records in the stream, resent ones ignored like resent output.
    const batch = [
      { seq: 1, command: { phase: 'start' as const, index: 1 } },
      { seq: 2, stream: 'stdout' as const, data: 'b\n' },
      { seq: 3, command: { phase: 'end' as const, index: 1, exitCode: 0, durationMs: 2 } },
    ];
    expect(await worker.client.sendOutput(lease, batch)).toEqual({ nextSeq: 4 });
    expect(await worker.client.sendOutput(lease, batch)).toEqual({ nextSeq: 4 });
    await expectApiError(worker.client.sendOutput(lease, [{ seq: 9, command: { phase: 'start', index: 0 } }]), 409, 'seq_gap');
    await expectApiError(worker.client.sendOutput(lease, [{ seq: 4, command: { phase: 'start', index: 7 } }]), 400);
    const done = await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
    expect(done.commands.map((c) => [c.index, c.durationMs])).toEqual([[0, 1], [1, 2]]);
    expect(await submitter.getLog(job.id)).toBe('a\nb\n');
    expect(await story(job.id)).toEqual(['queued', 'leased', 'running', 'start 0', 'stdout', 'end 0', 'start 1', 'stdout', 'end 1', 'succeeded']);
  });

  it('an idle worker is online while its claim is parked, without heartbeats, and offline once it stops claiming', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'idle' });
    const state = async () => (await submitter.listWorkers()).find((w) => w.id === worker.id)!.state;
    const abort = new AbortController();
    const claiming = worker.client.claim(worker.id, 20_000, abort.signal).catch(() => null);
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 1, { message: 'the claim to park' });
    clock.advance(60_000);
    expect(await state()).toBe('idle');
    abort.abort();
    await claiming;
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 0, { message: 'the claim to end' });
    expect(await state()).toBe('idle');
    clock.advance(31_000);
    expect(await state()).toBe('offline');
  });
});
