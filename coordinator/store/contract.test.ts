// The store contract (types.ts), against the backend this run tests: SQLite in the default project, PostgreSQL
// in the `postgres` project (CMDX_TEST_STORE=postgres). Concurrent transactions here are what two
// coordinators on one database do at once: they must never both take one job, one slot or one event id.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { makeTempDir, testStore } from '../../test/pool';
import { createDatabase, NO_POSTGRES, postgresBinDir } from '../../test/postgres';
import { waitFor } from '../../test/wait';
import { PostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { JobRecord, LeaseRecord, NewJobRecord, Store, StoreOps, TokenRecord, UsageRecord, WorkerRecord } from './types';

const worker = (id: string, patch: Partial<WorkerRecord> = {}): WorkerRecord => ({
  id, name: id, os: 'linux', arch: 'x64', cpus: 4, memoryBytes: 8 * 1024 ** 3, labels: ['linux', 'gpu'], slots: 1, version: '1.0',
  isolation: { sandbox: 'bwrap', network: false } as unknown as WorkerRecord['isolation'], registeredAt: 1, lastSeenAt: 2,
  reportedState: 'active', adminState: 'active', protocolVersion: 3, ...patch,
});

let nextJob = 0;
const job = (patch: Partial<NewJobRecord> & { labels?: string[]; priority?: number } = {}): NewJobRecord => {
  const { labels = [], priority = 0, ...rest } = patch;
  nextJob++;
  return {
    id: `job_${nextJob}`, name: `job ${nextJob}`, state: 'queued', reason: null, error: null, exitCode: null,
    spec: {
      commands: ['echo hi'], name: `job ${nextJob}`, shell: null, env: { A: 'b' }, timeoutSec: 60, labels, priority, maxAttempts: 3,
      retries: 0, outputs: [], continueOnError: false, network: false, requireSandbox: false, limits: {}, secrets: { S: 'secret-value-1' },
    },
    bundleSha: null, bundleSize: null, submittedBy: 'ann', createdAt: 10, queuedAt: 10, startedAt: null, finishedAt: null,
    attempt: 0, failures: 0, workerId: null, leaseId: null, cancelRequested: false, artifactsSha: null, artifactsSize: null,
    timeoutAt: null, outputHeadBytes: 0, outputTailBytes: 0, outputDroppedBytes: 0, lastEventId: 0, groupId: null, ...rest,
  };
};

const lease = (id: string, jobId: string, workerId: string): LeaseRecord => ({
  id, jobId, workerId, attempt: 1, status: 'active', leasedAt: 20, expiresAt: 30_020, endedAt: null, nextSeq: 0, stopReason: null,
});

/** What a claim does, in the contract's terms: the best head, checked and leased under its lock. */
async function claim(tx: StoreOps, workerId: string): Promise<string | null> {
  const [head] = (await tx.queueHeads()).sort((a, b) => b.spec.priority - a.spec.priority || a.seq - b.seq);
  if (!head) return null;
  const fresh = await tx.getJob(head.id);
  if (!fresh || fresh.state !== 'queued') return null;
  await tx.insertLease(lease(`lse_${head.id}_${workerId}`, head.id, workerId));
  await tx.updateJob(head.id, { state: 'leased', workerId, attempt: 1 });
  return head.id;
}

const backend = testStore === 'postgres' ? 'PostgreSQL' : 'SQLite';

/** Said in the names of what only a store shared by several coordinators does (skipped on SQLite). */
const ONLY_SHARED = testStore === 'postgres' ? '' : ' (skipped on SQLite: one coordinator per store, no retries to make)';

describe(`store contract on ${backend}`, () => {
  let store: Store;
  let dir: string;
  /** Opens the store again on the same database, as a second coordinator does (SQLite: the same store, one process). */
  let again: () => Promise<Store>;
  /** A submitter's recorded usage, as the pool's usage list has it (undefined with neither usage nor a lease). */
  const recordedUsage = async (submitter: string): Promise<UsageRecord | undefined> => {
    const found = (await store.poolUsage()).find((usage) => usage.submitter === submitter);
    return found && { submitter, slotSeconds: found.slotSeconds, at: found.at };
  };
  beforeEach(async () => {
    dir = await makeTempDir('cmdx-contract-');
    if (testStore === 'postgres') {
      const url = await createDatabase(inject('postgresUrl'));
      store = await PostgresStore.open({ url });
      again = () => PostgresStore.open({ url });
    } else {
      store = new SqliteStore({ file: join(dir, 'store.sqlite') });
      again = async () => store;
    }
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every field of every record as it was written (numbers, nulls, booleans, lists, JSON)', async () => {
    const token: TokenRecord = { id: 't1', name: 'ann', role: 'submit', hash: 'h1', workerId: null, createdAt: 1_700_000_000_123, revokedAt: null, expiresAt: 9, usesLeft: 2 };
    await store.insertToken(token);
    expect(await store.findTokenByHash('h1')).toEqual(token);
    await store.insertWorker(worker('w1'));
    expect(await store.getWorker('w1')).toEqual(worker('w1'));
    await store.updateWorker('w1', { labels: ['x'], isolation: null, lastSeenAt: 5, protocolVersion: null });
    expect(await store.getWorker('w1')).toEqual(worker('w1', { labels: ['x'], isolation: null, lastSeenAt: 5, protocolVersion: null }));
    const created = await store.insertJob(job({ labels: ['gpu'], priority: 3, cancelRequested: true, bundleSize: 5 * 1024 ** 3, groupId: 'grp_1' }));
    expect(created.seq).toBeGreaterThan(0);
    expect(await store.getJob(created.id)).toMatchObject(created);
    await store.insertLease(lease('l1', created.id, 'w1'));
    expect(await store.getLease('l1')).toEqual(lease('l1', created.id, 'w1'));
    await store.upsertCommand({ jobId: created.id, attempt: 1, index: 0, command: 'echo', exitCode: null, signal: null, startedAt: 3, durationMs: null });
    await store.upsertCommand({ jobId: created.id, attempt: 1, index: 0, command: 'echo', exitCode: 2, signal: 'SIGKILL', startedAt: 3, durationMs: 40 });
    expect(await store.commandsOf(created.id, 1)).toEqual([
      { jobId: created.id, attempt: 1, index: 0, command: 'echo', exitCode: 2, signal: 'SIGKILL', startedAt: 3, durationMs: 40 },
    ]);
    const text = 'nul \u0000 and ünïcødé';
    await store.insertEvent({ jobId: created.id, id: 1, type: 'state', attempt: 1, data: { text }, outputOffset: 5 * 1024 ** 3 });
    expect(await store.eventsAfter(created.id, 0, 10)).toEqual([{ jobId: created.id, id: 1, type: 'state', attempt: 1, data: { text }, outputOffset: 5 * 1024 ** 3 }]);
    await store.insertAudit({ at: 7, actor: 'ann', role: 'submit', action: 'job.submit', target: created.id, ip: null });
    expect(await store.listAudit({ actor: 'ann', limit: 5 })).toEqual([
      { id: expect.any(Number), at: 7, actor: 'ann', role: 'submit', action: 'job.submit', target: created.id, ip: null },
    ]);
  });

  it('gives each bucket its best job (priority, then age), and only the given submitters\' when asked', async () => {
    const low = await store.insertJob(job({ labels: ['gpu'] }));
    const high = await store.insertJob(job({ labels: ['gpu'], priority: 5 }));
    const plain = await store.insertJob(job({ submittedBy: 'bob' }));
    await store.insertJob(job({ labels: ['gpu'], priority: 5 }));
    const heads = (await store.queueHeads()).map((j) => j.id).sort();
    expect(heads).toEqual([high.id, plain.id].sort());
    expect((await store.queueHeads(['bob'])).map((j) => j.id)).toEqual([plain.id]);
    expect(await store.queueHeads(['nobody'])).toEqual([]);
    await store.updateJob(high.id, { state: 'leased' });
    expect((await store.queueHeads(['ann'])).map((j) => j.id)).not.toContain(low.id);
    expect(await store.countJobsByState()).toEqual({ queued: 3, leased: 1 });
  });

  it('two claims at once take two different jobs, and a third finds none left', async () => {
    await store.insertWorker(worker('w1', { slots: 5 }));
    const a = await store.insertJob(job());
    const b = await store.insertJob(job());
    const taken = await Promise.all([1, 2, 3].map(() => store.transaction((tx) => claim(tx, 'w1'))));
    expect(taken.filter(Boolean).sort()).toEqual([a.id, b.id].sort());
    expect((await store.leasesOfJob(a.id)).length + (await store.leasesOfJob(b.id)).length).toBe(2);
  });

  it('allocates stream positions itself: events and output runs in order, each event numbered after what came before', async () => {
    const created = await store.insertJob(job());
    const first = await store.transaction((tx) =>
      tx.appendToStream(created.id, [{ type: 'state', attempt: 0, data: { n: 1 }, outputOffset: 0 }], { state: 'leased', attempt: 1 }),
    );
    expect(first).toEqual({ ids: [1], lastEventId: 1 });
    // 10 bytes, a record, 5 bytes, a record, 3 bytes: the records sit after the bytes before them.
    const second = await store.transaction((tx) =>
      tx.appendToStream(
        created.id,
        [
          { outputBytes: 10 },
          { type: 'command', attempt: 1, data: { n: 2 }, outputOffset: 10 },
          { outputBytes: 5 },
          { type: 'command', attempt: 1, data: { n: 3 }, outputOffset: 15 },
          { outputBytes: 3 },
        ],
        { outputHeadBytes: 18 },
      ),
    );
    expect(second).toEqual({ ids: [12, 18], lastEventId: 21 });
    expect((await store.appendToStream(created.id, [{ outputBytes: 4 }])).lastEventId).toBe(25);
    expect((await store.eventsAfter(created.id, 0, 10)).map((e) => [e.id, e.type, e.data])).toEqual([
      [1, 'state', { n: 1 }],
      [12, 'command', { n: 2 }],
      [18, 'command', { n: 3 }],
    ]);
    // The patch went with it; the stream's end is the store's to move, whatever a caller's patch says.
    await store.updateJob(created.id, { lastEventId: 999 } as never);
    expect(await store.getJob(created.id)).toMatchObject({ state: 'leased', attempt: 1, outputHeadBytes: 18, lastEventId: 25 });
  });

  it('two transactions appending to one job at once get distinct consecutive positions: no gap, no fork', async () => {
    const created = await store.insertJob(job());
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let appended!: () => void;
    const inside = new Promise<void>((resolve) => (appended = resolve));
    // The first holds its append uncommitted while the others append; each then commits.
    const slow = store.transaction(async (tx) => {
      const placed = await tx.appendToStream(created.id, [{ outputBytes: 100 }, { type: 'command', attempt: 1, data: { slow: true }, outputOffset: 100 }]);
      appended();
      await held;
      return placed;
    });
    await inside;
    const others = Array.from({ length: 6 }, (_, i) =>
      store.transaction((tx) =>
        tx.appendToStream(created.id, [{ type: 'state', attempt: 1, data: { i }, outputOffset: 0 }, { outputBytes: 2 }, { type: 'command', attempt: 1, data: { i }, outputOffset: 2 }]),
      ),
    );
    release();
    const results = [await slow, ...(await Promise.all(others))];
    expect(results[0]).toEqual({ ids: [101], lastEventId: 101 });
    const ids = (await store.eventsAfter(created.id, 0, 100)).map((e) => e.id);
    expect(ids).toEqual(results.flatMap((r) => r.ids).sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(13);
    // Each append holds a run of 4 positions after the slow one's 101: together they tile the stream exactly.
    const runs = results.slice(1).map((r) => r.lastEventId - 4).sort((a, b) => a - b);
    expect(runs).toEqual([101, 105, 109, 113, 117, 121]);
    for (const r of results.slice(1)) expect(r.ids).toEqual([r.lastEventId - 3, r.lastEventId]);
    expect((await store.getJob(created.id))!.lastEventId).toBe(125);
  });

  it('holds a named lock for every coordinator on the store: one key at a time across them, other keys not held up', async () => {
    const other = await again();
    try {
      const entered: string[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let inside!: () => void;
      const holding = new Promise<void>((resolve) => (inside = resolve));
      const first = store.withLock('output:l1', async () => {
        entered.push('first');
        inside();
        await held;
        // Not a transaction: the holder writes through the store meanwhile.
        await store.transaction((tx) => tx.insertWorker(worker('w-first')));
        return 'first done';
      });
      await holding;
      const second = other.withLock('output:l1', async () => {
        entered.push('second');
        return 'second done';
      });
      expect(await other.withLock('output:l2', async () => (await other.getWorker('nobody')) ?? 'another key')).toBe('another key');
      expect(entered).toEqual(['first']);
      release();
      expect(await Promise.all([first, second])).toEqual(['first done', 'second done']);
      expect(entered).toEqual(['first', 'second']);
      // A holder that fails lets the lock go.
      await expect(store.withLock('output:l1', async () => Promise.reject(new Error('write failed')))).rejects.toThrow('write failed');
      expect(await other.withLock('output:l1', async () => 'free')).toBe('free');
    } finally {
      if (other !== store) await other.close();
    }
  });

  it("a worker's free slot is checked under its lock: two claims for its last slot lease once", async () => {
    await store.insertWorker(worker('w1', { slots: 1 }));
    for (let i = 0; i < 4; i++) await store.insertJob(job());
    const takeSlot = () =>
      store.transaction(async (tx) => {
        if ((await tx.activeLeasesOfWorker('w1')).length >= 1) return null;
        return claim(tx, 'w1');
      });
    const taken = await Promise.all([takeSlot(), takeSlot(), takeSlot()]);
    expect(taken.filter(Boolean)).toHaveLength(1);
    expect(await store.activeLeaseCounts()).toEqual(new Map([['w1', 1]]));
  });

  it('a lease read in a transaction is locked: concurrent output batches advance its sequence once each', async () => {
    const created = await store.insertJob(job());
    await store.insertLease(lease('l1', created.id, 'w1'));
    await Promise.all(
      Array.from({ length: 6 }, () =>
        store.transaction(async (tx) => {
          const current = (await tx.getLease('l1'))!;
          await tx.updateLease('l1', { nextSeq: current.nextSeq + 1 });
        }),
      ),
    );
    expect((await store.getLease('l1'))!.nextSeq).toBe(6);
  });

  it('an invite with one use left is taken once by racing enrollments', async () => {
    await store.insertToken({ id: 'inv', name: 'invite', role: 'join', hash: 'hi', workerId: null, createdAt: 1, revokedAt: null, expiresAt: 1000, usesLeft: 1 });
    const results = await Promise.all([1, 2, 3].map(() => store.consumeTokenUse('inv', 5)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.findTokenByHash('hi'))!.revokedAt).toBe(5);
    expect(await store.consumeTokenUse('inv', 5)).toBe(false);
  });

  it('a sign-in code is redeemed once by racing redeems, for one session; expired ones are refused and pruned', async () => {
    await store.insertSignIn({ hash: 'code', kind: 'code', name: 'admin', role: 'admin', expiresAt: 1000 });
    // What the session service does: take the code and store a session, in one transaction (one per node).
    const redeems = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        store.transaction(async (tx) => {
          const taken = await tx.takeSignInCode('code', 5);
          if (taken) await tx.insertSignIn({ hash: `session${n}`, kind: 'session', name: taken.name, role: taken.role, expiresAt: 900 });
          return taken;
        }),
      ),
    );
    expect(redeems.filter(Boolean)).toEqual([{ hash: 'code', kind: 'code', name: 'admin', role: 'admin', expiresAt: 1000 }]);
    expect(await store.takeSignInCode('code', 5)).toBeUndefined();
    const session = redeems.findIndex(Boolean) + 1;
    expect(await store.findSession(`session${session}`, 899)).toEqual({ hash: `session${session}`, kind: 'session', name: 'admin', role: 'admin', expiresAt: 900 });
    // A code is no session, nor a session a code; past its expiry neither is found.
    await store.insertSignIn({ hash: 'late', kind: 'code', name: 'admin', role: 'admin', expiresAt: 50 });
    expect(await store.findSession('late', 5)).toBeUndefined();
    expect(await store.takeSignInCode(`session${session}`, 5)).toBeUndefined();
    expect(await store.takeSignInCode('late', 50)).toBeUndefined();
    expect(await store.findSession(`session${session}`, 900)).toBeUndefined();
    expect(await store.deleteSession('late')).toBe(false);
    expect(await store.deleteExpiredSignIns(100)).toBe(1);
    expect(await store.deleteExpiredSignIns(900)).toBe(1);
    expect(await store.deleteExpiredSignIns(900)).toBe(0);
  });

  it('hooks run after the commit, and not at all after a rollback', async () => {
    const seen: string[] = [];
    await store.transaction(async (tx) => {
      await tx.insertWorker(worker('w1'));
      tx.afterCommit(() => seen.push('committed'));
      seen.push('in transaction');
    });
    expect(seen).toEqual(['in transaction', 'committed']);
    await expect(
      store.transaction(async (tx) => {
        await tx.insertWorker(worker('w2'));
        tx.afterCommit(() => seen.push('rolled back'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(seen).toEqual(['in transaction', 'committed']);
    expect(await store.getWorker('w2')).toBeUndefined();
    store.afterCommit(() => seen.push('standalone'));
    expect(seen.at(-1)).toBe('standalone');
  });

  it('finds the event a stream position falls after: the last one at or before it, of that job', async () => {
    const created = await store.insertJob(job());
    const other = await store.insertJob(job());
    // Positions count output bytes too: 100 bytes of attempt 1 lie between the events at 1 and 102.
    await store.insertEvent({ jobId: created.id, id: 1, type: 'state', attempt: 1, data: {}, outputOffset: 0 });
    await store.insertEvent({ jobId: created.id, id: 102, type: 'command', attempt: 1, data: {}, outputOffset: 100 });
    await store.insertEvent({ jobId: other.id, id: 50, type: 'state', attempt: 1, data: {}, outputOffset: 0 });
    expect(await store.eventAtOrBefore(created.id, 0)).toBeUndefined();
    expect((await store.eventAtOrBefore(created.id, 1))?.id).toBe(1);
    expect((await store.eventAtOrBefore(created.id, 101))?.id).toBe(1);
    expect(await store.eventAtOrBefore(created.id, 500)).toEqual({ jobId: created.id, id: 102, type: 'command', attempt: 1, data: {}, outputOffset: 100 });
  });

  it("queues in buckets by label set × submitter: each person's best job alike in labels is a head", async () => {
    const annLow = await store.insertJob(job({ labels: ['gpu'] }));
    const annHigh = await store.insertJob(job({ labels: ['gpu'], priority: 2 }));
    const bob = await store.insertJob(job({ labels: ['gpu'], submittedBy: 'bob' }));
    const carol = await store.insertJob(job({ submittedBy: 'carol' }));
    expect((await store.queueHeads()).map((j) => j.id).sort()).toEqual([annHigh.id, bob.id, carol.id].sort());
    expect((await store.queueHeads(['ann', 'carol'])).map((j) => j.id).sort()).toEqual([annHigh.id, carol.id].sort());
    await store.updateJob(annHigh.id, { state: 'leased' });
    await store.updateJob(bob.id, { state: 'leased' });
    expect((await store.queueHeads()).map((j) => j.id).sort()).toEqual([annLow.id, carol.id].sort());
    // Requeued: a head again.
    await store.updateJob(bob.id, { state: 'queued' });
    expect((await store.queueHeads(['bob'])).map((j) => j.id)).toEqual([bob.id]);
  });

  it("keeps each submitter's usage, and reads it with the leases they hold now in one list", async () => {
    expect(await recordedUsage('ann')).toBeUndefined();
    await store.putUsage({ submitter: 'ann', slotSeconds: 1.5, at: 1000 });
    await store.putUsage({ submitter: 'ann', slotSeconds: 12.25, at: 2000 });
    expect(await recordedUsage('ann')).toEqual({ submitter: 'ann', slotSeconds: 12.25, at: 2000 });
    const annJob = await store.insertJob(job());
    const bobJobs = [await store.insertJob(job({ submittedBy: 'bob' })), await store.insertJob(job({ submittedBy: 'bob' }))];
    await store.insertLease({ ...lease('l-ann', annJob.id, 'w1'), status: 'completed', endedAt: 50 });
    await store.insertLease({ ...lease('l-bob1', bobJobs[0]!.id, 'w1'), leasedAt: 1_700_000_000_000 });
    await store.insertLease({ ...lease('l-bob2', bobJobs[1]!.id, 'w2'), leasedAt: 1_700_000_000_500 });
    const usage = (await store.poolUsage()).sort((a, b) => a.submitter.localeCompare(b.submitter));
    expect(usage).toEqual([
      { submitter: 'ann', slotSeconds: 12.25, at: 2000, running: 0, runningLeasedAtSum: 0, latestLeasedAt: 0 },
      { submitter: 'bob', slotSeconds: 0, at: 0, running: 2, runningLeasedAtSum: 3_400_000_000_500, latestLeasedAt: 1_700_000_000_500 },
    ]);
  });

  it("charges a submitter's run time in one atomic step: the past decayed to the charge's time, concurrent charges all counted", async () => {
    const halfLifeMs = 1000;
    await store.chargeUsage('ann', 2, 1000, halfLifeMs);
    expect(await recordedUsage('ann')).toEqual({ submitter: 'ann', slotSeconds: 2, at: 1000 });
    // A half-life later the 2 left are 1, plus the 3 charged.
    await store.chargeUsage('ann', 3, 2000, halfLifeMs);
    expect(await recordedUsage('ann')).toEqual({ submitter: 'ann', slotSeconds: 4, at: 2000 });
    // Charges in transactions that overlap (two coordinators' completions of one person's jobs) all count, once each.
    await Promise.all(Array.from({ length: 5 }, () => store.transaction((tx) => tx.chargeUsage('ann', 1, 2000, halfLifeMs))));
    await store.transaction(async (tx) => {
      await tx.chargeUsage('ann', 100, 2000, halfLifeMs);
      throw new Error('rolled back');
    }).catch(() => undefined);
    expect(await recordedUsage('ann')).toEqual({ submitter: 'ann', slotSeconds: 9, at: 2000 });
  });

  it("lists a matrix group's jobs, a worker's latest leases, and the pool's lease time and job times since a moment", async () => {
    const a = await store.insertJob(job({ groupId: 'grp_1', createdAt: 100, startedAt: 110, finishedAt: 190, state: 'succeeded' }));
    const b = await store.insertJob(job({ groupId: 'grp_1', createdAt: 100, startedAt: 150 }));
    const c = await store.insertJob(job({ submittedBy: 'bob', createdAt: 10, startedAt: 20, finishedAt: 40, state: 'failed' }));
    expect((await store.listJobs({ groupId: 'grp_1', limit: 10 })).map((j) => j.id)).toEqual([b.id, a.id]);
    expect(await store.listJobs({ groupId: 'grp_2', limit: 10 })).toEqual([]);
    // Ended before 50: c is left out; oldest first.
    expect(await store.jobTimesSince(50, 10)).toEqual([
      { createdAt: 100, startedAt: 110, finishedAt: 190 },
      { createdAt: 100, startedAt: 150, finishedAt: null },
    ]);
    expect(await store.jobTimesSince(50, 1)).toHaveLength(1);
    await store.insertLease({ ...lease('l-a', a.id, 'w1'), leasedAt: 110, endedAt: 190, status: 'completed' });
    await store.insertLease({ ...lease('l-b', b.id, 'w1'), leasedAt: 150 });
    await store.insertLease({ ...lease('l-c', c.id, 'w2'), leasedAt: 20, endedAt: 40, status: 'completed' });
    expect((await store.recentLeasesOfWorker('w1', 10)).map((l) => l.id)).toEqual(['l-b', 'l-a']);
    expect((await store.recentLeasesOfWorker('w1', 1)).map((l) => l.id)).toEqual(['l-b']);
    // Within [100, 200): a's 80 ms and b's 50 ms (still active: up to 200); c ended before.
    expect(await store.leaseTimeSince(100, 200)).toEqual([{ workerId: 'w1', submittedBy: 'ann', ms: 130, jobs: 2 }]);
    // Clipped at both ends: [30, 120) holds 10 ms of c, 10 of a.
    const clipped = (await store.leaseTimeSince(30, 120)).sort((x, y) => x.workerId.localeCompare(y.workerId));
    expect(clipped).toEqual([
      { workerId: 'w1', submittedBy: 'ann', ms: 10, jobs: 1 },
      { workerId: 'w2', submittedBy: 'bob', ms: 10, jobs: 1 },
    ]);
  });

  it("renews a batch of workers' leases and stamps them seen; lists the jobs they hold and a job's attempts with worker names", async () => {
    await store.insertWorker(worker('w1'));
    await store.insertWorker(worker('w2'));
    await store.insertWorker(worker('w3'));
    const a = await store.insertJob(job({ state: 'running' }));
    const b = await store.insertJob(job({ state: 'leased' }));
    await store.insertLease({ ...lease('l-a1', a.id, 'gone'), status: 'expired', endedAt: 25 });
    await store.insertLease({ ...lease('l-a2', a.id, 'w1'), attempt: 2, leasedAt: 30 });
    await store.insertLease({ ...lease('l-b', b.id, 'w2'), leasedAt: 40 });
    await store.renewLeases(['w1', 'w3'], 500, 90_000);
    await store.renewLeases([], 600, 99_000);
    expect((await store.getLease('l-a2'))!.expiresAt).toBe(90_000);
    expect((await store.getLease('l-b'))!.expiresAt).toBe(30_020);
    expect((await store.getLease('l-a1'))!.expiresAt).toBe(30_020);
    expect((await store.listWorkers()).map((w) => [w.id, w.lastSeenAt])).toEqual([['w1', 500], ['w2', 2], ['w3', 500]]);
    expect(await store.currentJobs()).toEqual([
      { workerId: 'w1', id: a.id, name: a.name, state: 'running' },
      { workerId: 'w2', id: b.id, name: b.name, state: 'leased' },
    ]);
    expect(await store.currentJobs('w2')).toEqual([{ workerId: 'w2', id: b.id, name: b.name, state: 'leased' }]);
    expect(await store.currentJobs('w3')).toEqual([]);
    expect((await store.attemptsOf(a.id)).map((l) => [l.id, l.attempt, l.workerName])).toEqual([['l-a1', 1, null], ['l-a2', 2, 'w1']]);
  });

  it('deletes ended jobs with all they hold, and knows which blobs are still referred to', async () => {
    const old = await store.insertJob(job({ state: 'succeeded', finishedAt: 100, bundleSha: 'a'.repeat(64) }));
    const live = await store.insertJob(job({ bundleSha: 'b'.repeat(64), artifactsSha: 'c'.repeat(64) }));
    await store.insertEvent({ jobId: old.id, id: 1, type: 'state', attempt: 0, data: {}, outputOffset: 0 });
    await store.insertLease(lease('l-old', old.id, 'w1'));
    expect(await store.transaction((tx) => tx.deleteJobsEndedBefore(200, 10))).toEqual([old.id]);
    expect(await store.getJob(old.id)).toBeUndefined();
    expect(await store.getLease('l-old')).toBeUndefined();
    expect(await store.eventsAfter(old.id, 0, 10)).toEqual([]);
    expect((await store.referencedBlobs()).sort()).toEqual(['b'.repeat(64), 'c'.repeat(64)]);
    expect((await store.listJobs({ limit: 10 })).map((j: JobRecord) => j.id)).toEqual([live.id]);
  });

  it('a submit key recorded by two transactions at once creates one job: the second gets the first\'s record', async () => {
    const submitOnce = (jobId: string, signalStarted?: () => void, holdAfterClaim?: Promise<void>) =>
      store.transaction(async (tx) => {
        signalStarted?.();
        const key = { submittedBy: 'ann', key: 'k-1', requestHash: 'h'.repeat(64), jobId, groupId: null, createdAt: 1000 };
        const prior = await tx.claimSubmissionKey(key, 0);
        if (prior) return prior.jobId;
        await holdAfterClaim;
        return (await tx.insertJob(job({ id: jobId }))).id;
      });
    let started!: () => void;
    const secondStarted = new Promise<void>((resolve) => (started = resolve));
    // PostgreSQL: the first holds its uncommitted key until the second is seen waiting on it (a row lock), so the
    // race is the one two coordinators run. SQLite runs one transaction after the other: nothing to hold.
    const hold =
      testStore === 'postgres'
        ? secondStarted.then(() =>
            waitFor(
              async () => Number((await (store as PostgresStore).rows(`SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`))[0]!.n) > 0,
              { timeoutMs: 5000, message: 'the second transaction to wait on the key' },
            ).then(() => undefined),
          )
        : undefined;
    const answers = await Promise.all([submitOnce('job_first', undefined, hold), submitOnce('job_second', started)]);
    expect(answers).toEqual(['job_first', 'job_first']);
    expect((await store.listJobs({ limit: 10 })).map((j) => j.id)).toEqual(['job_first']);
  });

  it('a submit key answers its record while live, is replaced once older than the cutoff, and is forgotten by the sweep', async () => {
    const key = { submittedBy: 'ann', key: 'k-1', requestHash: 'a'.repeat(64), jobId: null, groupId: 'grp_1', createdAt: 1000 };
    expect(await store.claimSubmissionKey(key, 0)).toBeUndefined();
    expect(await store.claimSubmissionKey({ ...key, requestHash: 'b'.repeat(64), groupId: 'grp_2', createdAt: 2000 }, 500)).toEqual(key);
    // Another submitter's key of the same text is theirs.
    expect(await store.claimSubmissionKey({ ...key, submittedBy: 'bob' }, 0)).toBeUndefined();
    const later = { ...key, requestHash: 'c'.repeat(64), jobId: 'job_9', groupId: null, createdAt: 90_000 };
    expect(await store.claimSubmissionKey(later, 1001)).toBeUndefined();
    expect(await store.claimSubmissionKey({ ...later, createdAt: 90_001 }, 1001)).toEqual(later);
    expect(await store.deleteSubmissionKeysBefore(90_000)).toBe(1);
    expect(await store.claimSubmissionKey({ ...key, submittedBy: 'bob' }, 0)).toBeUndefined();
  });

  it('a standalone write during another transaction is not rolled back with it', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const other = store.transaction(async (tx) => {
      await tx.insertWorker(worker('w1'));
      opened();
      await held;
      throw new Error('the other request failed');
    });
    await open;
    const write = store.insertWorker(worker('w2'));
    release();
    await expect(other).rejects.toThrow('the other request failed');
    await write;
    expect(await store.getWorker('w2')).toBeDefined();
    expect(await store.getWorker('w1')).toBeUndefined();
  });

  it('tells the time (epoch ms) without going back', async () => {
    const first = store.now();
    expect(Math.abs(first - Date.now())).toBeLessThan(2000);
    const later = [store.now(), store.now(), store.now()];
    expect(later).toEqual([...later].sort((x, y) => x - y));
    expect(later[0]).toBeGreaterThanOrEqual(first);
  });

  it.runIf(testStore === 'postgres')(`tells every coordinator on the database the database's time, not its own${ONLY_SHARED}`, async () => {
    const url = await createDatabase(inject('postgresUrl'));
    const [a, b] = [await PostgresStore.open({ url }), await PostgresStore.open({ url })];
    try {
      const [[row], mine, theirs] = [await a.rows(`SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint AS now`), a.now(), b.now()];
      expect(Math.abs(mine - theirs)).toBeLessThan(250);
      expect(Math.abs(mine - (row!.now as number))).toBeLessThan(250);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.runIf(testStore === 'postgres')(`lets one coordinator at a time sweep, and another take over when it is gone${ONLY_SHARED}`, async () => {
    const url = await createDatabase(inject('postgresUrl'));
    const [a, b] = [await PostgresStore.open({ url }), await PostgresStore.open({ url })];
    try {
      expect(await a.isSweeper()).toBe(true);
      expect(await Promise.all([a.isSweeper(), b.isSweeper()])).toEqual([true, false]);
      await a.close();
      expect(await b.isSweeper()).toBe(true);
    } finally {
      await b.close();
    }
  });

  it.runIf(testStore === 'postgres')(`signals the other stores on the database, not itself${ONLY_SHARED}`, async () => {
    const url = await createDatabase(inject('postgresUrl'));
    const [a, b] = [await PostgresStore.open({ url }), await PostgresStore.open({ url })];
    try {
      const heardA: unknown[] = [];
      const heardB: unknown[] = [];
      a.onSignal((signal) => heardA.push(signal));
      b.onSignal((signal) => heardB.push(signal));
      // Sent until heard: b's listening connection comes up in the background (signals are best effort).
      await waitFor(() => (a.signal({ jobs: ['job_1'] }), heardB.length > 0 || undefined), { timeoutMs: 5000, message: 'b to hear a' });
      expect(heardB[0]).toMatchObject({ jobs: ['job_1'] });
      expect(heardA).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.runIf(testStore === 'postgres')(`runs a transaction again after a serialization failure or a deadlock${ONLY_SHARED}`, async () => {
    let runs = 0;
    const result = await store.transaction(async (tx) => {
      runs++;
      await tx.insertWorker(worker(`w${runs}`));
      if (runs < 3) throw Object.assign(new Error('could not serialize access'), { code: runs === 1 ? '40001' : '40P01' });
      return 'done';
    });
    expect(result).toBe('done');
    expect(runs).toBe(3);
    expect((await store.listWorkers()).map((w) => w.id)).toEqual(['w3']);
  });

  it.runIf(testStore === 'postgres')(`goes on when another coordinator migrates the schema under the statements it prepared${ONLY_SHARED}`, async () => {
    await store.insertWorker(worker('w1'));
    await store.insertLease(lease('l1', 'job_x', 'w1'));
    const read = () => store.transaction(async (tx) => (await tx.activeLeasesOfWorker('w1')).map((l) => l.id));
    // Prepared (SELECT * FROM leases …) on the connections these transactions ran on.
    await Promise.all([read(), read(), read()]);
    await (store as PostgresStore).rows('ALTER TABLE leases ADD COLUMN added_by_a_newer_version TEXT');
    expect(await Promise.all([read(), read(), read()])).toEqual([['l1'], ['l1'], ['l1']]);
  });
});

if (!postgresBinDir()) it.skip(`store contract on PostgreSQL ${NO_POSTGRES}`, () => {});
