import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { LeaseReporter, type LeaseReporterOptions } from './lease-reporter';
import { memoryLogger } from './test-support';

let pool: TestCoordinator;
let admin: ApiClient;
let clock: ReturnType<typeof manualClock>;

beforeEach(async () => {
  clock = manualClock();
  pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, leaseTtlSec: 30 });
  admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
});
afterEach(() => pool.stop());

/** A real client that counts its output and completion requests. */
class CountingClient extends ApiClient {
  outputRequests = 0;
  completions = 0;
  override sendOutput(...args: Parameters<ApiClient['sendOutput']>) {
    this.outputRequests++;
    return super.sendOutput(...args);
  }
  override completeAndClaim(...args: Parameters<ApiClient['completeAndClaim']>) {
    this.completions++;
    return super.completeAndClaim(...args);
  }
}

async function leased(commands: string[], options: Partial<LeaseReporterOptions> = {}) {
  const worker = await registerTestWorker(pool.url, pool.joinToken);
  const client = new CountingClient({ baseUrl: pool.url, token: worker.token });
  const job = await admin.submitJob({ commands });
  const claim = (await client.claim(worker.id, 0))!;
  const gone: string[] = [];
  const pauses: boolean[] = [];
  const logger = memoryLogger();
  const reporter = new LeaseReporter({
    client,
    leaseId: claim.lease.id,
    jobId: job.id,
    logger,
    backoff: { baseMs: 20, maxMs: 100 },
    onLeaseGone: (why) => gone.push(why),
    onBackpressure: (pause) => pauses.push(pause),
    ...options,
  });
  return { job, reporter, gone, logger, client, pauses };
}

async function events(jobId: string): Promise<JobEvent[]> {
  const all: JobEvent[] = [];
  for await (const event of admin.events(jobId)) all.push(event);
  return all;
}

