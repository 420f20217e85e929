import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { makeZip } from '../../test/zips';
import type { AgentOptions } from './index';
import { AgentFleet, processesOfJob, readZip, waitForJob, waitForOutput, workspaceOfRunningJob } from './test-support';

const FAST = { leaseTtlSec: 3, heartbeatIntervalSec: 0.2, timeoutGraceSec: 5 };

let pool: TestCoordinator;
let submitter: ApiClient;
const fleet = new AgentFleet();

async function startPool(): Promise<void> {
  pool = await startTestCoordinator(FAST);
  submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
}

const agentOn = (p: TestCoordinator, options: Partial<AgentOptions> = {}) =>
  fleet.start({ server: p.url, joinToken: p.joinToken, ...options });

describe('Agent on a real coordinator', () => {
  // One coordinator for these tests (one per test costs seconds); after each test its agents leave the pool
  // and what they left unfinished is cancelled, so the next test starts from an idle, empty pool.
  beforeAll(startPool);
  afterEach(async () => {
    await fleet.stopAll();
    const { jobs } = await submitter.listJobs({ state: ['queued', 'leased', 'running', 'suspended'], limit: 500 });
    await Promise.all(jobs.map((job) => submitter.cancelJob(job.id)));
  });
  afterAll(() => pool.stop());

  it('on a disk with too little room: takes no job, and its status tells its owner why (the tray and window show it)', async () => {
    const { agent } = await agentOn(pool, { name: 'cramped', minFreeBytes: Number.MAX_SAFE_INTEGER });
    await waitFor(() => agent.status().problem !== null, { message: 'the problem in the status' });
    expect(agent.status().problem).toMatch(/^the disk holding .+ is full \(\d+ KiB free, \d+ KiB needed\)$/);
    const [worker] = await submitter.listWorkers();
    expect(worker).toMatchObject({ name: 'cramped', state: 'unhealthy', problem: agent.status().problem });
  });

  it('registers with its host label, runs a ZIP job that reads its own files, and cleans its workspace', async () => {
    const { agent, workDir } = await agentOn(pool, { name: 'desk 7', labels: ['gpu'] });
    expect(agent.status()).toMatchObject({ state: 'idle', connected: true, name: 'desk 7' });
    const [worker] = await submitter.listWorkers();
    expect(worker).toMatchObject({ name: 'desk 7', labels: ['gpu', 'host:desk-7'], state: 'idle' });
    const saved = await stat(path.join(workDir, 'state', 'worker.json'));
    expect(saved.mode & 0o777).toBe(0o600);

    const zip = await makeZip([
      { name: 'data/input.txt', data: 'from the zip\n' },
      { name: 'run.sh', data: 'echo "script ran in $(basename "$PWD")"\n' },
    ]);
    const job = await submitter.submitJobWithBundle(
      { commands: ['cat data/input.txt', 'sh run.sh', 'echo warn >&2'], labels: ['host:desk-7'] },
      new Blob([zip]),
    );
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'succeeded', exitCode: 0, workerName: 'desk 7' });
    expect(done.commands.map((c) => c.exitCode)).toEqual([0, 0, 0]);
    expect(await submitter.getLog(job.id)).toBe('from the zip\nscript ran in workspace\nwarn\n');
    await waitFor(async () => (await readdir(path.join(workDir, 'jobs'))).length === 0, { message: 'the workspace to go' });
    expect(await readdir(path.join(workDir, 'cache'))).toEqual([`${done.bundle!.sha256}.zip`]);
  });

  it("times a job on the clock its commands use: it never took less than its commands did", async () => {
    await agentOn(pool, { name: 'timer' });
    const job = await submitter.submitJob({ commands: ['sleep 0.2', 'echo quick', 'sleep 0.1'] });
    const done = await waitForJob(submitter, job.id);
    expect(done.state).toBe('succeeded');
    const took = Date.parse(done.finishedAt!) - Date.parse(done.startedAt!);
    const commandsTook = done.commands.reduce((sum, c) => sum + (c.durationMs ?? 0), 0);
    expect(commandsTook).toBeGreaterThanOrEqual(300);
    expect(took).toBeGreaterThanOrEqual(commandsTook);
    // Only the gaps between commands (spawning the next shell) separate the two.
    expect(took - commandsTook).toBeLessThan(1000);
  });

  it('retries a failed job up to `retries` times, each attempt shown, apart from lost-worker attempts', async () => {
    await agentOn(pool, { name: 'retrier' });
    // Fails on its first two attempts (each run sees its attempt number), then succeeds.
    const job = await submitter.submitJob({ commands: ['test "$CMDX_ATTEMPT" -ge 3 || exit 7'], retries: 2, maxAttempts: 1 });
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'succeeded', attempt: 3, exitCode: 0 });
    expect(done.attempts.map((a) => a.outcome)).toEqual(['completed', 'completed', 'completed']);
    const retried = [];
    for await (const event of submitter.events(job.id)) {
      if (event.type === 'state' && event.data.state === 'queued' && event.data.reason === 'command_failed') retried.push(event.data.exitCode);
    }
    expect(retried).toEqual([7, 7]);

    const hopeless = await submitter.submitJob({ commands: ['exit 5'], retries: 1 });
    expect(await waitForJob(submitter, hopeless.id)).toMatchObject({ state: 'failed', attempt: 2, exitCode: 5, reason: 'command_failed' });
  });

  it('two agents share a burst of jobs, each job runs once', async () => {
    const a = await agentOn(pool, { name: 'alpha' });
    const b = await agentOn(pool, { name: 'beta' });
    const jobs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => submitter.submitJob({ commands: [`sleep 0.2; echo job ${i} attempt $CMDX_ATTEMPT`] })),
    );
    const done = await Promise.all(jobs.map((j) => waitForJob(submitter, j.id)));
    expect(done.every((j) => j.state === 'succeeded' && j.attempts.length === 1)).toBe(true);
    const byWorker = new Set(done.map((j) => j.workerName));
    expect(byWorker).toEqual(new Set(['alpha', 'beta']));
    for (const [i, j] of done.entries()) expect(await submitter.getLog(j.id)).toBe(`job ${i} attempt 1\n`);
    // The coordinator has the results; each agent is idle once its jobs are done with.
    await waitFor(() => a.agent.status().state === 'idle' && b.agent.status().state === 'idle', { message: 'both agents idle' });
  });

  it('a job printing far more than the output buffer loses nothing: its pipes wait for the coordinator', async () => {
    const { logger } = await agentOn(pool, { maxOutputBufferBytes: 1024 * 1024 });
    const size = 6_000_000;
    const job = await submitter.submitJob({ commands: [`yes 0123456789abcdef | head -c ${size}`] });
    expect((await waitForJob(submitter, job.id)).state).toBe('succeeded');
    const log = await submitter.getLog(job.id);
    expect(log).not.toContain('dropped on the worker');
    expect(logger.lines.join('\n')).not.toMatch(/took no output/);
    expect(log.length).toBe(size);
  });

  it('runs `slots` jobs at once', async () => {
    await agentOn(pool, { slots: 2 });
    const marker = `${Date.now()}`;
    const jobs = await Promise.all([0, 1].map(() => submitter.submitJob({ commands: [`echo ${marker}; sleep 30`] })));
    await Promise.all(jobs.map((j) => waitForOutput(submitter, j.id, marker)));
    await Promise.all(jobs.map((j) => submitter.cancelJob(j.id)));
    await Promise.all(jobs.map((j) => waitForJob(submitter, j.id)));
  });

  it('without a sandbox, takes only the jobs of the submitters its owner trusts, and says so to the pool', async () => {
    const alice = new ApiClient({ baseUrl: pool.url, token: await pool.coordinator.createToken('alice', 'submit') });
    const { logger } = await agentOn(pool, { name: 'unboxed', sandbox: 'none', trust: ['alice'] });
    expect((await submitter.listWorkers()).find((w) => w.name === 'unboxed')!.isolation).toMatchObject({ sandbox: 'none', network: false });
    expect(logger.lines.some((line) => line.includes('sandbox: none') && line.includes('jobs of alice'))).toBe(true);
    // Older, so a worker that ignored its trust list would take it first.
    const untrusted = await submitter.submitJob({ commands: ['echo untrusted'], labels: ['host:unboxed'] });
    const trusted = await alice.submitJob({ commands: ['echo trusted'], labels: ['host:unboxed'] });
    expect(await waitForJob(alice, trusted.id)).toMatchObject({ state: 'succeeded', workerName: 'unboxed' });
    expect(await submitter.getJob(untrusted.id)).toMatchObject({ state: 'queued', attempt: 0 });
  });

  it('stops at the first failing command and reports its exit code', async () => {
    await agentOn(pool);
    const job = await submitter.submitJob({ commands: ['echo one', 'exit 7', 'echo never'] });
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'failed', reason: 'command_failed', exitCode: 7 });
    expect(done.commands.map((c) => c.exitCode)).toEqual([0, 7]);
    expect(await submitter.getLog(job.id)).toBe('one\n');
  });

  it('cancel kills the whole process tree and ends the job cancelled', async () => {
    await agentOn(pool);
    const job = await submitter.submitJob({ commands: ['sleep 60 & sleep 60 & echo started; wait'] });
    await waitForOutput(submitter, job.id, 'started');
    expect((await processesOfJob(job.id)).length).toBeGreaterThan(2);
    await submitter.cancelJob(job.id);
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'cancelled', reason: 'cancelled' });
    expect(await processesOfJob(job.id)).toEqual([]);
  });

  it('a timeout kills the whole process tree and ends the job timed_out', async () => {
    await agentOn(pool, { killGraceMs: 300 });
    const job = await submitter.submitJob({ commands: ["trap '' TERM; sleep 60 & echo started; wait"], timeoutSec: 1 });
    await waitForOutput(submitter, job.id, 'started');
    expect((await processesOfJob(job.id)).length).toBeGreaterThan(2);
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'timed_out', reason: 'timed_out' });
    expect(await processesOfJob(job.id)).toEqual([]);
  });

  it('suspend freezes the job (its count stops) and resume lets it finish with the right result', async () => {
    const { agent, workDir } = await agentOn(pool);
    const job = await submitter.submitJob({
      commands: ['i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo $i > count; sleep 0.05; done; echo "counted to $(cat count)"'],
    });
    await waitFor(async () => (await submitter.getJob(job.id)).state === 'running', { message: 'the job to run' });
    const workspace = await workspaceOfRunningJob(workDir);
    await waitFor(async () => Number(await readFile(path.join(workspace, 'count'), 'utf8').catch(() => '0')) >= 2);
    await agent.suspend();
    await waitFor(async () => (await submitter.getJob(job.id)).state === 'suspended', { message: 'the coordinator to show suspended' });
    expect((await submitter.listWorkers())[0]!.state).toBe('suspended');
    expect(agent.status()).toMatchObject({ state: 'suspended', jobs: [{ id: job.id, state: 'suspended' }] });
    const frozen = await readFile(path.join(workspace, 'count'), 'utf8');
    // Absence of progress can only be shown over a window: ten loop turns' worth.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await readFile(path.join(workspace, 'count'), 'utf8')).toBe(frozen);
    expect(Number(frozen)).toBeLessThan(40);
    await agent.resume();
    const done = await waitForJob(submitter, job.id);
    expect(done.state).toBe('succeeded');
    expect(await submitter.getLog(job.id)).toBe('counted to 40\n');
  });

  it('vacate hands the job back without counting a failure; it runs again after resume', async () => {
    const { agent } = await agentOn(pool);
    const job = await submitter.submitJob({ commands: ['echo "attempt $CMDX_ATTEMPT"; sleep 1'], maxAttempts: 1 });
    await waitForOutput(submitter, job.id, 'attempt 1');
    await agent.suspend();
    await agent.vacate();
    await waitForJob(submitter, job.id, ['queued']);
    await agent.resume();
    const done = await waitForJob(submitter, job.id);
    expect(done.state).toBe('succeeded');
    expect(done.attempts.map((a) => a.outcome)).toEqual(['released', 'completed']);
    expect(await submitter.getLog(job.id)).toBe('attempt 2\n');
  });

  it('paused takes only the jobs pinned to this PC; unpaused, any job', async () => {
    const { agent } = await agentOn(pool, { name: 'owner pc' });
    agent.setPaused(true);
    await waitFor(async () => (await submitter.listWorkers())[0]!.state === 'paused', { message: 'worker paused' });
    expect(agent.status().state).toBe('paused');
    const shared = await submitter.submitJob({ commands: ['echo for the pool'] });
    const pinned = await submitter.submitJob({ commands: ['echo for this pc'], labels: ['host:owner-pc'] });
    expect(await waitForJob(submitter, pinned.id)).toMatchObject({ state: 'succeeded', workerName: 'owner pc' });
    // The shared job was queued first, so a claim for any job would have taken it before the pinned one.
    expect((await submitter.getJob(shared.id)).state).toBe('queued');
    agent.setPaused(false);
    expect((await waitForJob(submitter, shared.id)).state).toBe('succeeded');
  });

  it('zips the files matching outputs[] for the submitter, never following links out of the workspace', async () => {
    await agentOn(pool);
    const job = await submitter.submitJob({
      commands: ['mkdir -p out/deep && echo report > out/report.txt && echo deep > out/deep/x.txt && ln -s /etc/hostname out/link.txt'],
      outputs: ['out/**/*.txt'],
    });
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'succeeded', hasArtifacts: true });
    const response = await submitter.request(`${API_PREFIX}/jobs/${job.id}/artifacts`);
    expect(await readZip(Buffer.from(await response.arrayBuffer()))).toEqual({ 'out/deep/x.txt': 'deep\n', 'out/report.txt': 'report\n' });
  });

  it('a bundle over the agent zip limits fails the job with a clear error and writes nothing', async () => {
    const { workDir } = await agentOn(pool, { zipLimits: { maxEntries: 10, maxUncompressedBytes: 1024 ** 3, maxCompressionRatio: 1000 } });
    const zip = await makeZip(Array.from({ length: 30 }, (_, i) => ({ name: `f${i}.txt`, data: 'x' })));
    const job = await submitter.submitJobWithBundle({ commands: ['echo never'] }, new Blob([zip]));
    const done = await waitForJob(submitter, job.id);
    expect(done).toMatchObject({ state: 'failed', reason: 'bundle_invalid' });
    expect(done.error).toMatch(/ZIP was refused: the archive has 30 entries; the limit is 10/);
    expect(await submitter.getLog(job.id)).toBe('');
    await waitFor(async () => (await readdir(path.join(workDir, 'jobs'))).length === 0, { message: 'the workspace to go' });
  });

  it('streams large output completely and in order', async () => {
    await agentOn(pool);
    const job = await submitter.submitJob({ commands: ['seq 1 60000'] });
    await waitForJob(submitter, job.id);
    const log = await submitter.getLog(job.id);
    expect(log.split('\n').slice(0, -1).map(Number)).toEqual(Array.from({ length: 60000 }, (_, i) => i + 1));
  });

  it('stop() lets a short job finish, hands back one that outlasts the grace, and deregisters', async () => {
    const { agent, workDir } = await agentOn(pool, { slots: 2 });
    const short = await submitter.submitJob({ commands: ['echo short; sleep 0.5; echo done'] });
    const long = await submitter.submitJob({ commands: ['echo long; sleep 30'], maxAttempts: 1 });
    await waitForOutput(submitter, short.id, 'short');
    await waitForOutput(submitter, long.id, 'long');
    await agent.stop({ graceMs: 1500 });
    expect(agent.status().state).toBe('stopped');
    expect(await submitter.getJob(short.id)).toMatchObject({ state: 'succeeded' });
    expect(await submitter.getLog(short.id)).toBe('short\ndone\n');
    const back = await submitter.getJob(long.id);
    expect(back.state).toBe('queued');
    expect(back.attempts.map((a) => a.outcome)).toEqual(['released']);
    expect(await submitter.listWorkers()).toEqual([]);
    await expect(stat(path.join(workDir, 'state', 'worker.json'))).rejects.toThrow();
  });
});

