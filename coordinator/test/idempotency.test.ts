// Idempotent submits: a submit sent again with its Idempotency-Key (a resend after a cut connection, a failover
// to another node) answers the job or group the first made, never a second one; the key with another request is
// refused; a key lives a day.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_PREFIX, IDEMPOTENCY_KEY_HEADER, LIMITS, type Submitted } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { manualClock } from '../../test/clock';
import { queryStoreOf, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { makeZip } from '../../test/zips';

describe('idempotent submit (Idempotency-Key)', () => {
  let pool: TestCoordinator;
  let clock: ReturnType<typeof manualClock>;
  let ann: ApiClient;
  let annToken: string;
  beforeEach(async () => {
    clock = manualClock(Date.now());
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0 });
    annToken = await pool.coordinator.createToken('ann', 'submit');
    ann = new ApiClient({ baseUrl: pool.url, token: annToken });
  });
  afterEach(() => pool.stop());

  /** POST /jobs as JSON with this key, as a resend does it: the answer's status, replay header and body. */
  const post = async (spec: unknown, key: string, token = annToken) => {
    const response = await fetch(`${pool.url}${API_PREFIX}/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', [IDEMPOTENCY_KEY_HEADER]: key },
      body: JSON.stringify(spec),
    });
    return { status: response.status, replayed: response.headers.get('idempotent-replayed'), body: (await response.json()) as Submitted & { error?: { code: string; message: string } } };
  };
  const jobCount = async (client = ann) => (await client.listJobs({ limit: 100, mine: true })).jobs.length;

  it('answers the same job to a JSON submit sent again with its key, marked as a replay', async () => {
    const first = await post({ commands: ['echo once'] }, 'key-1');
    const again = await post({ commands: ['echo once'] }, 'key-1');
    expect(first).toMatchObject({ status: 201, replayed: null });
    expect(again).toMatchObject({ status: 201, replayed: 'true' });
    expect(again.body.job!.id).toBe(first.body.job!.id);
    expect(await jobCount()).toBe(1);
    // Without a key, or with another, each submit is a job of its own.
    await ann.submit({ commands: ['echo once'] });
    await post({ commands: ['echo once'] }, 'key-2');
    expect(await jobCount()).toBe(3);
  });

  it('answers the same job to a multipart submit with its ZIP, and the same group to a matrix', async () => {
    const zip = new Blob([await makeZip([{ name: 'in.txt', data: 'whole' }])]);
    const withZip = await ann.submitJobWithBundle({ commands: ['cat in.txt'] }, zip, 'b.zip', 'zip-key');
    expect((await ann.submitJobWithBundle({ commands: ['cat in.txt'] }, zip, 'b.zip', 'zip-key')).id).toBe(withZip.id);

    const matrix = { commands: ['echo $CMDX_MATRIX_n'], matrix: { n: ['1', '2', '3'] } };
    const group = await ann.submit(matrix, 'matrix-key');
    const again = await ann.submit(matrix, 'matrix-key');
    expect(again.group!.id).toBe(group.group!.id);
    expect(again.group!.total).toBe(3);
    expect(await jobCount()).toBe(1 + 3);
  });

  it('refuses the key with another spec or another ZIP (422), and keeps each submitter\'s keys apart', async () => {
    const first = await ann.submit({ commands: ['make'] }, 'reused');
    const otherSpec = await expectApiError(ann.submit({ commands: ['make test'] }, 'reused'), 422, 'idempotency_key_reused');
    expect(otherSpec.message).toContain(`job ${first.job!.id}`);
    expect(otherSpec.message).toMatch(/different spec or ZIP; send a new key/);
    const zipA = new Blob([await makeZip([{ name: 'a.txt', data: 'a' }])]);
    const zipB = new Blob([await makeZip([{ name: 'a.txt', data: 'b' }])]);
    await ann.submitJobWithBundle({ commands: ['ls'] }, zipA, 'z.zip', 'zip-reused');
    await expectApiError(ann.submitJobWithBundle({ commands: ['ls'] }, zipB, 'z.zip', 'zip-reused'), 422, 'idempotency_key_reused');
    // The same key text from another person is theirs: their own job.
    const bob = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('bob', 'submit') });
    const bobs = await bob.submit({ commands: ['make'] }, 'reused');
    expect(bobs.job!.id).not.toBe(first.job!.id);
    expect(await jobCount()).toBe(2);
  });

  it('the client sends a fresh random UUID as the key of each submit, JSON or with a ZIP', async () => {
    const sent: string[] = [];
    const client = new ApiClient({
      baseUrl: pool.url,
      token: annToken,
      fetch: (input, init) => {
        sent.push((init!.headers as Record<string, string>)[IDEMPOTENCY_KEY_HEADER]!);
        return fetch(input, init);
      },
    });
    await client.submit({ commands: ['echo 1'] });
    await client.submit({ commands: ['echo 1'] });
    await client.submitJobWithBundle({ commands: ['ls'] }, new Blob([await makeZip([{ name: 'a', data: 'a' }])]));
    expect(sent).toHaveLength(3);
    for (const key of sent) expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(sent).size).toBe(3);
    expect(await jobCount()).toBe(3);
  });

  it('refuses a malformed key with 400 and creates nothing', async () => {
    for (const key of ['has space', 'x'.repeat(LIMITS.idempotencyKeyLength + 1), 'ünïcode', '']) {
      const { status, body } = await post({ commands: ['echo'] }, key);
      expect(status, key).toBe(400);
      expect(body.error!.message).toMatch(/Idempotency-Key header: .*printable ASCII/);
    }
    expect(await jobCount()).toBe(0);
  });

  it('forgets a key after a day: the retention sweep prunes it, and the key then makes a new job', async () => {
    const first = await ann.submit({ commands: ['echo day'] }, 'daily');
    clock.advance(LIMITS.idempotencyKeyTtlSec * 1000 - 1);
    expect((await ann.submit({ commands: ['echo day'] }, 'daily')).job!.id).toBe(first.job!.id);
    const keys = async () => Number((await queryStoreOf(pool.dataDir, 'SELECT count(*) AS n FROM submission_keys'))[0]!.n);
    expect(await keys()).toBe(1);
    clock.advance(2);
    await pool.coordinator.applyRetention();
    expect(await keys()).toBe(0);
    expect((await ann.submit({ commands: ['echo day'] }, 'daily')).job!.id).not.toBe(first.job!.id);
  });
});
