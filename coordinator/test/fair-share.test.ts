// Fair share on a real coordinator: one person's long queue does not hold up a colleague's jobs; usage decays
// over the half-life; priority still wins; one person's jobs keep their age order.
import { afterEach, describe, expect, it } from 'vitest';
import type { ClaimResponse } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { manualClock } from '../../test/clock';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';

const HOUR = 3600_000;

describe('fair share', () => {
  let pool: TestCoordinator;
  afterEach(() => pool.stop());

  async function people(...names: string[]): Promise<ApiClient[]> {
    return Promise.all(names.map(async (name) => new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken(name, 'submit') })));
  }

  it("alice's 100 queued jobs, then bob's 5: bob's first job starts within the next two claims", async () => {
    pool = await startTestCoordinator();
    const [alice, bob] = await people('alice', 'bob');
    for (let i = 0; i < 100; i++) await alice!.submitJob({ name: `alice-${i}`, commands: ['true'] });
    for (let i = 0; i < 5; i++) await bob!.submitJob({ name: `bob-${i}`, commands: ['true'] });
    const worker = await registerTestWorker(pool.url, pool.joinToken, { slots: 4 });
    const claimed: ClaimResponse[] = [];
    for (let i = 0; i < 2; i++) claimed.push((await worker.client.claim(worker.id, 0))!);
    const names = claimed.map((c) => c.job.name);
    expect(names).toContain('bob-0');
    // Alice's jobs still go in her own age order.
    expect(names.filter((n) => n.startsWith('alice'))).toEqual(names.some((n) => n.startsWith('alice')) ? ['alice-0'] : []);
    // Then both are served, each in their own age order.
    for (let i = 0; i < 2; i++) claimed.push((await worker.client.claim(worker.id, 0))!);
    const of = (who: string) => claimed.filter((c) => c.job.name.startsWith(who)).map((c) => c.job.name);
    expect(of('alice').length).toBeGreaterThan(0);
    expect(of('alice')).toEqual(of('alice').map((_, i) => `alice-${i}`));
    expect(of('bob')).toEqual(of('bob').map((_, i) => `bob-${i}`));
  });

  it('usage halves every half-life, priority beats usage, and the jobs list gets each person\'s share', async () => {
    const clock = manualClock();
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, fairShareHalfLifeSec: 3600, leaseTtlSec: 30 * 3600 });
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const worker = await registerTestWorker(pool.url, pool.joinToken, { slots: 1 });
    const run = async (who: ApiClient, ms: number) => {
      const job = await who.submitJob({ commands: ['true'] });
      const claim = (await worker.client.claim(worker.id, 0))!;
      expect(claim.job.id).toBe(job.id);
      clock.advance(ms);
      await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    };
    // Alice ran an hour; two hours later bob has run 20 minutes.
    await run(alice!, HOUR);
    clock.advance(2 * HOUR - 20 * 60_000);
    await run(bob!, 20 * 60_000);

    const shares = await carol!.poolShares();
    // Alice's 3,600 s are two half-lives old: 900 now, against bob's fresh 1,200.
    expect(shares.map((s) => [s.submitter, s.slotSeconds])).toEqual([['bob', 1200], ['alice', 900]]);
    expect(shares[0]!.share).toBeCloseTo(1200 / 2100, 5);

    const bobsJob = await bob!.submitJob({ commands: ['true'] });
    const alicesJob = await alice!.submitJob({ commands: ['true'] });
    expect((await worker.client.claim(worker.id, 0))!.job.id).toBe(alicesJob.id);
    await worker.client.release((await worker.client.heartbeat(worker.id)).leases[0]!.leaseId, 'vacated');

    // Carol has never used the pool, but bob's urgent job goes first: priority wins over fair share.
    const urgent = await bob!.submitJob({ commands: ['true'], priority: 5 });
    await carol!.submitJob({ commands: ['true'] });
    expect((await worker.client.claim(worker.id, 0))!.job.id).toBe(urgent.id);
    expect(bobsJob.state).toBe('queued');
  });
});
