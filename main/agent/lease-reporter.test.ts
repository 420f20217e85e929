import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { LeaseReporter } from './lease-reporter';
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

async function leased(commands: string[]) {
  const worker = await registerTestWorker(pool.url, pool.joinToken);
  const job = await admin.submitJob({ commands });
  const claim = (await worker.client.claim(worker.id, 0))!;
  const gone: string[] = [];
  const logger = memoryLogger();
  const reporter = new LeaseReporter({
    client: worker.client,
    leaseId: claim.lease.id,
    jobId: job.id,
    logger,
    backoff: { baseMs: 20, maxMs: 100 },
    onLeaseGone: (why) => gone.push(why),
  });
  return { job, reporter, gone, logger };
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

  it('a late result under an expired lease is refused with 409 and dropped', async () => {
    const { job, reporter, gone, logger } = await leased(['sleep 60']);
    reporter.commandStarted(0);
    await waitFor(async () => (await admin.getJob(job.id)).state === 'running', { message: 'the start to arrive' });
    clock.advance(31_000);
    await pool.coordinator.sweep();
    expect((await admin.getJob(job.id)).state).toBe('queued');

    reporter.write('stdout', Buffer.from('too late\n'));
    reporter.endOutput();
    expect(await reporter.complete({ outcome: 'succeeded', exitCode: 0 }, null)).toBe(false);
    expect(reporter.leaseGone).toBe(true);
    expect(gone).toHaveLength(1);
    expect(gone[0]).toMatch(/no longer valid \(it is expired\)/);
    expect(logger.lines.join('\n')).toMatch(/refused the output: .*dropping this job's result/);
    const after = await admin.getJob(job.id);
    expect(after.state).toBe('queued');
    expect(after.attempts.map((a) => a.outcome)).toEqual(['expired']);
    expect(await admin.getLog(job.id)).toBe('');
  });
});
