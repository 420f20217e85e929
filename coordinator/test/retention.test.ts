// The data dir does not grow forever: jobs that ended more than --retention days ago go with their events and
// output files, and so do blobs no remaining job refers to and expired sign-ins; what is still in use stays. Logs
// stream from the files.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { manualClock } from '../../test/clock';
import { queryStoreOf, registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { makeZip } from '../../test/zips';

const DAY = 24 * 3600 * 1000;

describe('retention', () => {
  let pool: TestCoordinator;
  let clock: ReturnType<typeof manualClock>;
  let submitter: ApiClient;
  beforeEach(async () => {
    clock = manualClock(Date.now());
    pool = await startTestCoordinator({ clock: clock.now, sweepIntervalMs: 0, retentionDays: 30 });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
  });
  afterEach(() => pool.stop());

  const blobCount = async () => {
    let count = 0;
    for (const dir of await readdir(join(pool.dataDir, 'blobs'))) count += (await readdir(join(pool.dataDir, 'blobs', dir))).length;
    return count;
  };

  it('deletes jobs ended longer ago than the retention, their output files and their unused blobs; keeps the rest', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const oldZip = new Blob([await makeZip([{ name: 'old.txt', data: 'old' }])]);
    const keptZip = new Blob([await makeZip([{ name: 'kept.txt', data: 'kept' }])]);
    const old = await submitter.submitJobWithBundle({ commands: ['cat old.txt'] }, oldZip);
    const claim = (await worker.client.claim(worker.id, 0))!;
    await worker.client.sendOutput(claim.lease.id, [{ seq: 0, stream: 'stdout', data: 'old\n' }]);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    expect(await blobCount()).toBe(1);
    const oldOutput = join(pool.dataDir, 'output', old.id);
    expect(await readdir(join(oldOutput, '1'))).toEqual(expect.arrayContaining(['0.out', 'streams']));

    clock.advance(31 * DAY);
    const queued = await submitter.submitJobWithBundle({ commands: ['cat kept.txt'] }, keptZip);
    const metricsBefore = await (await fetch(`${pool.url}/metrics`, { headers: { authorization: `Bearer ${pool.adminToken}` } })).text();
    expect(Number(/^cmdx_data_bytes\{[^}]*\} (\d+)/m.exec(metricsBefore)?.[1])).toBeGreaterThan(0);

    expect(await pool.coordinator.applyRetention()).toEqual({ jobs: 1, blobs: 1 });
    await expectApiError(submitter.getJob(old.id), 404);
    expect(existsSync(oldOutput)).toBe(false);
    expect((await submitter.getJob(queued.id)).state).toBe('queued');
    expect(await blobCount()).toBe(1);
    expect(await pool.coordinator.applyRetention()).toEqual({ jobs: 0, blobs: 0 });
  });

  it('deletes expired sign-in codes and browser sessions, and keeps live ones', async () => {
    const kinds = async () => (await queryStoreOf(pool.dataDir, 'SELECT kind FROM sign_ins ORDER BY kind')).map((r) => r.kind);
    const code = (link: string) => new URL(link).hash.replace('#code=', '');
    await new ApiClient({ baseUrl: pool.url }).signIn(code(await pool.coordinator.signInLink()));
    await pool.coordinator.signInLink();
    expect(await kinds()).toEqual(['code', 'session']);
    await pool.coordinator.applyRetention();
    expect(await kinds()).toEqual(['code', 'session']);
    // Past the unused code's 10 minutes, within the session's 12 hours.
    clock.advance(11 * 60 * 1000);
    await pool.coordinator.applyRetention();
    expect(await kinds()).toEqual(['session']);
    clock.advance(12 * 3600 * 1000);
    await pool.coordinator.applyRetention();
    expect(await kinds()).toEqual([]);
  });

  it('streams a log of many chunks whole, from the files', async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken);
    const job = await submitter.submitJob({ commands: ['yes'] });
    const claim = (await worker.client.claim(worker.id, 0))!;
    const lines: string[] = [];
    for (let seq = 0; seq < 300; seq += 100) {
      const chunks = Array.from({ length: 100 }, (_, i) => ({ seq: seq + i, stream: 'stdout' as const, data: `line ${seq + i}\n` }));
      lines.push(...chunks.map((c) => c.data));
      await worker.client.sendOutput(claim.lease.id, chunks);
    }
    const response = await fetch(`${pool.url}/api/v1/jobs/${job.id}/log`, { headers: { authorization: `Bearer ${pool.adminToken}` } });
    expect(response.headers.get('content-length')).toBeNull();
    expect(await response.text()).toBe(lines.join(''));
  });
});