describe('Agent and an unreliable coordinator', () => {
  beforeEach(startPool);
  afterEach(async () => {
    await fleet.stopAll();
    await pool.stop();
  });

  it('keeps a finished result while the coordinator is down and delivers it when it is back', async () => {
    const { agent } = await agentOn(pool);
    const job = await submitter.submitJob({ commands: ['echo before', 'sleep 0.5; echo after'] });
    await waitForOutput(submitter, job.id, 'before');
    const port = new URL(pool.url).port;
    await pool.stop({ keepData: true });
    await waitFor(() => agent.status().state === 'disconnected', { message: 'the agent to notice' });
    pool = await startTestCoordinator({ ...FAST, dataDir: pool.dataDir, port: Number(port) });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const done = await waitForJob(submitter, job.id);
    expect(done.state).toBe('succeeded');
    expect(await submitter.getLog(job.id)).toBe('before\nafter\n');
    await waitFor(() => agent.status().state === 'idle', { message: 'the agent to reconnect' });
  });

  it('registers again when the coordinator forgot it', async () => {
    const { agent } = await agentOn(pool, { name: 'phoenix' });
    const firstId = agent.status().workerId;
    const port = new URL(pool.url).port;
    await pool.stop();
    pool = await startTestCoordinator({ ...FAST, port: Number(port), joinToken: pool.joinToken });
    submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const job = await submitter.submitJob({ commands: ['echo reborn'] });
    expect((await waitForJob(submitter, job.id)).state).toBe('succeeded');
    expect(agent.status().workerId).not.toBe(firstId);
    expect((await submitter.listWorkers()).map((w) => w.name)).toEqual(['phoenix']);
  });
});
