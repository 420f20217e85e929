// The store's slices against a real coordinator on 127.0.0.1 (node environment: fetch and SSE are real;
// localStorage is the one browser piece, given as a plain in-memory Storage).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError } from '../../../protocol/client';
import type { DesktopStatus } from '../../../protocol/ipc';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../../test/pool';
import { waitFor } from '../../../test/wait';
import { emptyJobForm } from '../lib/job-form';
import { createAppStore } from './index';
import { JOBS_PAGE_SIZE } from './jobs';
import { TOKEN_KEY } from './session';

function memoryStorage(initial: Record<string, string> = {}) {
  const items = new Map(Object.entries(initial));
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
}

let pool: TestCoordinator;
let admin: ApiClient;

const newStore = (storage = memoryStorage()) =>
  createAppStore({ defaultBaseUrl: pool.url, storage, desktop: null, reconnectDelayMs: () => 20 });

async function signedInStore() {
  const store = newStore();
  expect(await store.getState().signIn(pool.adminToken)).toBe(true);
  return store;
}

beforeAll(async () => {
  pool = await startTestCoordinator();
  admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
});

afterAll(async () => {
  await pool?.stop();
});

describe('session slice', () => {
  it('asks for a token instead of sending an empty one', async () => {
    const store = newStore();
    expect(await store.getState().signIn('  ')).toBe(false);
    expect(store.getState().signInError).toMatch(/enter the token/);
  });

  it('refuses a wrong token and does not keep it', async () => {
    const storage = memoryStorage({ [TOKEN_KEY]: 'stale' });
    const store = newStore(storage);
    expect(await store.getState().signIn('not-a-token')).toBe(false);
    expect(store.getState()).toMatchObject({ signInState: 'signed_out', client: null, signInError: 'the coordinator did not accept this token' });
    expect(storage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('keeps an accepted token, so the next visit signs in by itself', async () => {
    const storage = memoryStorage();
    const first = newStore(storage);
    expect(await first.getState().signIn(pool.adminToken)).toBe(true);
    expect(storage.getItem(TOKEN_KEY)).toBe(pool.adminToken);

    const second = newStore(storage);
    await second.getState().resumeSession(null);
    expect(second.getState().signInState).toBe('signed_in');
  });

  it('prefers the token of a sign-in link over a stored one', async () => {
    const storage = memoryStorage({ [TOKEN_KEY]: 'old-token' });
    const store = newStore(storage);
    await store.getState().resumeSession(pool.adminToken);
    expect(store.getState().signInState).toBe('signed_in');
    expect(storage.getItem(TOKEN_KEY)).toBe(pool.adminToken);
  });

  it('signs out when the coordinator stops accepting the token', async () => {
    const store = await signedInStore();
    const message = store.getState().failureMessage(new ApiError(401, 'unauthorized', 'bad token'));
    expect(message).toBe('the coordinator did not accept this token');
    expect(store.getState()).toMatchObject({ signInState: 'signed_out', client: null });
    expect(store.getState().signInError).toMatch(/sign in again/);
  });
});

describe('jobs slice', () => {
  it('pages with the cursor, keeps loaded pages on refresh and filters by state', async () => {
    const jobsPool = await startTestCoordinator();
    try {
      const client = new ApiClient({ baseUrl: jobsPool.url, token: jobsPool.adminToken });
      const total = JOBS_PAGE_SIZE + 3;
      const ids: string[] = [];
      for (let i = 0; i < total; i++) ids.push((await client.submitJob({ commands: [`echo ${i}`], name: `job ${i}` })).id);
      await client.cancelJob(ids[0] as string);

      const store = createAppStore({ defaultBaseUrl: jobsPool.url, storage: memoryStorage(), desktop: null });
      expect(await store.getState().signIn(jobsPool.adminToken)).toBe(true);
      await store.getState().refreshJobs();
      expect(store.getState().jobs).toHaveLength(JOBS_PAGE_SIZE);
      expect(store.getState().jobs[0]?.name).toBe(`job ${total - 1}`);
      expect(store.getState().jobsCursor).not.toBeNull();

      await store.getState().loadMoreJobs();
      expect(store.getState().jobs.map((job) => job.id)).toEqual([...ids].reverse());
      expect(store.getState().jobsCursor).toBeNull();

      await store.getState().refreshJobs();
      expect(store.getState().jobs).toHaveLength(total);

      await store.getState().setJobsFilter({ state: 'cancelled' });
      expect(store.getState().jobs.map((job) => job.id)).toEqual([ids[0]]);
      await store.getState().setJobsFilter({ state: 'finished' });
      expect(store.getState().jobs).toHaveLength(1);
      await store.getState().setJobsFilter({ state: 'succeeded' });
      expect(store.getState().jobs).toHaveLength(0);
      expect(store.getState().jobsError).toBeNull();
    } finally {
      await jobsPool.stop();
    }
  });
});

describe('submit slice', () => {
  it('shows the mistakes instead of submitting', async () => {
    const store = await signedInStore();
    store.getState().setFormField('commands', '\n  \n');
    store.getState().setFormField('priority', 'high');
    expect(await store.getState().submitJob()).toBeNull();
    expect(store.getState().fieldErrors).toMatchObject({ commands: expect.stringMatching(/at least one/), priority: 'must be a whole number' });
    store.getState().setFormField('priority', '5');
    expect(store.getState().fieldErrors.priority).toBeUndefined();
  });

  it('submits a job without a bundle', async () => {
    const store = await signedInStore();
    store.getState().setFormField('commands', 'echo one\necho two');
    store.getState().setFormField('labels', 'nowhere-label');
    const job = (await store.getState().submitJob())?.job;
    expect(job).toBeDefined();
    const stored = await admin.getJob(job?.id as string);
    expect(stored.spec.commands).toEqual(['echo one', 'echo two']);
    expect(stored.spec.labels).toEqual(['nowhere-label']);
    // The next job starts from an empty form: labels (or anything else) never leak into it.
    expect(store.getState().form).toEqual(emptyJobForm);
  });

  it('a matrix in the form submits a group (one job per value), and a bad one is marked on its field', async () => {
    const store = await signedInStore();
    store.getState().setFormField('commands', 'echo $CMDX_MATRIX_n');
    store.getState().setFormField('labels', 'nowhere-label');
    store.getState().setFormField('matrix', 'n');
    expect(await store.getState().submitJob()).toBeNull();
    expect(store.getState().fieldErrors.matrix).toMatch(/name=value1,value2/);
    store.getState().setFormField('matrix', 'n=1,2,3');
    const group = (await store.getState().submitJob())?.group;
    expect(group?.jobs.map((job) => job.spec.env.CMDX_MATRIX_n)).toEqual(['1', '2', '3']);
    expect(store.getState().form).toEqual(emptyJobForm);
    await admin.cancelGroup(group?.id as string);
  });

  it('starts the next job from an empty form', async () => {
    const store = await signedInStore();
    const fields = { name: 'n', commands: 'true', labels: 'nowhere-label', timeoutSec: '60', priority: '3', outputs: 'out.txt' } as const;
    for (const [field, value] of Object.entries(fields)) store.getState().setFormField(field as keyof typeof fields, value);
    const job = (await store.getState().submitJob())?.job;
    expect(job?.spec).toMatchObject({ labels: ['nowhere-label'], timeoutSec: 60, priority: 3, outputs: ['out.txt'] });
    expect(store.getState()).toMatchObject({ form: emptyJobForm, bundle: null, carried: {} });
    await admin.cancelJob(job?.id as string);
  });

  it('pins "This PC" jobs to the desktop’s own agent', async () => {
    const store = await signedInStore();
    store.setState({ desktopStatus: { agent: { name: 'alice-pc' } } as DesktopStatus });
    store.getState().setFormField('commands', 'hostname');
    store.getState().setFormField('target', 'local');
    const job = (await store.getState().submitJob())?.job;
    expect((await admin.getJob(job?.id as string)).spec.labels).toEqual(['host:alice-pc']);
  });

  it('takes a ZIP as the bundle and refuses anything else, whatever its name', async () => {
    const store = await signedInStore();
    await store.getState().setBundleFile(new File(['just text'], 'fake.zip'));
    expect(store.getState().bundle).toBeNull();
    expect(store.getState().bundleError).toMatch(/fake\.zip is not a ZIP archive/);

    const emptyZip = new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);
    await store.getState().setBundleFile(new File([emptyZip], 'empty.zip'));
    expect(store.getState().bundle).toMatchObject({ name: 'empty.zip', size: 22, folder: null });
    expect(store.getState().bundleError).toBeNull();
  });

  it('zips a folder into the bundle', async () => {
    const store = await signedInStore();
    await store.getState().bundleFolder(async () => [{ path: '/proj/run.sh', data: new TextEncoder().encode('echo hi') }]);
    expect(store.getState().bundle).toMatchObject({ name: 'proj.zip', folder: 'proj' });
    expect(store.getState().zipping).toBe(false);
    await store.getState().bundleFolder(async () => []);
    expect(store.getState().bundle).toBeNull();
    expect(store.getState().bundleError).toMatch(/folder is empty/);
  });

  it('prefills a re-run from an earlier job', async () => {
    const store = await signedInStore();
    const original = await admin.submitJob({ commands: ['make', 'make test'], timeoutSec: 120, labels: ['nowhere-label'], maxAttempts: 1 });
    store.getState().prefillFromJob(original);
    expect(store.getState().form).toMatchObject({ commands: 'make\nmake test', timeoutSec: '120', labels: 'nowhere-label' });
    const again = (await store.getState().submitJob())?.job;
    expect((await admin.getJob(again?.id as string)).spec).toMatchObject({ commands: ['make', 'make test'], maxAttempts: 1, timeoutSec: 120 });
  });
});

describe('job view slice', () => {
  it('follows a job live from its event stream into the terminal, and replays it on reopening', async () => {
    const store = await signedInStore();
    const job = await admin.submitJob({ commands: ['build', 'test'], name: 'watched', priority: 1000 });
    store.getState().openJob(job.id);
    await waitFor(() => store.getState().terminal.chunks.join('').includes('queued, waiting for a worker'), { message: 'the queued line' });
    expect(store.getState().streamStatus).toBe('live');

    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'store-worker' });
    const claim = await worker.client.claim(worker.id, 5000);
    expect(claim?.job.id).toBe(job.id);
    const lease = claim?.lease.id as string;
    await worker.client.setLeaseState(lease, 'running');
    await worker.client.commandStart(lease, 0);
    await worker.client.sendOutput(lease, [
      { seq: 0, stream: 'stdout', data: 'compiling\n' },
      { seq: 1, stream: 'stderr', data: 'warning: x\n' },
    ]);
    await waitFor(() => store.getState().terminal.chunks.join('').includes('compiling'), { message: 'live output' });
    expect(store.getState().viewedJob).toMatchObject({ state: 'running', workerName: 'store-worker' });

    await worker.client.commandEnd(lease, 0, { exitCode: 0, signal: null, durationMs: 1200 });
    await worker.client.commandStart(lease, 1);
    await worker.client.commandEnd(lease, 1, { exitCode: 4, signal: null, durationMs: 30 });
    await worker.client.complete(lease, { outcome: 'failed', exitCode: 4 });
    await waitFor(() => store.getState().streamStatus === 'ended', { message: 'the stream to end' });
    await waitFor(() => store.getState().viewedJob?.finishedAt, { message: 'the final job record' });

    const text = store.getState().terminal.chunks.join('');
    expect(text).toContain('[1/2] $ build');
    expect(text).toContain('\x1b[31mwarning: x\n\x1b[0m');
    expect(text).toContain('✔ exit 0');
    expect(text).toContain('[2/2] $ test');
    expect(text).toContain('✘ exit 4');
    expect(text).toContain('failed: exit code 4');
    expect(store.getState().viewedJob).toMatchObject({ state: 'failed', exitCode: 4 });

    // Opening the job again (what a reload does) starts a fresh terminal from event 0 with the same text.
    const generation = store.getState().terminal.generation;
    store.getState().openJob(job.id);
    expect(store.getState().terminal).toEqual({ jobId: job.id, generation: generation + 1, chunks: [], length: 0 });
    const replayStart = store.getState().terminal;
    await waitFor(() => store.getState().streamStatus === 'ended', { message: 'the replay to end' });
    expect(store.getState().terminal.chunks.join('')).toBe(text);
    // Each event appended to the one array of its generation (no copy of the history per event); the state
    // before it still holds what it held.
    expect(store.getState().terminal.chunks).toBe(replayStart.chunks);
    expect(store.getState().terminal.length).toBe(replayStart.chunks.length);
    expect(replayStart.length).toBe(0);

    // An event the store has already applied is not written twice.
    const chunks = store.getState().terminal.chunks.length;
    store.getState().applyJobEvent({ id: 1, type: 'output', data: { attempt: 1, stream: 'stdout', text: 'again', offset: 0 } });
    expect(store.getState().terminal.chunks).toHaveLength(chunks);

    // Closing the job takes its feed along: the next job's terminal starts empty, not with this log.
    store.getState().closeJob();
    expect(store.getState()).toMatchObject({ lastEventId: 0, terminal: { jobId: null, chunks: [] } });
  });

  it('reconnects after the coordinator restarts and resumes after the last event it applied', async () => {
    const first = await startTestCoordinator();
    const port = Number(new URL(first.url).port);
    let second: TestCoordinator | null = null;
    try {
      const store = createAppStore({ defaultBaseUrl: first.url, storage: memoryStorage(), desktop: null, reconnectDelayMs: () => 50 });
      expect(await store.getState().signIn(first.adminToken)).toBe(true);
      const client = new ApiClient({ baseUrl: first.url, token: first.adminToken });
      const job = await client.submitJob({ commands: ['work'] });
      const worker = await registerTestWorker(first.url, first.joinToken, { name: 'restart-worker' });
      const lease = (await worker.client.claim(worker.id, 5000))?.lease.id as string;
      await worker.client.setLeaseState(lease, 'running');
      await worker.client.sendOutput(lease, [{ seq: 0, stream: 'stdout', data: 'before restart\n' }]);

      store.getState().openJob(job.id);
      await waitFor(() => store.getState().terminal.chunks.join('').includes('before restart'), { message: 'output before the restart' });
      await first.stop({ keepData: true });
      await waitFor(() => store.getState().streamStatus === 'reconnecting', { message: 'the stream to notice' });

      second = await startTestCoordinator({ dataDir: first.dataDir, port, adminToken: first.adminToken, joinToken: first.joinToken });
      await worker.client.sendOutput(lease, [{ seq: 1, stream: 'stdout', data: 'after restart\n' }]);
      await worker.client.complete(lease, { outcome: 'succeeded', exitCode: 0 });
      await waitFor(() => store.getState().streamStatus === 'ended', { timeoutMs: 15_000, message: 'the resumed stream to end' });
      const text = store.getState().terminal.chunks.join('');
      expect(text.match(/before restart/g)).toHaveLength(1);
      expect(text).toContain('after restart');
      expect(store.getState().viewedJob?.state).toBe('succeeded');
      store.getState().closeJob();
    } finally {
      await second?.stop({ keepData: true });
      await first.stop();
    }
  });

  it('says so when the job does not exist', async () => {
    const store = await signedInStore();
    store.getState().openJob('job_missing');
    await waitFor(() => store.getState().viewError, { message: 'the error' });
    expect(store.getState().viewError).toBe('there is no job job_missing');
    expect(store.getState().streamStatus).toBe('ended');
  });

  it('asks to cancel and lets the stream report the outcome', async () => {
    const store = await signedInStore();
    const job = await admin.submitJob({ commands: ['sleep 100'], labels: ['nowhere-label'] });
    store.getState().openJob(job.id);
    await waitFor(() => store.getState().streamStatus === 'live', { message: 'the stream' });
    await store.getState().cancelViewedJob();
    await waitFor(() => store.getState().streamStatus === 'ended', { message: 'the stream to end' });
    expect(store.getState().viewedJob?.state).toBe('cancelled');
    expect(store.getState().terminal.chunks.join('')).toContain('cancelled');
  });

  it('re-runs the viewed job as a new job with the same spec', async () => {
    const store = await signedInStore();
    const job = await admin.submitJob({ commands: ['echo again'], labels: ['nowhere-label'] });
    store.getState().openJob(job.id);
    await waitFor(() => store.getState().viewedJob, { message: 'the job' });
    const rerunId = await store.getState().rerunViewedJob();
    expect(rerunId).not.toBeNull();
    expect(rerunId).not.toBe(job.id);
    expect((await admin.getJob(rerunId!)).spec.commands).toEqual(['echo again']);
    await admin.cancelJob(job.id);
    await admin.cancelJob(rerunId!);
  });
});

