// Enrolled workers: joining takes an invite (limited uses, expiring, revocable); the coordinator names workers
// and their host: labels; admins pause, drain and remove them, and a removed worker is cut off at once.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditPage } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { manualClock } from '../../test/clock';
import { openStoreOf, registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { TokenService } from '../services/tokens';

describe('enrolled workers', () => {
  let pool: TestCoordinator;
  let admin: ApiClient;
  let clock: ReturnType<typeof manualClock>;

  beforeEach(async () => {
    clock = manualClock();
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0 });
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  it('an invite enrolls as many workers as its uses, until it expires; a revoked one enrolls none', async () => {
    const once = await pool.coordinator.createInvite({ uses: 1, expiresInSec: 3600 });
    expect(once.command).toBe(`CMDX_JOIN_TOKEN=${once.code} npm run -s worker -- --server ${pool.url}`);
    await registerTestWorker(pool.url, once.code, { name: 'first' });
    await expectApiError(registerTestWorker(pool.url, once.code, { name: 'second' }), 401);

    const created = await admin.json<{ code: string; id: string }>('POST', '/api/v1/invites', { uses: 5, expiresInSec: 600 });
    await registerTestWorker(pool.url, created.code, { name: 'third' });
    clock.advance(601_000);
    await expectApiError(registerTestWorker(pool.url, created.code, { name: 'fourth' }), 401);

    const revoked = await admin.json<{ code: string; id: string }>('POST', '/api/v1/invites', {});
    expect((await admin.json<{ invites: { id: string }[] }>('GET', '/api/v1/invites')).invites.map((i) => i.id)).toContain(revoked.id);
    await admin.json('DELETE', `/api/v1/invites/${revoked.id}`);
    await expectApiError(registerTestWorker(pool.url, revoked.code, { name: 'fifth' }), 401);
    const submitter = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('bob', 'submit') });
    await expectApiError(submitter.json('POST', '/api/v1/invites', {}), 403);
  });

  it("a worker asking for another's name or host: label gets its own, and alice's pinned job does not reach it", async () => {
    const alice = await registerTestWorker(pool.url, pool.joinToken, { name: 'alice-laptop' });
    const rogue = await pool.coordinator.createInvite();
    const joiner = new ApiClient({ baseUrl: pool.url, token: rogue.code });
    const registered = await joiner.registerWorker({ name: 'alice-laptop', os: 'linux', labels: ['host:alice-laptop', 'gpu'] });
    expect(registered.worker.name).toBe('alice-laptop-2');
    expect(registered.worker.labels.sort()).toEqual(['gpu', 'host:alice-laptop-2']);
    const rogueClient = new ApiClient({ baseUrl: pool.url, token: registered.token });
    const pinned = await admin.submitJob({ commands: ['deploy'], labels: ['host:alice-laptop'] });
    expect(await rogueClient.claim(registered.worker.id, 0)).toBeNull();
    expect((await alice.client.claim(alice.id, 0))?.job.id).toBe(pinned.id);
    const escaping = new ApiClient({ baseUrl: pool.url, token: pool.joinToken }).registerWorker({ name: 'box\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007', os: 'linux' });
    await expectApiError(escaping, 400);
  });

  it('admins pause, resume and drain a worker; removing one cuts it off mid-claim', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'box' });
    await admin.json('POST', `/api/v1/workers/${worker.id}/pause`);
    await admin.submitJob({ commands: ['true'] });
    expect(await worker.client.claim(worker.id, 0)).toBeNull();
    const resumed = await admin.json<{ worker: { adminState: string } }>('POST', `/api/v1/workers/${worker.id}/resume`);
    expect(resumed.worker.adminState).toBe('active');
    const claim = (await worker.client.claim(worker.id, 0))!;
    expect(claim).not.toBeNull();

    await admin.json('POST', `/api/v1/workers/${worker.id}/drain`);
    await worker.client.heartbeat(worker.id);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    await worker.client.heartbeat(worker.id);
    await expectApiError(worker.client.heartbeat(worker.id), 401);

    const other = await registerTestWorker(pool.url, pool.joinToken, { name: 'other' });
    const waiting = other.client.claim(other.id, 20_000);
    await new Promise((resolve) => setImmediate(resolve));
    await admin.deregisterWorker(other.id);
    expect(await waiting).toBeNull();
    await expectApiError(other.client.claim(other.id, 0), 401);
    await expectApiError(admin.json('POST', '/api/v1/workers/wkr_nope/pause'), 404);
  });

  it('audits enrollments, claims, bundle and artifact downloads, submissions and failed sign-ins, readable by admins', async () => {
    const invite = await pool.coordinator.createInvite();
    const worker = await registerTestWorker(pool.url, invite.code, { name: 'audited' });
    const job = await admin.submitJob({ commands: ['true'] });
    await worker.client.claim(worker.id, 0);
    await fetch(`${pool.url}/api/v1/jobs`, { headers: { authorization: 'Bearer cmdx_submit_wrong' } });
    const page = await admin.json<AuditPage>('GET', '/api/v1/audit');
    const actions = page.entries.map((e) => `${e.action} ${e.actor}`);
    expect(actions).toEqual(expect.arrayContaining(['auth.failed anonymous', 'lease.claim worker:audited', 'job.submit admin']));
    expect(page.entries.find((e) => e.action === 'worker.register')?.actor).toMatch(/^invite:/);
    expect(page.entries.find((e) => e.action === 'lease.claim')?.target).toBe(job.id);
    const claims = await admin.json<AuditPage>('GET', '/api/v1/audit?action=lease.claim');
    expect(claims.entries.map((e) => e.action)).toEqual(['lease.claim']);
    const first = await admin.json<AuditPage>('GET', '/api/v1/audit?limit=1');
    expect(first.nextCursor).not.toBeNull();
    const second = await admin.json<AuditPage>('GET', `/api/v1/audit?limit=1&cursor=${first.nextCursor}`);
    expect(second.entries[0]!.id).toBeLessThan(first.entries[0]!.id);
    const later = await admin.json<AuditPage>('GET', `/api/v1/audit?since=${encodeURIComponent(new Date(clock.now() + 1000).toISOString())}`);
    expect(later.entries).toEqual([]);
    const submitter = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('bob', 'submit') });
    await expectApiError(submitter.json('GET', '/api/v1/audit'), 403);
    await expectApiError(admin.json('GET', '/api/v1/audit?since=yesterday'), 400);
  });
});

describe('the join token', () => {
  it('is an invite without limits: revoked, it stays revoked across restarts', async () => {
    const pool = await startTestCoordinator();
    try {
      await registerTestWorker(pool.url, pool.joinToken, { name: 'before' });
      await pool.stop({ keepData: true });
      const store = await openStoreOf(pool.dataDir);
      expect(await new TokenService(store, Date.now).revoke({ name: 'join' })).toBe(1);
      await store.close();
      const restarted = await startTestCoordinator({ dataDir: pool.dataDir });
      try {
        await expectApiError(registerTestWorker(restarted.url, restarted.joinToken, { name: 'after' }), 401);
        await registerTestWorker(restarted.url, (await restarted.coordinator.createInvite()).code, { name: 'invited' });
      } finally {
        await restarted.stop({ keepData: true });
      }
    } finally {
      await pool.stop();
    }
  });
});
