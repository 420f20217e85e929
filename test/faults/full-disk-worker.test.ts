// A worker whose disk is full beside a healthy one: the sick one says why it takes no job and every job
// succeeds on the healthy one, none failed for the sick worker's sake and no attempt used up.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../pool';
import { fill, mountRefusal, mountTmpfs, skipNote, unmount } from '../tmpfs';
import { waitFor } from '../wait';
import { makeZip } from '../zips';
import { ProcessPool } from './process-pool';

describe.skipIf(mountRefusal !== null)('a worker on a full disk', () => {
  let pool: ProcessPool;
  let disk: string;
  beforeAll(async () => {
    pool = await ProcessPool.start();
    disk = await makeTempDir('cmdx-fault-full-');
    const refusal = mountTmpfs(disk, 'size=8m');
    if (refusal) throw new Error(`mount failed: ${refusal}`);
  });
  afterAll(async () => {
    await pool.cleanUp();
    unmount(disk);
  });

  it(`takes no job and says why; every job succeeds on the healthy worker${skipNote}`, { timeout: 90_000 }, async () => {
    const sickDir = join(disk, 'worker');
    await pool.startAgent('sick', 2, sickDir);
    await pool.startAgent('healthy', 2);
    await fill(disk);

    const zip = new Blob([await makeZip([{ name: 'data.txt', data: 'x'.repeat(200_000) }])]);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await pool.client.submitJobWithBundle({ commands: ['wc -c < data.txt'], name: `zip ${i}`, maxAttempts: 1 }, zip)).id);
    }
    for (const id of ids) {
      const job = await pool.waitForState(id, ['succeeded', 'failed', 'cancelled', 'timed_out'], 60_000);
      expect(job, job.error ?? '').toMatchObject({ state: 'succeeded', workerName: 'healthy' });
      // A job the sick worker took as its disk filled was handed back, not failed: no attempt used up.
      expect(job.attempts.map((a) => `${a.workerName} ${a.outcome}`).slice(0, -1)).toEqual(
        Array.from({ length: job.attempts.length - 1 }, () => 'sick released'),
      );
      expect(await pool.client.getLog(id)).toBe('200000\n');
    }
    const sick = await waitFor(async () => (await pool.client.listWorkers()).find((w) => w.name === 'sick' && w.state === 'unhealthy'), {
      message: 'the sick worker to be listed unhealthy',
    });
    expect(sick.problem).toContain(`the disk holding ${sickDir}`);
    expect(sick.problem).not.toMatch(/ZIP/i);
  });
});