describe('LeaseReporter', () => {
  it('delivers command starts, batched output and command ends in the order they happened', async () => {
    const { job, reporter } = await leased(['first', 'second']);
    reporter.commandStarted(0);
    for (let i = 0; i < 50; i++) reporter.write('stdout', Buffer.from(`line ${i}\n`));
    reporter.commandEnded(0, { exitCode: 0, signal: null, durationMs: 12 });
    reporter.commandStarted(1);
    reporter.write('stderr', Buffer.from('oops\n'));
    reporter.commandEnded(1, { exitCode: 2, signal: null, durationMs: 3 });
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'failed', exitCode: 2 }, null)).toBe(true);

    const seen = await events(job.id);
    const story = seen.flatMap((e) =>
      e.type === 'command' ? [`${e.data.phase} ${e.data.index}`] : e.type === 'output' ? [e.data.stream] : e.type === 'state' ? [e.data.state] : [],
    );
    const squashed = story.filter((step, i) => step !== story[i - 1]);
    expect(squashed).toEqual(['queued', 'leased', 'running', 'start 0', 'stdout', 'end 0', 'start 1', 'stderr', 'end 1', 'failed']);
    // 50 writes in one burst: a handful of requests, not fifty.
    expect(story.filter((s) => s === 'stdout').length).toBeLessThanOrEqual(3);
    expect(await admin.getLog(job.id)).toBe(`${Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join('')}oops\n`);
  });

  it('a job that ends inside the first flush interval costs one request: its records and output ride on the result', async () => {
    const { job, reporter, client } = await leased(['echo hi'], { flushIntervalMs: 60_000 });
    reporter.commandStarted(0);
    reporter.write('stdout', Buffer.from('hi\n'));
    reporter.commandEnded(0, { exitCode: 0, signal: null, durationMs: 4 });
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null)).toBe(true);
    expect([client.outputRequests, client.completions]).toEqual([0, 1]);
    const done = await admin.getJob(job.id);
    expect(done.state).toBe('succeeded');
    expect(done.commands.map((c) => [c.index, c.exitCode, c.durationMs])).toEqual([[0, 0, 4]]);
    expect(await admin.getLog(job.id)).toBe('hi\n');
    const story = (await events(job.id)).map((e) => (e.type === 'command' ? `${e.data.phase} ${e.data.index}` : e.type === 'state' ? e.data.state : e.type));
    expect(story).toEqual(['queued', 'leased', 'running', 'start 0', 'output', 'end 0', 'succeeded']);
  });

  it('a late result under an expired lease another worker took is refused with 409 and dropped', async () => {
    const { job, reporter, gone, logger } = await leased(['sleep 60']);
    reporter.commandStarted(0);
    await waitFor(async () => (await admin.getJob(job.id)).state === 'running', { message: 'the start to arrive' });
    clock.advance(31_000);
    await pool.coordinator.sweep();
    expect((await admin.getJob(job.id)).state).toBe('queued');
    const other = await registerTestWorker(pool.url, pool.joinToken, { name: 'other' });
    expect((await other.client.claim(other.id, 0))?.job.id).toBe(job.id);

    reporter.write('stdout', Buffer.from('too late\n'));
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null)).toBe(false);
    expect(reporter.leaseGone).toBe(true);
    expect(gone).toHaveLength(1);
    expect(gone[0]).toMatch(/no longer valid \(it is expired\)/);
    // The output went with the result, in one request: both are refused together.
    expect(logger.lines.join('\n')).toMatch(/refused the result succeeded: .*dropping this job's result/);
    const after = await admin.getJob(job.id);
    expect(after.state).toBe('leased');
    expect(after.attempts.map((a) => a.outcome)).toEqual(['expired', 'active']);
    expect(await admin.getLog(job.id)).toBe('');
  });

  it('output refused after a cancel (409 output_closed) stops the output, not the lease: the result still goes', async () => {
    const { job, reporter, gone, client } = await leased(['sleep 60']);
    reporter.write('stdout', Buffer.from('before\n'));
    await waitFor(async () => (await admin.getLog(job.id)) === 'before\n', { message: 'the first output' });
    await admin.cancelJob(job.id);
    const requestsBefore = client.outputRequests;
    reporter.write('stdout', Buffer.from('after\n'));
    await waitFor(() => client.outputRequests > requestsBefore, { message: 'the refused output' });
    reporter.write('stdout', Buffer.from('never sent\n'));
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'cancelled' }, null)).toBe(true);
    expect(client.outputRequests).toBe(requestsBefore + 1);
    expect(gone).toEqual([]);
    expect((await admin.getJob(job.id)).state).toBe('cancelled');
    expect(await admin.getLog(job.id)).toBe('before\n');
  });

  it('packs output into requests near the body limit, counting what JSON escaping adds', async () => {
    const { job, reporter, client, pauses } = await leased(['print a lot']);
    const plain = 'build log line\n'.repeat(200 * 1024); // 3 MiB
    const escaped = '\u0001'.repeat(512 * 1024); // 512 KiB raw, 3 MiB as JSON
    reporter.write('stdout', Buffer.from(plain));
    reporter.write('stderr', Buffer.from(escaped));
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null)).toBe(true);
    expect(await admin.getLog(job.id)).toBe(plain + escaped);
    // ~6 MiB of JSON in 900 KiB requests: 8 or so, where 128 KiB of raw output per request took 28.
    expect(client.outputRequests).toBeLessThanOrEqual(10);
    expect(pauses).toEqual([]);
  });

  it('pauses the pipes past half the buffer and reads them again once the coordinator has caught up', async () => {
    const { job, reporter, pauses } = await leased(['print a lot'], { maxBufferBytes: 256 * 1024 });
    const text = 'x'.repeat(200 * 1024);
    reporter.write('stdout', Buffer.from(text));
    expect(pauses).toEqual([true]);
    await waitFor(() => pauses.length === 2, { message: 'the pipes to be read again', timeoutMs: 3000 });
    expect(pauses).toEqual([true, false]);
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null)).toBe(true);
    const log = await admin.getLog(job.id);
    // Nothing dropped, no marker (compared as a flag: a diff of 200 KiB strings takes vitest minutes).
    expect(log === text).toBe(true);
  });

  it('pipes paused on whole chunks (no open chunk left to flush) are relieved at once, not after maxPausedMs', async () => {
    // Pipes read 64 KiB at a time, so a chatty job often fills chunks exactly: nothing stays open to time a flush.
    const { job, reporter, pauses } = await leased(['print a lot'], { maxBufferBytes: 256 * 1024, maxPausedMs: 60_000 });
    const chunk = 'y'.repeat(64 * 1024);
    reporter.write('stdout', Buffer.from(chunk));
    reporter.write('stdout', Buffer.from(chunk));
    expect(pauses).toEqual([true]);
    await waitFor(() => pauses.length === 2, { message: 'the pipes to be read again', timeoutMs: 5000 });
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null)).toBe(true);
    expect((await admin.getLog(job.id)) === chunk + chunk).toBe(true);
  });

  it('an unreachable coordinator holds the pipes only maxPausedMs; then output past the cap is dropped', async () => {
    const logger = memoryLogger();
    const pauses: boolean[] = [];
    const reporter = new LeaseReporter({
      client: new ApiClient({ baseUrl: 'http://127.0.0.1:9', token: 'unused' }), // the discard port: nothing listens
      leaseId: 'lease',
      jobId: 'job',
      logger,
      backoff: { baseMs: 20, maxMs: 100 },
      onLeaseGone: () => {},
      onBackpressure: (pause) => pauses.push(pause),
      maxBufferBytes: 64 * 1024,
      maxPausedMs: 50,
    });
    reporter.write('stdout', Buffer.from('x'.repeat(40 * 1024)));
    expect(pauses).toEqual([true]);
    await waitFor(() => pauses.length === 2, { message: 'the pause to give up' });
    expect(pauses).toEqual([true, false]);
    expect(logger.lines.join('\n')).toMatch(/took no output for 0.05 s; the job runs on and output past the buffer is dropped/);
    // Given up: more output does not pause the pipes again while nothing gets through.
    reporter.write('stdout', Buffer.from('y'.repeat(40 * 1024)));
    expect(pauses).toEqual([true, false]);
    reporter.abandon();
  });
});
