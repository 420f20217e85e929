// Coordinators on one PostgreSQL database whose machines' clocks disagree (libfaketime: a node's wall clock two
// hours ahead or one hour behind). A time one node stores (a job's timeout, an invite's expiry) is judged by
// another, so every node must take "now" from the database, not from its own clock.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ApiClient, ApiError } from '../../protocol/client';
import type { Invite } from '../../protocol/api';
import { registerTestWorker, testStore } from '../pool';
import { createDatabase } from '../postgres';
import { waitFor } from '../wait';
import { ProcessPool, type NodeOptions } from './processes';

const pools: ProcessPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.stop();
});

async function newPool(): Promise<ProcessPool> {
  const pool = await ProcessPool.create(await createDatabase(inject('postgresUrl')));
  pools.push(pool);
  return pool;
}

const LEASE_TTL_SEC = 2;
const TIMEOUT_SEC = 6;
const quick = ['--lease-ttl', String(LEASE_TTL_SEC), '--heartbeat-interval', '1'];

const hasFaketime = spawnSync('faketime', ['-f', '+0', 'true']).status === 0;

describe.runIf(testStore === 'postgres')('coordinators whose clocks disagree, on one database', () => {
  if (!hasFaketime) {
    it.skip("skipped: no faketime to skew a coordinator's clock with (apt-get install faketime)", () => {});
    return;
  }
  const cases: { title: string; sweeper: NodeOptions; leaser: NodeOptions }[] = [
    { title: 'leased through a true node, swept by one 2 h ahead: not timed out early', sweeper: { skew: '+2h' }, leaser: {} },
    { title: 'leased through a true node, swept by one 1 h behind: not timed out late', sweeper: { skew: '-1h' }, leaser: {} },
    { title: 'leased through a node 1 h behind, swept by a true one: not timed out early', sweeper: {}, leaser: { skew: '-1h' } },
  ];
  for (const { title, sweeper, leaser } of cases) it(`a job with a timeout ${title}; its lease, renewed only through the leasing node, is never expired`, async () => {
    const pool = await newPool();
    // The sweeper starts alone and takes the role before the other node exists.
    await pool.start('sweeper', { ...sweeper, args: quick });
    await pool.sweeperElected();
    const other = await pool.start('leaser', { ...leaser, args: quick });
    const admin = new ApiClient({ baseUrl: other.url, token: pool.adminToken });
    const worker = await registerTestWorker(other.url, pool.joinToken, { name: 'clocks' });
    const job = await admin.submitJob({ commands: ['sleep 600'], timeoutSec: TIMEOUT_SEC });
    const claimed = await worker.client.claim(worker.id, 0);
    const leasedBy = Date.now();
    expect(claimed?.job.id).toBe(job.id);
    // The worker stays alive, heartbeating only the node that leased it: the sweeper never hears it itself.
    const beating = setInterval(() => void worker.client.heartbeat(worker.id).catch(() => {}), 400);
    try {
      const ended = await waitFor(
        async () => {
          const now = await admin.getJob(job.id);
          return now.state !== 'leased' && now.state !== 'running' && now.state !== 'suspended' ? now : undefined;
        },
        { timeoutMs: (TIMEOUT_SEC + LEASE_TTL_SEC + 8) * 1000, intervalMs: 100, message: `job ${job.id} to time out` },
      );
      const tookMs = Date.now() - leasedBy;
      // Timed out (not requeued as lost: the lease held) and only after its timeout and the grace that follows.
      expect({ state: ended.state, attempt: ended.attempt }).toEqual({ state: 'timed_out', attempt: 1 });
      expect(tookMs).toBeGreaterThanOrEqual(TIMEOUT_SEC * 1000);
      expect(tookMs).toBeLessThan((TIMEOUT_SEC + LEASE_TTL_SEC + 4) * 1000);
    } finally {
      clearInterval(beating);
    }
  }, 90_000);

  it("judges an invite's expiry the same on every node, whichever node made it and whatever each node's clock says", async () => {
    const pool = await newPool();
    const nodes = [await pool.start('true'), await pool.start('ahead', { skew: '+2h' }), await pool.start('behind', { skew: '-1h' })];
    const admins = nodes.map((n) => new ApiClient({ baseUrl: n.url, token: pool.adminToken }));
    const listed = (admin: ApiClient) => admin.json<{ invites: Invite[] }>('GET', '/api/v1/invites').then((r) => r.invites.map((i) => i.id).sort());

    // Made on each node for ten minutes: ten minutes from now by every node, and usable through another node.
    const invites = await Promise.all(admins.map((admin) => admin.createInvite({ expiresInSec: 600 })));
    for (const invite of invites) expect(Math.abs(Date.parse(invite.expiresAt!) - (Date.now() + 600_000))).toBeLessThan(30_000);
    for (const admin of admins) expect(await listed(admin)).toEqual(invites.map((i) => i.id).sort());
    for (const [i, invite] of invites.entries()) {
      const through = nodes[(i + 1) % nodes.length]!;
      await expect(registerTestWorker(through.url, invite.code, { name: `joined-${i}` })).resolves.toMatchObject({ id: expect.any(String) });
    }

    // One whose ten minutes are over (set in the database, as waiting would take ten minutes): no node takes it.
    const expired = await admins[0]!.createInvite({ expiresInSec: 600 });
    await pool.query(`UPDATE tokens SET expires_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint - 60000 WHERE id = $1`, [expired.id]);
    for (const [i, node] of nodes.entries()) {
      expect(await listed(admins[i]!), node.name).not.toContain(expired.id);
      const joined = await registerTestWorker(node.url, expired.code, { name: `late-${i}` }).catch((err: unknown) => err);
      expect(joined, node.name).toBeInstanceOf(ApiError);
      expect((joined as ApiError).status, node.name).toBe(401);
    }
  }, 90_000);
});
