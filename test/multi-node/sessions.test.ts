// Browser sign-in across coordinators sharing one PostgreSQL database behind a load balancer: the link one node
// printed is redeemed through another, the session works on every node, a code is good once whichever nodes race
// for it, a sign-out through one node ends the session on all, and an expired session is refused everywhere.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ApiClient, ApiError } from '../../protocol/client';
import { testStore } from '../pool';
import { createDatabase } from '../postgres';
import { ProcessPool, type NodeProcess } from './processes';

const pools: ProcessPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.stop();
});

/** The one-time code of the sign-in link a node printed at start. */
function printedCode(node: NodeProcess): string {
  const match = /sign in: +\S+#code=(\S+)/.exec(node.output());
  if (!match) throw new Error(`${node.name} printed no sign-in link: ${node.output()}`);
  return match[1]!;
}

/** The HTTP status a request was refused with (0: it was not refused). */
const refusal = (request: Promise<unknown>): Promise<number> =>
  request.then(
    () => 0,
    (e: unknown) => {
      if (e instanceof ApiError) return e.status;
      throw e;
    },
  );

describe.runIf(testStore === 'postgres')('browser sign-in on coordinators sharing one database', () => {
  it('redeems a link printed by one node through another, once; the session works on every node until signed out or expired', async () => {
    const pool = await ProcessPool.create(await createDatabase(inject('postgresUrl')));
    pools.push(pool);
    const a = await pool.start('a');
    const b = await pool.start('b');
    const anonymous = (node: NodeProcess) => new ApiClient({ baseUrl: node.url });
    const as = (node: NodeProcess, token: string) => new ApiClient({ baseUrl: node.url, token });

    // A's link, redeemed through B; the session then works through both.
    const codeOfA = printedCode(a);
    const session = await anonymous(b).signIn(codeOfA);
    for (const node of [a, b]) expect((await as(node, session.token).listJobs()).jobs).toEqual([]);
    // The code is used up on every node.
    for (const node of [a, b]) expect(await refusal(anonymous(node).signIn(codeOfA))).toBe(401);

    // B's link redeemed through both nodes at once: one session.
    const codeOfB = printedCode(b);
    const raced = await Promise.allSettled([a, b].map((node) => anonymous(node).signIn(codeOfB)));
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(raced.map((r) => (r.status === 'rejected' && r.reason instanceof ApiError ? r.reason.status : 0)).sort()).toEqual([0, 401]);

    // Signed out through A: refused through B at once (and A); another session goes on.
    const won = raced.find((r) => r.status === 'fulfilled')!.value;
    await as(a, won.token).signOut();
    for (const node of [a, b]) expect(await refusal(as(node, won.token).listJobs())).toBe(401);
    expect((await as(b, session.token).listJobs()).jobs).toEqual([]);

    // Neither the code nor the token is stored, only their hashes.
    const stored = JSON.stringify(await pool.query('SELECT * FROM sign_ins'));
    for (const secret of [codeOfA, codeOfB, session.token]) expect(stored).not.toContain(secret);

    // Expired by the database's clock (its lifetime is hours: moved back rather than waited for): refused on both.
    await pool.query("UPDATE sign_ins SET expires_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint - 1000 WHERE kind = 'session'");
    for (const node of [a, b]) expect(await refusal(as(node, session.token).listJobs())).toBe(401);
  }, 90_000);
});
