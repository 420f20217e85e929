import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, JobGroup } from '../protocol/api';
import { ApiClient } from '../protocol/client';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../test/pool';
import { waitFor } from '../test/wait';
import { JobWatcher, finishedNotice, groupFinishedNotice } from './job-watcher';

let pool: TestCoordinator;
let me: ApiClient;

beforeAll(async () => {
  pool = await startTestCoordinator();
  me = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('anna', 'submit') });
});
afterAll(async () => {
  await pool.stop();
});

/** Plays the worker by hand: claims the next job and completes it with `exitCode`. */
async function runNextJob(exitCode: number) {
  const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'pc-bob' });
  const claim = await worker.client.claim(worker.id, 5000);
  if (!claim) throw new Error('no job to claim');
  await worker.client.setLeaseState(claim.lease.id, 'running');
  await worker.client.complete(claim.lease.id, { outcome: exitCode === 0 ? 'succeeded' : 'failed', exitCode });
  return claim.job.id;
}

describe('JobWatcher', () => {
  it('notifies once when a watched job finishes', async () => {
    const finished: Job[] = [];
    const watcher = new JobWatcher(me, { notify: (job) => finished.push(job), notifyGroup: () => {}, logger: { warn: () => {} } });
    const job = await me.submitJob({ commands: ['make'], name: 'build' });
    watcher.watch(job.id);
    watcher.watch(job.id);
    expect(watcher.watching).toEqual([job.id]);
    expect(await runNextJob(2)).toBe(job.id);
    await waitFor(() => finished.length === 1, { message: 'the notification' });
    expect(finished[0]).toMatchObject({ id: job.id, state: 'failed', exitCode: 2 });
    await waitFor(() => watcher.watching.length === 0, { message: 'the watch to end' });
    expect(finishedNotice(finished[0]!)).toEqual({ title: 'Job failed: build', body: 'Exit code 2.' });
  });

  it("picks up this user's unfinished jobs after a restart, and only theirs", async () => {
    const mine = await me.submitJob({ commands: ['true'], name: 'mine' });
    const admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const theirs = await admin.submitJob({ commands: ['true'], name: 'theirs' });
    const watcher = new JobWatcher(me, { notify: () => {}, notifyGroup: () => {}, logger: { warn: () => {} } });
    await watcher.watchMine();
    expect(watcher.watching).toEqual([mine.id]);
    watcher.stopAll();
    expect(watcher.watching).toEqual([]);
    await admin.cancelJob(theirs.id);
    await me.cancelJob(mine.id);
  });

  it('announces a matrix once, when its last job ends, with how its jobs ended; after a restart too', async () => {
    const ended: JobGroup[] = [];
    const finished: Job[] = [];
    const options = { notify: (job: Job) => finished.push(job), notifyGroup: (group: JobGroup) => ended.push(group), logger: { warn: () => {} } };
    const { group } = await me.submit({ commands: ['make $TARGET'], name: 'targets', matrix: { TARGET: ['a', 'b', 'c'] } });
    const watcher = new JobWatcher(me, options);
    watcher.watchGroup(group!.id);
    watcher.watchGroup(group!.id);
    expect(watcher.watching).toEqual([`group:${group!.id}`]);
    // After a restart, the matrix's unfinished jobs are its group again, not three notifications.
    const restarted = new JobWatcher(me, options);
    await restarted.watchMine();
    expect(restarted.watching).toEqual([`group:${group!.id}`]);

    await runNextJob(0);
    await runNextJob(2);
    expect(ended).toEqual([]);
    await runNextJob(0);
    await waitFor(() => ended.length === 2, { message: 'the group notifications' });
    expect(ended[0]).toMatchObject({ id: group!.id, state: 'failed', total: 3 });
    expect(finished).toEqual([]);
    expect(groupFinishedNotice(ended[0]!)).toEqual({ title: 'Matrix failed: targets', body: '3 jobs: 2 succeeded, 1 failed.' });
    await waitFor(() => watcher.watching.length + restarted.watching.length === 0, { message: 'the watches to end' });
  });

  it('gives up on a job the coordinator does not know, with a warning', async () => {
    const warnings: string[] = [];
    const watcher = new JobWatcher(me, { notify: () => {}, notifyGroup: () => {}, logger: { warn: (m) => warnings.push(m) } });
    watcher.watch('job_doesnotexist');
    await waitFor(() => warnings.length === 1, { message: 'the warning' });
    expect(warnings[0]).toMatch(/^stopped following job job_doesnotexist: /);
    expect(watcher.watching).toEqual([]);
  });
});

describe('finishedNotice', () => {
  const job = (patch: Partial<Job>): Job => ({ id: 'job_1', name: 'render', state: 'succeeded', exitCode: 0, workerName: 'pc-bob', error: null, reason: null, spec: { timeoutSec: 60 }, ...patch }) as Job;
  it('words each ending', () => {
    expect(finishedNotice(job({}))).toEqual({ title: 'Job finished: render', body: 'Succeeded on pc-bob.' });
    expect(finishedNotice(job({ state: 'timed_out' }))).toEqual({ title: 'Job timed out: render', body: 'It ran longer than 60 s.' });
    expect(finishedNotice(job({ state: 'cancelled', name: '' }))).toEqual({ title: 'Job cancelled: job_1', body: 'It was cancelled.' });
    expect(finishedNotice(job({ state: 'failed', exitCode: null, error: 'the ZIP is invalid' })).body).toBe('the ZIP is invalid');
  });
});
