// Jobs nobody can take do not slow the queue: with 5,000 queued for a label no worker has, an idle worker's
// submit → claim → result round trip stays within 2× of the same round trip on an empty queue (both measured
// here, in the same run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

const ROUNDS = 25;

describe('a queue full of jobs nobody can take', () => {
  let pool: TestCoordinator;
  let submitter: ApiClient;
  beforeAll(async () => {
    pool = await startTestCoordinator();
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterAll(() => pool.stop());

  async function roundTripP50(worker: Awaited<ReturnType<typeof registerTestWorker>>): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const claim = worker.client.claim(worker.id, 10_000);
      // The claim is waiting before the submit (an idle worker), as the long poll has it.
      await new Promise((resolve) => setImmediate(resolve));
      const started = performance.now();
      const job = await submitter.submitJob({ commands: ['true'], labels: ['here'] });
      const claimed = (await claim)!;
      expect(claimed.job.id).toBe(job.id);
      await worker.client.complete(claimed.lease.id, { outcome: 'succeeded', exitCode: 0 });
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  }

  it('an idle submit → result p50 stays within 2× of an empty queue', { timeout: 120_000 }, async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { labels: ['here'] });
    await roundTripP50(worker); // warm-up
    const empty = await roundTripP50(worker);

    for (let i = 0; i < 5000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => submitter.submitJob({ commands: ['true'], labels: ['nowhere'] })));
    }
    const loaded = await roundTripP50(worker);
    console.log(`submit → result p50: empty queue ${empty.toFixed(1)} ms, 5,000 unmatchable queued ${loaded.toFixed(1)} ms`);
    // A floor of a few ms keeps scheduler noise on a fast empty queue from deciding the outcome.
    expect(loaded).toBeLessThan(2 * Math.max(empty, 5));
  });
});