describe('workers slice', () => {
  it('lists the pool’s workers', async () => {
    await registerTestWorker(pool.url, pool.joinToken, { name: 'listed-worker', labels: ['gpu'] });
    const store = await signedInStore();
    await store.getState().refreshWorkers();
    const listed = store.getState().workers.find((worker) => worker.name === 'listed-worker');
    expect(listed).toMatchObject({ state: 'idle', labels: expect.arrayContaining(['gpu']) });
    expect(store.getState().workersRefreshedAt).not.toBeNull();
  });
});

describe('pool slice', () => {
  it('reads a group and cancels it all, reads a worker page and the usage; a sign-out forgets them', async () => {
    const store = await signedInStore();
    const group = (await admin.submit({ commands: ['sleep 100'], labels: ['nowhere-label'], matrix: { n: ['1', '2'] } })).group!;
    await store.getState().loadGroup(group.id);
    expect(store.getState().group).toMatchObject({ id: group.id, state: 'active', counts: { queued: 2 } });
    await store.getState().cancelGroup();
    expect(store.getState().group).toMatchObject({ state: 'cancelled', counts: { cancelled: 2 } });
    await store.getState().loadGroup('grp_missing');
    expect(store.getState()).toMatchObject({ group: null, groupError: expect.stringMatching(/no job group with id "grp_missing"/) });

    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'pool-slice-pc' });
    await store.getState().loadWorkerDetail(worker.id);
    expect(store.getState().workerDetail).toMatchObject({ worker: { name: 'pool-slice-pc' }, recentJobs: [] });
    await store.getState().loadUsage('day');
    expect(store.getState()).toMatchObject({ usageWindow: 'day', usage: { window: 'day' }, activity: { stepMs: 600_000 } });
    await worker.client.deregisterWorker(worker.id);

    store.getState().signOut();
    expect(store.getState()).toMatchObject({ group: null, workerDetail: null, usage: null, activity: null, usageWindow: 'week' });
  });
});
